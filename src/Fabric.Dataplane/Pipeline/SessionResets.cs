using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What ending a live TCP session the fabric decided to end sends (revoked by a configuration, docs/sessions.md
/// "Revocation"; on an instance that failed its health check, docs/load-balancing.md): a reset, at once, to each end of the
/// connection attached to this router, from the other end's address and port as that end knows them. The client hears
/// it from the address and port it addressed (the forward key's destination), the server from the address it answers
/// to (the reverse key's destination, after NAT). Each reset carries the sequence number its receiver expects next
/// (what the other end sent last, as forwarded: <see cref="SessionState.ForwardNextSequence"/>,
/// <see cref="SessionState.ReverseNextSequence"/>), which a stack that checks resets strictly (RFC 5961 §3) accepts;
/// it acknowledges what the receiver sent when that is known. An SVR ingress holds only the client, an egress only the
/// server, a transit neither: each router resets what it holds, and every router runs the same revocation on the same
/// version. Allocates nothing; runs on the worker's thread; counted in <see cref="WorkerCounters.SessionResets"/>.
/// </summary>
internal static class SessionResets
{
    /// <summary>Sends the resets that end a session; <paramref name="state"/>, the keys and the tracker are what the session left.</summary>
    public static void ResetEnds(
        ForwardingSnapshot snapshot, WorkerResources resources, in SessionKey forward, in SessionKey reverse, in SessionState state, TcpTracker tcp, long now)
    {
        if (forward.Protocol != IpProtocol.Tcp || tcp.IsClosed)
        {
            return;
        }

        if (state.Svr is SvrRole.None or SvrRole.Ingress)
        {
            // Towards the client: from the service address it addressed, on the port it came in by.
            Reset(snapshot, resources, forward.Reversed(), state.ReversePort, state.ReverseNextSequence, state.ForwardNextSequence, now);
        }

        if (state.Svr is SvrRole.None or SvrRole.Egress)
        {
            // Towards the server (the instance): from the client as the instance knows it, on the port forward packets leave by.
            Reset(snapshot, resources, reverse.Reversed(), state.ForwardPort, state.ForwardNextSequence, state.ReverseNextSequence, now);
        }
    }

    /// <summary>
    /// One reset along <paramref name="flow"/> out of <paramref name="port"/>, its destination being the next hop (every
    /// end is on a link of the router). <paramref name="sequence"/> is what the receiver expects, <paramref name="received"/>
    /// what it sent next; 0 is unknown: no reset without the one, no ACK without the other.
    /// </summary>
    private static void Reset(ForwardingSnapshot snapshot, WorkerResources resources, in SessionKey flow, int port, uint sequence, uint received, long now)
    {
        if (sequence == 0 && received == 0)
        {
            return;
        }

        var ports = resources.Ports;
        if ((uint)port >= (uint)ports.Length)
        {
            return;
        }

        var scratch = resources.Scratch;
        var known = resources.Neighbors.TryGet(port, flow.Destination, flow.IsIpv6, now, out var mac);
        var length = ControlMessages.TcpReset(scratch, ports[port].Mac, known ? mac : MacAddress.Zero, flow, sequence, received, acknowledges: received != 0);
        resources.Counters.SessionResets++;
        if (known)
        {
            resources.SendOwn(port, scratch.AsSpan(0, length));
            return;
        }

        if (resources.Neighbors.Hold(port, flow.Destination, flow.IsIpv6, scratch.AsSpan(0, length), now, out var ask) && ask
            && (uint)port < (uint)snapshot.Ports.Length)
        {
            EgressStage.Resolve(resources, snapshot.Ports[port], port, flow.IsIpv6, flow.Destination);
        }
    }
}
