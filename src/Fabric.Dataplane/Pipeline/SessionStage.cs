using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Model;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Finds the packet's session, or makes one (the slow path: tenant, service, access policy,
/// admission, load balancer, insert), then runs the fast path every packet of a session takes:
/// TCP state, policing, NAT, and the choice of egress port.
/// </summary>
public static class SessionStage
{
    public static Verdict Run(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        if (context.ToWaypoint && SvrStage.Receive(ref context, snapshot, resources) != Verdict.Continue)
        {
            return Verdict.Drop;
        }

        var found = resources.Lookups.TryFind(context.Lookup, context.Key, out var handle, out var direction);
        var supersedes = found && context.ToWaypoint && SvrStage.Supersedes(ref context, resources, handle, direction);
        if (found && !supersedes)
        {
            context.Session = handle;
            context.Direction = direction;
            if (context.ToWaypoint && SvrStage.Unseal(ref context, resources, snapshot, resources.Sessions.Payload(handle).Sealed) != Verdict.Continue)
            {
                return Verdict.Drop;
            }

            return FastPath(ref context, snapshot, resources);
        }

        if (context.ToWaypoint)
        {
            // Accept opens a session (Continue), drops, or takes a late redirect whole (Consumed); the session the packet
            // supersedes gives way only once Accept has verified it.
            var accepted = SvrStage.Accept(ref context, snapshot, resources, supersedes ? handle : -1);
            return accepted == Verdict.Continue ? FastPath(ref context, snapshot, resources) : accepted;
        }

        if (context.IsIcmpError)
        {
            // An error about a flow the router does not carry is not forwarded anywhere.
            return context.Fail(DropReason.NoService);
        }

        return SlowPath(ref context, snapshot, resources);
    }

