using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Fabric.Conductor.Api;

/// <summary>What a request body may be.</summary>
public enum BodyKind
{
    /// <summary><c>application/json</c>.</summary>
    Json,

    /// <summary><c>application/hocon</c>: a fabric document as it is written.</summary>
    Hocon,
}

/// <summary>
/// Reading a write's body: only <c>application/json</c> or <c>application/hocon</c> (415 otherwise: a browser sends
/// <c>text/plain</c>, a form type or nothing across origins without asking first, and the API answers no preflight),
/// UTF-8, at most the host's limit (413). Read before anything reaches the conductor actor, so a malformed request
/// is a 400 here and never a message. Thread-safe: stateless.
/// </summary>
public static class RequestBodies
{
    public const string HoconMediaType = "application/hocon";
    public const string JsonMediaType = "application/json";

    /// <summary>The body as text and its kind, or the problem to answer: 415 for another type, 413 over the limit, 400 for bytes that are not UTF-8.</summary>
    public static async Task<(string? Text, BodyKind Kind, ProblemHttpResult? Problem)> Read(HttpRequest request, long limit, params BodyKind[] accepted)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(accepted);
        var kind = KindOf(request.ContentType);
        if (kind is not { } known || !accepted.Contains(known))
        {
            var allowed = string.Join(" or ", accepted.Select(a => a == BodyKind.Json ? JsonMediaType : HoconMediaType));
            return (null, default, Problems.Of(
                StatusCodes.Status415UnsupportedMediaType,
                "unsupported media type",
                $"this request's body must be {allowed}, not {(string.IsNullOrEmpty(request.ContentType) ? "untyped" : request.ContentType)}"));
        }

        if (request.ContentLength > limit)
        {
            return (null, known, TooLarge(limit));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    return (null, known, TooLarge(limit));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, known, TooLarge(limit));
        }

        try
        {
            return (new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length), known, null);
        }
        catch (DecoderFallbackException)
        {
            return (null, known, Problems.Of(StatusCodes.Status400BadRequest, "malformed request", "the body is not UTF-8 text"));
        }
    }

    /// <summary>Reads a JSON body into <typeparamref name="T"/>; a body that is not one is the 400 to answer.</summary>
    public static (T? Value, ProblemHttpResult? Problem) Json<T>(string text)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(text, ApiJson.Options) is { } value
                ? (value, null)
                : (null, Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"the body is not a {Describe<T>()}"));
        }
        catch (JsonException e)
        {
            return (null, Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"the body is not a {Describe<T>()}: {e.Message}"));
        }
    }

    /// <summary>A field a request needs and lacks: the 400 to answer.</summary>
    public static ProblemHttpResult Missing(string field, string what) =>
        Problems.Of(StatusCodes.Status400BadRequest, "malformed request", $"the body has no \"{field}\": {what}");

    private static ProblemHttpResult TooLarge(long limit) =>
        Problems.Of(StatusCodes.Status413PayloadTooLarge, "request body too large", $"a request body may have at most {limit} bytes");

    private static BodyKind? KindOf(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media))
        {
            return null;
        }

        if (media.Charset.HasValue && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return media.MediaType.Equals(JsonMediaType, StringComparison.OrdinalIgnoreCase) ? BodyKind.Json
            : media.MediaType.Equals(HoconMediaType, StringComparison.OrdinalIgnoreCase) ? BodyKind.Hocon
            : null;
    }

    private static string Describe<T>() => typeof(T).Name switch
    {
        nameof(CommitRequest) => "commit: {\"document\": \"...\", \"message\": \"...\"}",
        nameof(RollbackRequest) => "rollback: {\"version\": N, \"message\": \"...\"}",
        var name => name,
    };
}
