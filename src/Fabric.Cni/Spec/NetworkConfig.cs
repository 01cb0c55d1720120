using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fabric.Cni.Spec;

/// <summary>
/// The network configuration a runtime writes on standard input, as far as the plugin reads it. Keys of its own:
/// <c>adminSocket</c> (the local router node's admin socket, required), <c>network</c> (the router's host-based network;
/// optional when it has one), <c>mtu</c> (the container link's; default the network's). Labels come from
/// <c>args.cni.labels</c> (a list of <c>{key, value}</c>) and <c>runtimeConfig.labels</c> (an object).
/// </summary>
public sealed record NetworkConfig(
    string CniVersion, string Name, string Type, string? AdminSocket, string? Network, int? Mtu,
    IReadOnlyDictionary<string, string> Labels, JsonObject? PrevResult, IReadOnlyList<(string ContainerId, string InterfaceName)>? ValidAttachments)
{
    /// <summary>Parses <paramref name="json"/>; throws <see cref="CniException"/>: code 6 when it is not JSON, 1 for a version it does not speak, 7 when a key is wrong.</summary>
    public static NetworkConfig Parse(string json)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new CniException(CniErrorCode.DecodeFailure, "the network configuration is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "the network configuration is not JSON", e.Message);
        }

        var version = Text(root, "cniVersion") ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "the network configuration has no cniVersion");
        if (!CniVersions.IsSupported(version))
        {
            throw new CniException(CniErrorCode.IncompatibleVersion, $"cniVersion {version} is not supported (supported: {string.Join(", ", CniVersions.Supported)})");
        }

        int? mtu = null;
        if (root["mtu"] is { } mtuNode)
        {
            mtu = mtuNode.GetValueKind() == JsonValueKind.Number && mtuNode.GetValue<double>() is var m && m is >= 576 and <= 65535 && m == Math.Floor(m)
                ? (int)m
                : throw new CniException(CniErrorCode.InvalidNetworkConfig, $"mtu is {mtuNode.ToJsonString()}: a whole number from 576 to 65535 is expected");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root["args"]?["cni"]?["labels"] is JsonArray list)
        {
            foreach (var item in list.OfType<JsonObject>())
            {
                if (Text(item, "key") is { } key && Text(item, "value") is { } value)
                {
                    labels[key] = value;
                }
            }
        }

        if (root["runtimeConfig"]?["labels"] is JsonObject runtimeLabels)
        {
            foreach (var (key, value) in runtimeLabels)
            {
                if (value?.GetValueKind() == JsonValueKind.String)
                {
                    labels[key] = value.GetValue<string>();
                }
            }
        }

        List<(string, string)>? valid = null;
        if (root["cni.dev/valid-attachments"] is JsonArray attachments)
        {
            valid = [.. attachments.OfType<JsonObject>().Select(a => (Text(a, "containerID") ?? "", Text(a, "ifname") ?? ""))];
        }

        return new NetworkConfig(
            version, Text(root, "name") ?? "", Text(root, "type") ?? "", Text(root, "adminSocket"), Text(root, "network"), mtu, labels,
            root["prevResult"] as JsonObject, valid);
    }

    private static string? Text(JsonObject node, string key) =>
        node[key] is { } value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;
}
