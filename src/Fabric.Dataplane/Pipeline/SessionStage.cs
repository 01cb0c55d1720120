using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Policing;
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
    public static Verdict Run(ref PacketContext context, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        if (context.ToWaypoint && SvrStage.Receive(ref context, snapshot) != Verdict.Continue)
        {
            return Verdict.Drop;
        }

        if (worker.Sessions.TryFind(context.Key, out var handle, out var direction))
        {
            context.Session = handle;
            context.Direction = direction;
            if (context.ToWaypoint && SvrStage.Unseal(ref context, worker, snapshot, worker.Sessions.Payload(handle).Sealed) != Verdict.Continue)
            {
                return Verdict.Drop;
            }

            return FastPath(ref context, snapshot, worker);
        }

        if (context.ToWaypoint)
        {
            return SvrStage.Accept(ref context, snapshot, worker) == Verdict.Continue ? FastPath(ref context, snapshot, worker) : Verdict.Drop;
        }

        if (context.IsIcmpError)
        {
            // An error about a flow the router does not carry is not forwarded anywhere.
            return context.Fail(DropReason.NoService);
        }

        return SlowPath(ref context, snapshot, worker);
    }

    private static Verdict SlowPath(ref PacketContext context, ForwardingSnapshot snapshot, PacketWorker worker)
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
        if (key.Protocol == IpProtocol.Tcp && (context.TcpFlags & (byte)(TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) != (byte)TcpFlags.Syn)
        {
            // A TCP packet that does not open a connection, for a session the router never saw.
            switch (policy.TransportStateEnforcement)
            {
                case TransportStateEnforcement.Reset:
                    if ((context.TcpFlags & (byte)TcpFlags.Rst) == 0)
                    {
                        SendReset(ref context, worker);
                    }

                    return context.Fail(DropReason.NoHandshake);
                case TransportStateEnforcement.Block:
                    return context.Fail(DropReason.NoHandshake);
            }
        }

        var admission = entry.Runtime.Admission.TryAdmit(context.Now);
        if (admission != AdmissionVerdict.Admitted)
        {
            return context.Fail(DropReason.SessionLimit, DropRules.Of(admission));
        }

        if (entry.Instances.Length == 0 && entry.PeerPaths.Length > 0)
        {
            return SvrStage.OpenToPeer(ref context, entry, worker) == Verdict.Continue ? FastPath(ref context, snapshot, worker) : Verdict.Drop;
        }

        var pick = LoadBalancer.Pick(entry.InstanceSet, entry.Runtime.Load, policy.LoadBalancing, worker.NextRandom());
        if (pick < 0)
        {
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoRoute);
        }

        var instance = entry.Instances[pick];
        if (!instance.TryAddress(context.IsIpv6, out var instanceAddress))
        {
            entry.Runtime.Admission.Release();
            return context.Fail(DropReason.NoRoute);
        }

        var isEcho = key.Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6;
        var instancePort = isEcho || instance.Port == 0 ? key.DestinationPort : instance.Port;
        var reverse = new SessionKey(instanceAddress, key.Source, instancePort, key.SourcePort, key.Protocol, key.IsIpv6);
        var state = new SessionState
        {
            Tenant = (short)tenant,
            Service = (short)service,
            Instance = (short)pick,
            ForwardPort = (short)instance.EgressPort,
            ReversePort = (short)context.IngressPort,
            Runtime = entry.Runtime.Id,
            IsIpv6 = context.IsIpv6,
            Bucket = TokenBucket.From(policy.SessionRateLimit, context.Now, worker.TicksPerSecond),
        };
        var idle = key.Protocol switch
        {
            IpProtocol.Tcp => entry.IdleTcp,
            IpProtocol.Udp => entry.IdleUdp,
            _ => entry.IdleIcmp,
        };
        var inserted = worker.Sessions.TryInsert(key, reverse, state, context.Now, idle, out var handle);
        if (inserted != SessionInsertResult.Inserted)
        {
            entry.Runtime.Admission.Release();
            return context.Fail(inserted == SessionInsertResult.TableFull ? DropReason.SessionTableFull : DropReason.NoRoute);
        }

        entry.Runtime.Load.OnSessionStart(pick);
        worker.CountSessionOpened(handle);
        context.Session = handle;
        context.Direction = SessionDirection.Forward;
        return FastPath(ref context, snapshot, worker);
    }

    private static Verdict FastPath(ref PacketContext context, ForwardingSnapshot snapshot, PacketWorker worker)
    {
        var sessions = worker.Sessions;
        var handle = context.Session;
        ref var state = ref sessions.Payload(handle);
        context.Tenant = state.Tenant;
        context.Service = state.Service;
        var forward = context.Direction == SessionDirection.Forward;
        if (context.Key.Protocol == IpProtocol.Tcp && !context.IsIcmpError)
        {
            ref var tcp = ref sessions.Tcp(handle);
            if (tcp.Observe(context.TcpFlags, context.Direction) == TcpVerdict.InvalidAfterReset)
            {
                return context.Fail(DropReason.NoHandshake, DropRule.AfterReset);
            }

            if (tcp.IsClosed)
            {
                sessions.SetIdleTimeout(handle, (long)(TcpTracker.ClosedLinger.TotalSeconds * worker.TicksPerSecond));
            }
        }

        sessions.Touch(handle, context.Now);
        if (state.Svr != SvrRole.None)
        {
            SvrStage.Observe(ref state, ref context, snapshot, worker.ResignalQuietTicks);
            if (context.ToWaypoint && state.Svr != SvrRole.Transit && SvrStage.IsAnnouncement(ref context))
            {
                // Metadata sent ahead of a datagram too big to carry it: taken, nothing to deliver.
                return Verdict.Consumed;
            }

            if (state.Svr == SvrRole.Ingress && forward && !context.IsIcmpError
                && SvrStage.FollowPath(ref context, ref state, snapshot, worker) != Verdict.Continue)
            {
                return Verdict.Drop;
            }
        }

        var bytes = context.PacketBytes;
        if (!state.Bucket.TryConsume(bytes, context.Now))
        {
            return context.Fail(DropReason.RateLimited, DropRule.SessionRateLimit);
        }

        // The tenant's limit is charged once in the fabric, where the tenant's session entered it (the router
        // that classified the tenant: a local session, or SVR ingress, both directions); an egress or transit
        // router forwards what that router admitted (docs/policing.md).
        var runtime = snapshot.Runtimes[state.Runtime];
        if (!runtime.ServiceBucket.TryConsume(bytes, context.Now))
        {
            return context.Fail(DropReason.RateLimited, DropRule.ServiceRateLimit);
        }

        if (state.Svr is SvrRole.None or SvrRole.Ingress
            && (uint)state.Tenant < (uint)runtime.TenantBuckets.Length && !runtime.TenantBuckets[state.Tenant].TryConsume(bytes, context.Now))
        {
            return context.Fail(DropReason.RateLimited, DropRule.TenantRateLimit);
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

        return Verdict.Forward;
    }

    /// <summary>Gives back what a session held, to the runtime that admitted it: its admission slot, its instance's load and its waypoint ports.</summary>
    public static void Ended(ForwardingSnapshot snapshot, in SessionState state)
    {
        var runtime = snapshot.Runtimes[state.Runtime];
        runtime.Admission.Release();
        if (state.Instance >= 0)
        {
            runtime.Load.OnSessionEnd(state.Instance);
        }

        SvrStage.Ended(snapshot, state);
    }

    private static void SendReset(ref PacketContext context, PacketWorker worker)
    {
        EthernetFrame.TryCreate(context.Frame, out var ethernet);
        var ip = context.Frame[context.NetworkOffset..(context.NetworkOffset + context.IpLength)];
        var segmentLength = context.IpLength - (context.TransportOffset - context.NetworkOffset);
        var length = ControlMessages.TcpReset(
            worker.Scratch, worker.Ports[context.IngressPort].Mac, ethernet.Source, context.IsIpv6, ip,
            context.TransportOffset - context.NetworkOffset, segmentLength);
        worker.SendOwn(context.IngressPort, worker.Scratch.AsSpan(0, length));
    }
}
