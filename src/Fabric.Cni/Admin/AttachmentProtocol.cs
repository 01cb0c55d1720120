using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fabric.Cni.Admin;

/// <summary>
/// One container attached to a router node by the CNI plugin: who it is to the runtime (container id and interface), to the
/// fabric (name, network, tenant or service) and its link (address in the network's gateway prefix, the gateway, the MTU).
/// The router's device towards it is named <see cref="Name"/>.
/// </summary>
public sealed record Attachment(
    string ContainerId, string InterfaceName, string Name, string Network, string Address, int PrefixLength, string Gateway, string? Tenant, string? Service, int Mtu)
{
    public bool Is(string containerId, string interfaceName) => ContainerId == containerId && InterfaceName == interfaceName;

    /// <summary>Whether the container's one address (and so its gateway and default route) is IPv6.</summary>
    public bool IsIpv6 => Address.Contains(':', StringComparison.Ordinal);
}

/// <summary>
/// A request on the router node's admin socket: one JSON line; the router answers one <see cref="AdminReply"/> line. A
/// connection that sends nothing (or shuts its sending side) gets the counters, as before requests existed.
/// Operations: <c>prepare</c> (validate and choose an address, nothing kept), <c>attach</c> (plug the device in and keep
/// the attachment), <c>detach</c> (unplug it and end its sessions; an unknown one is no error), <c>list</c>, <c>status</c>.
/// </summary>
public sealed record AdminRequest(string Op)
{
    public string? ContainerId { get; init; }

    public string? InterfaceName { get; init; }

    public string? Name { get; init; }

    public string? Network { get; init; }

    public string? Tenant { get; init; }

    public string? Service { get; init; }

    public int? Mtu { get; init; }

    /// <summary>The address the container asks for, IPv4 or IPv6 (<c>prepare</c>): a container that moved here keeps the one it had; null: the first free IPv4 one.</summary>
    public string? Address { get; init; }

    public Attachment? Attachment { get; init; }
}

/// <summary>The router's answer: ok with what was asked, or a refusal with a CNI error code and a message.</summary>
public sealed record AdminReply(bool Ok)
{
    public int Code { get; init; }

    public string? Message { get; init; }

    public string? Router { get; init; }

    public Attachment? Attachment { get; init; }

    public IReadOnlyList<Attachment>? Attachments { get; init; }

    public static AdminReply Refused(Spec.CniErrorCode code, string message) => new(false) { Code = (int)code, Message = message };
}

/// <summary>
/// The JSON form of the admin socket's requests and replies and of the attachments a router keeps (camelCase, names read
/// in any case, nulls left out, the default escaping), generated at build time: neither side serializes by reflection,
/// and a type not listed here is refused (<see cref="NotSupportedException"/>) rather than serialized some other way.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AdminRequest))]
[JsonSerializable(typeof(AdminReply))]
[JsonSerializable(typeof(List<Attachment>))]
public sealed partial class AdminJson : JsonSerializerContext;
