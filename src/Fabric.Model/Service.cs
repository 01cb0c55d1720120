using System.Net;
using Fabric.Model.Addressing;
using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>
/// What a packet goes to: destination prefixes and transports, who may open sessions to it
/// (everyone else is denied), how its sessions are treated, and where it lives.
/// </summary>
/// <param name="Access">Tenants allowed to open sessions; children of a listed tenant are allowed too.</param>
/// <param name="Policy">The service policy's name.</param>
/// <param name="Instances">Where the service lives: containers or addresses behind particular routers.</param>
/// <param name="OfferedBy">Routers that reach the service natively through their own interfaces (no instances).</param>
public sealed record Service(
    string Name,
    ValueList<IpPrefix> Addresses,
    ValueList<Transport> Transports,
    ValueList<string> Access,
    string Policy,
    ValueList<ServiceInstance> Instances,
    ValueList<string> OfferedBy);

public enum TransportProtocol
{
    Tcp,
    Udp,
    Icmp,
}

/// <summary>A protocol and the destination ports it matches; no ports means every port (ICMP has none).</summary>
public sealed record Transport(TransportProtocol Protocol, ValueList<PortRange> Ports);

/// <summary>
/// One place a service lives: either a container by name (its router and address come from where
/// the container is attached) or an address reached through a router.
/// </summary>
/// <param name="Port">Destination port rewritten on the way in; null keeps the client's port.</param>
/// <param name="Cost">Lower is preferred by the <c>hunt</c> strategy.</param>
/// <param name="Capacity">Sessions the instance takes before it is full; 0 means no limit.</param>
public sealed record ServiceInstance(
    string? Container,
    string? Router,
    IPAddress? Address,
    int? Port,
    int Cost,
    int Capacity)
{
    /// <summary>A stable name: the container, or "router/address".</summary>
    public string Name => Container ?? $"{Router}/{Address}";
}