    private static Verdict SlowPath(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var key = context.Key;
        var tenant = snapshot.Classifier.Classify(context.IngressPort, context.IsIpv6, key.Source);
        if (tenant < 0)
        {
            return context.Fail(DropReason.NoTenant);
        }

        context.Tenant = tenant;
        var service = snapshot.FibByTenant[tenant].Match(context.IsIpv6, key.Destination, key.Protocol, key.DestinationPort);
        if (service < 0)
        {
            // Deny by default: the tenant's FIB has no route. Say whether a service was there at all.
            context.Service = snapshot.AllServices.Match(context.IsIpv6, key.Destination, key.Protocol, key.DestinationPort);
            return context.Fail(context.Service < 0 ? DropReason.NoService : DropReason.AccessDenied);
        }

        context.Service = service;
        var entry = snapshot.Services[service];
        var policy = entry.Policy;
        var opensConnection = key.Protocol == IpProtocol.Tcp && (context.TcpFlags & (byte)(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == (byte)TcpFlags.Syn;
        if (!opensConnection && resources.IsArriving(key.Source, context.IsIpv6, context.Now))
        {
            // From a client that just arrived, a packet without a session that does not open a TCP connection (mid-flow TCP,
            // a UDP datagram, an ICMP echo) may belong to a session on its way from the router it left: dropped, so that
            // the flow goes on in that session (its instance kept) once it comes. TCP sends the packet again; a UDP or ICMP
            // sender's next packet finds the session. A new UDP flow cannot be told from an old one before the sessions
            // come: it waits out the grace too (docs/mobility.md "A client moves").
            return context.Fail(DropReason.ClientArriving);
        }

        if (key.Protocol == IpProtocol.Tcp && !opensConnection)
        {
            // A TCP packet that does not open a connection, for a session the router never saw.
            switch (policy.TransportStateEnforcement)
            {
                case TransportStateEnforcement.Reset:
                    if ((context.TcpFlags & (byte)TcpFlags.Rst) == 0)
                    {
                        SendReset(ref context, resources);
                    }

                    return context.Fail(DropReason.NoHandshake);
                case TransportStateEnforcement.Block:
                    return context.Fail(DropReason.NoHandshake);
            }
        }

        var opened = entry.Instances.Length == 0 && entry.PeerPaths.Length > 0
            ? SessionOpening.Open(ref context, entry, snapshot, resources, PeerRoute.Ingress())
            : SessionOpening.Open(ref context, entry, snapshot, resources, InstanceRoute.Local(key));
        return opened == Verdict.Continue ? FastPath(ref context, snapshot, resources) : Verdict.Drop;
    }

    private static Verdict FastPath(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var sessions = resources.Sessions;
        var handle = context.Session;
        ref var state = ref sessions.Payload(handle);
        context.Tenant = state.Tenant;
        context.Service = state.Service;
        var forward = context.Direction == SessionDirection.Forward;
        if (state.Svr == SvrRole.FormerEgress)
        {
            // The session's instance moved to another router: the ingress is told where (docs/mobility.md "An instance moves").
            return SvrStage.Redirect(ref context, ref state, resources, snapshot);
        }

        if (state.Svr == SvrRole.Ingress && !forward && context.ToWaypoint && context.Metadata.Present
            && (context.Metadata.RoutedOnward || context.Metadata.NamesThisRouter))
        {
            // Reverse metadata naming a router: the old egress's redirect after the instance moved there (or here).
            return SvrStage.FollowRedirect(ref context, ref state, snapshot, resources);
        }

        if (state.Svr == SvrRole.Transit && !forward && context.ToWaypoint && context.Metadata.Present
            && (context.Metadata.RoutedOnward || context.Metadata.NamesThisRouter))
        {
            // The same redirect at a transit: relayed to the ingress on the session's reverse leg (one naming the transit itself only when it hosts the instance).
            return SvrStage.RelayRedirect(ref context, state, snapshot, resources);
        }

        // An announcement (or a handshake acknowledgement) comes from the peer router, not from the other end: it answers nothing.
        var halfOpen = !context.IsIcmpError && SessionOpening.IsHalfOpen(sessions, handle) && !(context.ToWaypoint && SvrStage.IsAnnouncement(ref context));
        if (context.Key.Protocol == IpProtocol.Tcp && !context.IsIcmpError)
        {
            ref var tcp = ref sessions.Tcp(handle);
            if (tcp.Observe(context.TcpFlags, context.Direction) == TcpVerdict.InvalidAfterReset)
            {
                return context.Fail(DropReason.LateAfterReset);
            }

            if (tcp.IsClosed)
            {
                sessions.SetIdleTimeout(handle, (long)(TcpTracker.ClosedLinger.TotalSeconds * resources.TicksPerSecond));
            }
        }

        if (halfOpen && (sessions.Tcp(handle).State == TcpState.None ? !forward : sessions.Tcp(handle).IsEstablished))
        {
            SessionOpening.Answered(snapshot, sessions, handle);
        }

        sessions.Touch(handle, context.Now);
        if (state.Svr != SvrRole.None)
        {
            SvrStage.Observe(ref state, ref context, snapshot, resources.ResignalQuietTicks);
            if (SvrStage.AcknowledgementDue(state, ref context, resources.ResignalQuietTicks))
            {
                SvrStage.Acknowledge(ref context, ref state, resources, snapshot);
            }

            if (context.ToWaypoint && state.Svr != SvrRole.Transit && SvrStage.IsAnnouncement(ref context))
            {
                // Metadata sent ahead of a datagram too big to carry it, or an egress's acknowledgement: taken, nothing to deliver.
                return Verdict.Consumed;
            }

            if (state.Svr == SvrRole.Ingress && forward && !context.IsIcmpError
                && SvrStage.FollowPath(ref context, ref state, snapshot, resources) != Verdict.Continue)
            {
                return Verdict.Drop;
            }
        }

        var bytes = context.PacketBytes;
        var runtime = snapshot.Runtimes[state.Runtime];
        if (!runtime.PolicesNothing && !Police(ref context, ref state, runtime, bytes))
        {
            return Verdict.Drop;
        }

        if (forward)
        {
            state.ForwardPackets += context.Segments;
            state.ForwardBytes += bytes;
            context.EgressPort = state.ForwardPort;
        }
        else
        {
            state.ReversePackets += context.Segments;
            state.ReverseBytes += bytes;
            context.EgressPort = state.ReversePort;
        }

        if (context.Key.Protocol == IpProtocol.Tcp && !context.IsIcmpError)
        {
            TrackSequence(ref forward ? ref state.ForwardNextSequence : ref state.ReverseNextSequence, ref context);
        }

        return Verdict.Forward;
    }

    /// <summary>
    /// Charges the packet in hand (<paramref name="bytes"/> octets) to its session's level, its service's bucket and, where
    /// the session's tenant entered the fabric here, its tenant's bucket, in that order; false (the drop and its rule
    /// written into <paramref name="context"/>) at the first that refuses it.
    /// </summary>
    private static bool Police(ref PacketContext context, ref SessionState state, ServiceRuntime runtime, int bytes)
    {
        if (!state.Bucket.TryConsume(runtime.SessionRate, bytes, context.Now))
        {
            context.Fail(DropReason.RateLimited, DropRule.SessionRateLimit);
            return false;
        }

        // The tenant's limit is charged once in the fabric, where the tenant's session entered it (the router
        // that classified the tenant: a local session, or SVR ingress, both directions); an egress or transit
        // router forwards what that router admitted (docs/policing.md).
        if (!runtime.ServiceBucket.TryConsume(bytes, context.Now))
        {
            context.Fail(DropReason.RateLimited, DropRule.ServiceRateLimit);
            return false;
        }

        if (state.Svr is SvrRole.None or SvrRole.Ingress
            && (uint)state.Tenant < (uint)runtime.TenantBuckets.Length && !runtime.TenantBuckets[state.Tenant].TryConsume(bytes, context.Now))
        {
            context.Fail(DropReason.RateLimited, DropRule.TenantRateLimit);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Moves <paramref name="next"/> (a direction's next sequence number, 0 unknown) past the segment in hand when it
    /// reaches further: a retransmission leaves it, a SYN (a connection beginning on the tuple) sets it. What a reset
    /// the router sends of its own carries (<see cref="SessionResets"/>).
    /// </summary>
    /// <remarks>Reads the sequence number and header length the parse kept (<see cref="PacketHeaders"/>), not the frame.</remarks>
    private static void TrackSequence(ref uint next, ref PacketContext context)
    {
        var flags = (TcpFlags)context.TcpFlags;
        var consumed = context.IpLength - (context.TransportOffset - context.NetworkOffset) - context.TcpHeaderLength
            + ((flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((flags & TcpFlags.Fin) != 0 ? 1 : 0);
        var end = context.TcpSequence + (uint)consumed;
        if ((flags & TcpFlags.Syn) != 0 || next == 0 || (int)(end - next) > 0)
        {
            next = end;
        }
    }

    private static void SendReset(ref PacketContext context, WorkerResources resources)
    {
        var ethernet = EthernetFrame.FromValidated(context.Frame);
        var ip = context.Frame[context.NetworkOffset..(context.NetworkOffset + context.IpLength)];
        var segmentLength = context.IpLength - (context.TransportOffset - context.NetworkOffset);
        var length = ControlMessages.TcpReset(
            resources.Scratch, resources.Ports[context.IngressPort].Mac, ethernet.Source, context.IsIpv6, ip,
            context.TransportOffset - context.NetworkOffset, segmentLength);
        resources.SendOwn(context.IngressPort, resources.Scratch.AsSpan(0, length));
    }
}
