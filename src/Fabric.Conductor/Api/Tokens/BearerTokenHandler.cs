using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Fabric.Conductor.Api.Tokens;

/// <summary>
/// The API's one authentication scheme: <c>Authorization: Bearer fabric_...</c>, checked against the
/// <see cref="ApiTokenStore"/>. The principal's name is the token's owner (the author of what it commits). A request
/// without the header is anonymous (the authorization policies decide whether that is enough); one with a token the
/// store does not know, or revoked, fails. A challenge is a 401 problem with <c>WWW-Authenticate: Bearer</c>.
/// </summary>
public sealed partial class BearerTokenHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiTokenLookup tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.Fail("the Authorization header is not a bearer token");
        }

        var token = header["Bearer ".Length..].Trim();
        ApiTokenInfo? info;
        try
        {
            info = await tokens.Find(token, Context.RequestAborted).ConfigureAwait(false);
        }
        catch (ApiTokenException e)
        {
            Log.StoreUnavailable(Logger, e.Message);
            return AuthenticateResult.Fail("the token store cannot be read");
        }

        if (info is null)
        {
            return AuthenticateResult.Fail("the token is not known or was revoked");
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, info.Owner), new Claim("token_id", info.Id)], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync().ConfigureAwait(false)).Failure?.Message;
        Response.Headers.WWWAuthenticate = failure is null ? "Bearer" : "Bearer error=\"invalid_token\"";
        await Problems.Write(
            Context,
            StatusCodes.Status401Unauthorized,
            "a bearer token is needed",
            failure ?? "this request needs an API token: Authorization: Bearer TOKEN (fabric conductor token create)").ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4301, Level = LogLevel.Warning, Message = "api: the token store cannot be read, every token is refused: {Reason}")]
        public static partial void StoreUnavailable(ILogger logger, string reason);
    }
}

/// <summary>
/// Token lookups for one API host: the <see cref="ApiTokenStore"/> behind a short memory of the tokens it knew, so a
/// burst of requests costs one query. A revocation takes effect within <see cref="Remember"/>. Thread-safe.
/// </summary>
public sealed class ApiTokenLookup(ApiTokenStore store, TimeProvider time)
{
    public static readonly TimeSpan Remember = TimeSpan.FromSeconds(5);
    private const int RememberAtMost = 1024;
    private readonly ConcurrentDictionary<string, (ApiTokenInfo Info, DateTimeOffset Until)> _known = new(StringComparer.Ordinal);

    /// <summary>The token's record when the store knows it and it is not revoked, else null; throws <see cref="ApiTokenException"/> when the store cannot be read.</summary>
    public async Task<ApiTokenInfo?> Find(string token, CancellationToken cancel)
    {
        var now = time.GetUtcNow();
        if (_known.TryGetValue(token, out var known) && known.Until > now)
        {
            return known.Info;
        }

        var info = await store.Find(token, cancel).ConfigureAwait(false);
        if (info is not null)
        {
            if (_known.Count >= RememberAtMost)
            {
                _known.Clear();
            }

            _known[token] = (info, now + Remember);
        }

        return info;
    }
}
