using Fabric.Actors.Serialization;

namespace Fabric.Actors.Tracing;

/// <summary>
/// What would happen to a packet at one router: it arrives on device <paramref name="Interface"/> (null: from peer router
/// <paramref name="FromRouter"/> over SVR, its metadata naming <paramref name="Tenant"/>, <paramref name="Service"/> and,
/// through a transit, <paramref name="DestinationRouter"/>), from <paramref name="Source"/> to
/// <paramref name="Destination"/>:<paramref name="DestinationPort"/> over <paramref name="Protocol"/> (tcp, udp, icmp; a TCP
/// packet is a connection's first, a SYN). Nothing is sent and nothing in the router changes.
/// </summary>
[WireMessage("fabric.trace.question.v1")]
public sealed record TraceQuestion(
    string? Interface, string Source, int SourcePort, string Destination, int DestinationPort, string Protocol,
    string? FromRouter = null, string? Tenant = null, string? Service = null, string? DestinationRouter = null);

/// <summary>
/// One router's answer to a <see cref="TraceQuestion"/>, from the snapshot it runs (its version): each step it would take
/// and why, then either a verdict (<c>forwarded</c>, or <c>dropped</c> with the drop's reason and the rule behind it) or the
/// peer router the packet goes on to (<paramref name="NextRouter"/>) with what its metadata carries there.
/// </summary>
[WireMessage("fabric.trace.hop.v1")]
public sealed record TraceHop(
    string Node, string Router, long Version, IReadOnlyList<TraceStep> Steps, string? Verdict, string? Reason, string? Rule,
    string? NextRouter, string? Tenant, string? Service, string? DestinationRouter, string Summary);

/// <summary>One decision on the way: what was decided (<c>tenant</c>, <c>service</c>, <c>access</c>, <c>instance</c>, <c>route</c>, <c>peer_path</c>, ...), its outcome, and why.</summary>
public sealed record TraceStep(string Step, string Result, string? Why);
