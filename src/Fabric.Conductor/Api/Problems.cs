using System.Text.Json;
using Fabric.Model.Validation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Fabric.Conductor.Api;

/// <summary>One error of a refused document: its HOCON path (empty for a syntax error), what is wrong, and where.</summary>
public sealed record ConfigErrorView(string Path, string Message, int? Line, int? Column)
{
    public static ConfigErrorView Of(ConfigError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new(error.Path, error.Message, error.Line, error.Column);
    }

    public ConfigError ToError() => new(Path, Message, Line, Column);
}

/// <summary>
/// Every error answer of the API is an RFC 9457 problem (<c>application/problem+json</c>): <c>type</c>, <c>title</c>,
/// <c>status</c>, <c>detail</c>, and for a refused document <c>errors</c>, each with its path and line.
/// Thread-safe: stateless.
/// </summary>
public static class Problems
{
    public const string ContentType = "application/problem+json";

    /// <summary>The extension member that lists a document's errors.</summary>
    public const string ErrorsMember = "errors";

    public static ProblemHttpResult Of(int status, string title, string detail) =>
        TypedResults.Problem(new ProblemDetails { Status = status, Title = title, Detail = detail });

    /// <summary>
    /// The item of <paramref name="all"/> named <paramref name="name"/>, or a 404 "no such <paramref name="kind"/>" problem
    /// whose detail <paramref name="missing"/> writes (it may list the names there are).
    /// </summary>
    public static Results<Ok<T>, ProblemHttpResult> Named<T>(IEnumerable<T> all, Func<T, string> nameOf, string name, string kind, Func<string> missing)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(nameOf);
        ArgumentNullException.ThrowIfNull(missing);
        return all.FirstOrDefault(item => nameOf(item) == name) is { } found
            ? TypedResults.Ok(found)
            : Of(StatusCodes.Status404NotFound, $"no such {kind}", missing());
    }

    /// <summary>A document refused with every one of its errors (422 for a commit or a validation, with the same shape).</summary>
    public static ProblemHttpResult Refused(string title, IReadOnlyList<ConfigError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status422UnprocessableEntity,
            Title = title,
            Detail = errors.Count == 1 ? errors[0].ToString() : $"{errors.Count} errors; each is listed with its path and line",
        };
        problem.Extensions[ErrorsMember] = errors.Select(ConfigErrorView.Of).ToList();
        return TypedResults.Problem(problem);
    }

    /// <summary>Writes a problem outside an endpoint (the authentication challenge).</summary>
    public static Task Write(HttpContext context, int status, string title, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        context.Response.ContentType = ContentType;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = TypeOf(status) };
        return JsonSerializer.SerializeAsync(context.Response.Body, problem, ApiJson.Options, context.RequestAborted);
    }

    /// <summary>The RFC 9110 section a status is described by, as ASP.NET Core fills <c>type</c>.</summary>
    private static string TypeOf(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        _ => "about:blank",
    };

    /// <summary>The errors a problem lists (the client's side of <see cref="Refused"/>); empty when it lists none.</summary>
    public static IReadOnlyList<ConfigError> ErrorsOf(JsonElement problem)
    {
        if (problem.ValueKind != JsonValueKind.Object || !problem.TryGetProperty(ErrorsMember, out var errors) || errors.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return [.. errors.EnumerateArray().Select(e => e.Deserialize<ConfigErrorView>(ApiJson.Options)?.ToError()).OfType<ConfigError>()];
    }
}
