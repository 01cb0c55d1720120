using Fabric.Dataplane.Policing;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What the pipeline keeps per session beside its keys: who and what it is, where each direction
/// leaves, its own rate limit and its counters. The NAT of each direction follows from the two keys
/// (the forward key holds what the client sent to, the reverse key what the instance answers from).
/// Fields are ordered so the struct packs without holes (96 bytes).
/// </summary>
public struct SessionState
{
    public short Tenant;
    public short Service;

    /// <summary>The instance the session was balanced to (index in the service's instance set).</summary>
    public short Instance;

    /// <summary>The port forward packets leave by (towards the instance).</summary>
    public short ForwardPort;

    /// <summary>The port reverse packets leave by (back towards the client): where the session came in.</summary>
    public short ReversePort;

    public bool IsIpv6;


    /// <summary>The id of the service runtime that admitted the session (see <see cref="Forwarding.ServiceRuntimes"/>).</summary>
    public int Runtime;

    public TokenBucket Bucket;

    public long ForwardPackets;
    public long ForwardBytes;
    public long ReversePackets;
    public long ReverseBytes;
}
