using System.Net;
using Fabric.Model.Addressing;
using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>One routing element at a site: one node, or two for an HA pair.</summary>
public sealed record Router(
    string Name,
    ValueList<RouterNode> Nodes,
    ValueList<ForwardingInterface> Interfaces,
    ValueList<Network> Networks)
{
    /// <summary>How the nodes of an HA pair watch each other (read by both nodes; unused with one node).</summary>
    public PairLiveness HighAvailability { get; init; } = PairLiveness.Default;

    /// <summary>How the router's nodes run their dataplane: workers and busy polling (read when a node starts).</summary>
    public DataplaneSettings Dataplane { get; init; } = DataplaneSettings.Default;

    /// <summary>The router's session table: its size and each tenant's share of it.</summary>
    public SessionTableSettings Sessions { get; init; } = SessionTableSettings.Default;
}

/// <summary>
/// The router's session table: its size and how much of it one tenant may hold. Read when the router process starts
/// (the table is allocated once); a running router keeps the table it started with.
/// </summary>
/// <param name="Capacity">Sessions the table holds.</param>
/// <param name="MaxTenantSharePercent">
/// The share of <paramref name="Capacity"/> (percent) one tenant's sessions may hold, so that one tenant's flood
/// leaves room for the others; 100 turns the limit off.
/// </param>
public sealed record SessionTableSettings(int Capacity, int MaxTenantSharePercent)
{
    public const int DefaultCapacity = 65_536;

    public const int DefaultMaxTenantSharePercent = 50;

    public static SessionTableSettings Default { get; } = new(DefaultCapacity, DefaultMaxTenantSharePercent);

    /// <summary>The most sessions one tenant may hold (at least one).</summary>
    public int MaxPerTenant => Math.Max(1, (int)((long)Capacity * MaxTenantSharePercent / 100));
}

/// <summary>One process of a router, reachable by the control plane at its management address.</summary>
/// <param name="Identity">
/// The node's X25519 public key (base64 of 32 bytes), pinned here so that peers derive peer path keys only
/// with the holder of the matching private key; null when the node has none (its peer paths then carry no
/// keys: services that require encryption are refused, metadata travels unauthenticated).
/// </param>
public sealed record RouterNode(string Name, IPAddress ManagementAddress, string? Identity = null)
{
    /// <summary>Length of an X25519 public key.</summary>
    public const int IdentityKeyLength = 32;

    /// <summary>The pinned public key's bytes, or null when absent or not 32 bytes of base64 (the validator reports that).</summary>
    public byte[]? IdentityKey()
    {
        if (Identity is null)
        {
            return null;
        }

        var buffer = new byte[IdentityKeyLength + 3];
        return Convert.TryFromBase64String(Identity, buffer, out var written) && written == IdentityKeyLength ? buffer[..IdentityKeyLength] : null;
    }
}

/// <summary>
/// An interface the router owns in user space (the kernel has no address on it).
/// </summary>
/// <param name="Device">The Linux device name.</param>
/// <param name="Addresses">The router's own addresses on this interface, with their prefix lengths.</param>
/// <param name="Neighborhoods">Peering groups this interface takes part in.</param>
/// <param name="Tenant">The tenant of packets that arrive here, if the interface assigns one.</param>
public sealed record ForwardingInterface(
    string Name,
    string Device,
    ValueList<IpPrefix> Addresses,
    ValueList<string> Neighborhoods,
    string? Tenant,
    int Mtu)
{
    public const int DefaultMtu = 1500;
}

/// <summary>How containers attach to a router.</summary>
public enum NetworkModel
{
    /// <summary>One veth per container; the router is its gateway and nothing else shares its L2 domain.</summary>
    HostBased,

    /// <summary>Several containers on one bridge with the router as their gateway.</summary>
    Bridged,
}

/// <summary>
/// A container network attached to a router; the router is its L3 gateway at <paramref name="Gateways"/>.
/// </summary>
/// <param name="Device">For bridged networks, the router's device on the bridge; host-based networks use one device per container.</param>
/// <param name="Tenant">The tenant of the network's containers unless a container names its own.</param>
public sealed record Network(
    string Name,
    NetworkModel Model,
    string Device,
    ValueList<IpPrefix> Gateways,
    string? Tenant,
    ValueList<Container> Containers,
    int Mtu);

/// <summary>A container (a network namespace in the lab) attached to a network.</summary>
public sealed record Container(string Name, ValueList<IPAddress> Addresses, string? Tenant);
