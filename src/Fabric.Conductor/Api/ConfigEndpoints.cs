using System.Security.Claims;
using Akka.Actor;
using Fabric.Config;
using Fabric.Conductor.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;

namespace Fabric.Conductor.Api;

/// <summary>
/// The configuration as resources: <c>/v1/config/versions</c> (list; <c>POST</c> commits the next one),
/// <c>/v1/config/versions/{n}</c>, <c>/v1/config/running</c>, <c>/v1/config/diff?from=&amp;to=</c>,
/// <c>/v1/config/validate</c> and <c>/v1/config/rollback</c>. A commit's author is the token's owner.
/// </summary>
internal static partial class ConfigEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var config = api.MapGroup("/v1/config").WithTags("configuration");
        config.MapGet("/versions", List).RequireAuthorization(ConductorApi.ReadPolicy)
            .WithSummary("Every version, oldest first, with author, time, message and what changed; and the running version.");
        config.MapPost("/versions", Commit).RequireAuthorization(ConductorApi.WritePolicy)
            .Body(Document: true)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Commit a document (the HOCON itself with ?message=, or JSON {document, message}): validated, made the next running version, pushed to every router.");
        config.MapGet("/versions/{version:long}", One).RequireAuthorization(ConductorApi.ReadPolicy)
            .WithSummary("One version with its document.");
        config.MapGet("/running", Running).RequireAuthorization(ConductorApi.ReadPolicy)
            .WithSummary("The running version with its document.");
        config.MapGet("/diff", Diff).RequireAuthorization(ConductorApi.ReadPolicy)
            .WithSummary("What changed from version `from` to version `to`.");
        config.MapPost("/validate", Validate).RequireAuthorization(ConductorApi.ReadPolicy)
            .Body(Document: true)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Validate a document as a commit would, changing nothing: every error with its path and line.");
        config.MapPost("/rollback", Rollback).RequireAuthorization(ConductorApi.WritePolicy)
            .Body(Document: false)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Make an earlier version's content running again, as a new version.");
    }

    private static async Task<Ok<VersionListView>> List(ConductorApi.Context api, CancellationToken cancel)
    {
        var history = await api.Ask<ConfigHistoryView>(new GetConfigHistory(), cancel).ConfigureAwait(false);
        return TypedResults.Ok(new VersionListView(history.Running, [.. history.Versions.Select(v => VersionView.Of(v, history.Running))]));
    }

    private static async Task<Results<Ok<VersionDocumentView>, ProblemHttpResult>> One(long version, ConductorApi.Context api, CancellationToken cancel)
    {
        var view = await api.Ask<ConfigVersionView>(new GetConfigVersion(version), cancel).ConfigureAwait(false);
        return Found(view, "no such version", view.Running == 0 ? "no version has been committed" : $"no version {version}: versions are 1 to {view.Running}");
    }

    private static async Task<Results<Ok<VersionDocumentView>, ProblemHttpResult>> Running(ConductorApi.Context api, CancellationToken cancel)
    {
        var view = await api.Ask<ConfigVersionView>(new GetConfigVersion(null), cancel).ConfigureAwait(false);
        return Found(view, "no running version", "no version has been committed");
    }

    /// <summary>The version with its document, or a 404 problem saying why there is none.</summary>
    private static Results<Ok<VersionDocumentView>, ProblemHttpResult> Found(ConfigVersionView view, string title, string detail) =>
        view is { Version: { } found, Text: { } text }
            ? TypedResults.Ok(new VersionDocumentView(VersionView.Of(found, view.Running), text))
            : Problems.Of(StatusCodes.Status404NotFound, title, detail);

    private static async Task<Results<Ok<DiffView>, ProblemHttpResult>> Diff(long? from, long? to, ConductorApi.Context api, CancellationToken cancel)
    {
        if (from is null || to is null)
        {
            return Problems.Of(StatusCodes.Status400BadRequest, "malformed request", "a diff needs two versions: ?from=N&to=M");
        }

        var diff = await api.Ask<ConfigDiffView>(new GetConfigDiff(from.Value, to.Value), cancel).ConfigureAwait(false);
        return diff.Problem is { } problem
            ? Problems.Of(StatusCodes.Status404NotFound, "no such version", problem)
            : TypedResults.Ok(new DiffView(diff.From, diff.To, [.. diff.Changes.Select(ChangeView.Of)]));
    }

    private static async Task<Results<Ok<ValidationView>, ProblemHttpResult>> Validate(HttpRequest request, ConductorApi.Context api)
    {
        var (document, _, problem) = await Document(request, api).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var loaded = FabricConfigLoader.Load(document!);
        if (loaded.Config is not { } model)
        {
            return Problems.Refused("document refused", loaded.Errors);
        }

        return TypedResults.Ok(new ValidationView(
            true, [.. model.Routers.Select(r => r.Name)], [.. model.Tenants.Select(t => t.Name)], [.. model.Services.Select(s => s.Name)]));
    }

    private static async Task<Results<Created<CommitView>, ProblemHttpResult>> Commit(HttpRequest request, ClaimsPrincipal user, ConductorApi.Context api, CancellationToken cancel)
    {
        var (document, message, problem) = await Document(request, api).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var author = user.Identity!.Name!;
        var result = await api.Ask<ConfigCommandResult>(new CommitConfig(document!, author, message ?? ""), cancel).ConfigureAwait(false);
        if (!result.Accepted)
        {
            return Problems.Refused("commit refused", result.Errors);
        }

        Log.Committed(api.Logger, result.Version!.Value, author);
        return TypedResults.Created($"/v1/config/versions/{result.Version}", new CommitView(result.Version.Value, author, message ?? ""));
    }

    private static async Task<Results<Created<CommitView>, ProblemHttpResult>> Rollback(HttpRequest request, ClaimsPrincipal user, ConductorApi.Context api, CancellationToken cancel)
    {
        var (text, _, problem) = await RequestBodies.Read(request, api.Options.MaxBodyBytes, BodyKind.Json).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var (rollback, malformed) = RequestBodies.Json<RollbackRequest>(text!);
        if (malformed is not null)
        {
            return malformed;
        }

        if (rollback!.Version is not { } version)
        {
            return RequestBodies.Missing("version", "the version whose content becomes running again");
        }

        var author = user.Identity!.Name!;
        var result = await api.Ask<ConfigCommandResult>(new RollbackConfig(version, author, rollback.Message ?? ""), cancel).ConfigureAwait(false);
        if (!result.Accepted)
        {
            return Problems.Refused("rollback refused", result.Errors);
        }

        Log.RolledBack(api.Logger, result.Version!.Value, version, author);
        var committed = await api.Ask<ConfigVersionView>(new GetConfigVersion(result.Version), cancel).ConfigureAwait(false);
        return TypedResults.Created($"/v1/config/versions/{result.Version}", new CommitView(result.Version.Value, author, committed.Version?.Message ?? rollback.Message ?? ""));
    }

    /// <summary>
    /// Describes a write's body in the OpenAPI document: a fabric document as HOCON or JSON <see cref="CommitRequest"/>, or a
    /// JSON <see cref="RollbackRequest"/>. Described, not declared as accepted metadata: routing would then answer another
    /// content type with 415 before authentication, and the API checks the type itself (<see cref="RequestBodies"/>).
    /// </summary>
    private static RouteHandlerBuilder Body(this RouteHandlerBuilder route, bool Document) => route.AddOpenApiOperationTransformer((operation, _, _) =>
    {
        static OpenApiSchema Text() => new() { Type = JsonSchemaType.String };
        var content = new Dictionary<string, OpenApiMediaType>();
        if (Document)
        {
            content[RequestBodies.HoconMediaType] = new OpenApiMediaType { Schema = Text() };
            content[RequestBodies.JsonMediaType] = new OpenApiMediaType
            {
                Schema = new OpenApiSchema { Type = JsonSchemaType.Object, Required = new HashSet<string> { "document" }, Properties = new Dictionary<string, IOpenApiSchema> { ["document"] = Text(), ["message"] = Text() } },
            };
        }
        else
        {
            content[RequestBodies.JsonMediaType] = new OpenApiMediaType
            {
                Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Required = new HashSet<string> { "version" },
                    Properties = new Dictionary<string, IOpenApiSchema> { ["version"] = new OpenApiSchema { Type = JsonSchemaType.Integer }, ["message"] = Text() },
                },
            };
        }

        operation.RequestBody = new OpenApiRequestBody { Required = true, Content = content };
        return Task.CompletedTask;
    });

    /// <summary>A document from a HOCON body (message in <c>?message=</c>) or a JSON one; or the problem to answer.</summary>
    private static async Task<(string? Document, string? Message, ProblemHttpResult? Problem)> Document(HttpRequest request, ConductorApi.Context api)
    {
        var (text, kind, problem) = await RequestBodies.Read(request, api.Options.MaxBodyBytes, BodyKind.Hocon, BodyKind.Json).ConfigureAwait(false);
        if (problem is not null)
        {
            return (null, null, problem);
        }

        if (kind == BodyKind.Hocon)
        {
            return (text, request.Query["message"].FirstOrDefault(), null);
        }

        var (commit, malformed) = RequestBodies.Json<CommitRequest>(text!);
        if (malformed is not null)
        {
            return (null, null, malformed);
        }

        return commit!.Document is null
            ? (null, null, RequestBodies.Missing("document", "the fabric document's HOCON text"))
            : (commit.Document, commit.Message ?? request.Query["message"].FirstOrDefault(), null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4310, Level = LogLevel.Information, Message = "api: version {Version} committed by {Author}")]
        public static partial void Committed(ILogger logger, long version, string author);

        [LoggerMessage(EventId = 4311, Level = LogLevel.Information, Message = "api: version {Version} restores version {Restored}, by {Author}")]
        public static partial void RolledBack(ILogger logger, long version, long restored, string author);
    }
}
