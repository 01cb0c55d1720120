using System.Text.Json.Nodes;

namespace Fabric.Cni.Spec;

/// <summary>The error codes of the CNI specification (1-99 reserved by it) and this plugin's own (100 and up).</summary>
public enum CniErrorCode
{
    IncompatibleVersion = 1,
    UnsupportedField = 2,
    ContainerUnknown = 3,
    InvalidEnvironment = 4,
    IoFailure = 5,
    DecodeFailure = 6,
    InvalidNetworkConfig = 7,
    TryAgainLater = 11,

    /// <summary>STATUS: the plugin cannot serve ADD now (here: the local router does not answer on its admin socket).</summary>
    PluginNotAvailable = 50,

    /// <summary>The local router refused the attachment (an unknown tenant or service, a name in use, no free address).</summary>
    RouterRefused = 100,

    /// <summary>The local router does not answer on its admin socket.</summary>
    RouterUnreachable = 101,

    /// <summary>Setting up or checking the container's link failed (an <c>ip</c> command failed).</summary>
    LinkFailed = 102,
}

/// <summary>A CNI command failed: the plugin prints <see cref="ToJson"/> on standard output and exits non-zero.</summary>
public sealed class CniException(CniErrorCode code, string message, string? details = null) : Exception(message)
{
    public CniErrorCode Code { get; } = code;

    public string? Details { get; } = details;

    /// <summary>The specification's error object.</summary>
    public string ToJson(string cniVersion)
    {
        var error = new JsonObject { ["cniVersion"] = cniVersion, ["code"] = (int)Code, ["msg"] = Message };
        if (Details is not null)
        {
            error["details"] = Details;
        }

        return error.ToJsonString();
    }
}
