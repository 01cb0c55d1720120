namespace Fabric.Cni.Spec;

/// <summary>
/// What a runtime passes in the environment: the command, the container, its network namespace and interface, the
/// arguments (<c>CNI_ARGS</c>, <c>KEY=VALUE</c> pairs separated by semicolons) and where plugins are (<c>CNI_PATH</c>).
/// </summary>
public sealed record CniInvocation(
    string Command, string? ContainerId, string? Netns, string? InterfaceName, IReadOnlyDictionary<string, string> Arguments, string? Path)
{
    /// <summary>The commands of the specification, as <c>CNI_COMMAND</c> spells them.</summary>
    public static IReadOnlyList<string> Commands { get; } = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"];

    /// <summary>
    /// Reads the invocation from <paramref name="environment"/>; throws <see cref="CniException"/> (code 4) when a variable
    /// the command needs is missing or malformed: ADD and CHECK need the container, its namespace and interface; DEL the
    /// container and interface (its namespace may be gone already).
    /// </summary>
    public static CniInvocation From(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var command = environment("CNI_COMMAND");
        if (string.IsNullOrEmpty(command) || !Commands.Contains(command))
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_COMMAND is \"{command}\": one of {string.Join(", ", Commands)} is expected");
        }

        var invocation = new CniInvocation(
            command, Blank(environment("CNI_CONTAINERID")), Blank(environment("CNI_NETNS")), Blank(environment("CNI_IFNAME")),
            ParseArguments(environment("CNI_ARGS")), Blank(environment("CNI_PATH")));
        string[] needed = command switch
        {
            "ADD" or "CHECK" => ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
            "DEL" => ["CNI_CONTAINERID", "CNI_IFNAME"],
            _ => [],
        };
        var missing = needed.Where(n => n switch
        {
            "CNI_CONTAINERID" => invocation.ContainerId is null,
            "CNI_NETNS" => invocation.Netns is null,
            _ => invocation.InterfaceName is null,
        }).ToList();
        if (missing.Count > 0)
        {
            throw new CniException(CniErrorCode.InvalidEnvironment, $"{command} needs {string.Join(", ", missing)} in the environment");
        }

        return invocation;
    }

    /// <summary><c>CNI_ARGS</c> as a dictionary: <c>K=V;K2=V2</c>; a pair without '=' is refused (code 4).</summary>
    public static IReadOnlyDictionary<string, string> ParseArguments(string? text)
    {
        var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in (text ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_ARGS holds \"{pair}\": KEY=VALUE pairs separated by ';' are expected");
            }

            arguments[pair[..equals]] = pair[(equals + 1)..];
        }

        return arguments;
    }

    private static string? Blank(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
