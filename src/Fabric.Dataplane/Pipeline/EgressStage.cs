using System.Runtime.CompilerServices;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Last stage before transmit: spends one hop of TTL (answering time-exceeded when it runs out),
/// refuses what the egress MTU cannot carry (answering fragmentation-needed or packet-too-big), and
/// addresses the frame to the next hop's MAC from the neighbour table. A next hop not yet known is
/// asked for (ARP or neighbour solicitation) and the frame waits for the answer.
/// </summary>
public static class EgressStage
{
    public static Verdict Run(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        var ingress = snapshot.Ports[context.IngressPort];
        var egressPort = resources.Ports[context.EgressPort];
        // A waypoint packet is checked again, not taken as parsed: its lengths changed when its metadata and trailer were
        // stripped. Any other packet's headers are as the parse stage checked them.
        if (context.IsIpv6)
        {
            if (!Ipv6Packet.TryCreate(ip, out var v6))
            {
                return context.Fail(DropReason.Malformed);
            }

            if (!v6.TryDecrementHopLimit())
            {
                Error(ref context, resources, ingress, Icmpv6Type.TimeExceeded, 0, 0);
                return context.Fail(DropReason.TtlExpired);
            }

            // As for IPv4 below; an IPv6 packet that crosses to the peer as IPv4 also loses octets of header (an IPv4 one
            // crossing as IPv6 gains them), as does a waypoint packet restored to an IPv4 session: its room, and the MTU
            // reported, may exceed the egress MTU.
            var room = egressPort.Mtu - SessionGrowth(ref context, snapshot, resources);
            if (context.LargestPacketLength > room)
            {
                Error(ref context, resources, ingress, Icmpv6Type.PacketTooBig, 0, (uint)ReportedMtu(ref context, snapshot, resources, room));
                return context.Fail(DropReason.TooBig);
            }
        }
        else
        {
            Ipv4Packet v4;
            if (!context.ToWaypoint)
            {
                v4 = Ipv4Packet.FromValidated(ip);
            }
            else if (!Ipv4Packet.TryCreate(ip, out v4))
            {
                return context.Fail(DropReason.Malformed);
            }

            if (!v4.TryDecrementTtl())
            {
                Error(ref context, resources, ingress, Icmpv4Type.TimeExceeded, 0, 0);
                return context.Fail(DropReason.TtlExpired);
            }

            // Towards a peer, the room is what the path MTU leaves after what SVR adds to each packet of the session.
            var room = egressPort.Mtu - SessionGrowth(ref context, snapshot, resources);
            if (context.LargestPacketLength > room)
            {
                if (v4.DontFragment)
                {
                    Error(ref context, resources, ingress, Icmpv4Type.DestinationUnreachable, FragmentationNeeded, (uint)ReportedMtu(ref context, snapshot, resources, room));
                }

                return context.Fail(DropReason.TooBig);
            }
        }

        // Checks are done on the packet as it arrived (errors quote it so); now rewrite it.
        if (context.Session >= 0)
        {
            if (resources.Sessions.Payload(context.Session).Svr != SvrRole.None)
            {
                // SVR sessions are rewritten whole (both ends of the tuple) and may grow by metadata.
                if (SvrStage.Rewrite(ref context, resources, snapshot) == Verdict.Drop)
                {
                    return Verdict.Drop;
                }
            }
            else
            {
                NatStage.Translate(ref context, in resources.Sessions.ForwardKey(context.Session), in resources.Sessions.ReverseKey(context.Session));
            }
        }

        ref readonly var nextHop = ref NextHop(ref context, resources);

        var ethernet = EthernetFrame.FromValidated(context.Frame);
        ethernet.Source = egressPort.Mac;
        if (resources.Neighbors.TryGet(context.EgressPort, nextHop.Source, nextHop.IsIpv6, context.Now, out var mac))
        {
            ethernet.Destination = mac;
            return Verdict.Forward;
        }

        var held = resources.Neighbors.Hold(context.EgressPort, nextHop.Source, nextHop.IsIpv6, context.Frame, context.Now, out var ask);
        if (ask)
        {
            Resolve(resources, snapshot.Ports[context.EgressPort], context.EgressPort, nextHop.IsIpv6, nextHop.Source);
        }

        if (!held)
        {
            return context.Fail(DropReason.NeighborUnresolved);
        }

        // Held for the neighbour's address: it leaves later as the router's own send; its tenant and service count it now.
        resources.Traffic.Forwarded(context.Tenant, context.Service, context.Segments, context.PacketBytes);
        return Verdict.Consumed;
    }

    /// <summary>
    /// Every destination is on a link of the router (a container, an instance or a peer's waypoint), so it is
    /// its own next hop: the instance (or peer waypoint) for forward packets, the client (or peer waypoint)
    /// for reverse ones, as the session's keys say: the next hop is the source (address and family) of the key returned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref readonly Sessions.SessionKey NextHop(ref PacketContext context, WorkerResources resources) =>
        ref context.Direction == Sessions.SessionDirection.Forward
            ? ref resources.Sessions.ReverseKey(context.Session)
            : ref resources.Sessions.ForwardKey(context.Session);

    /// <summary><see cref="SvrGrowth"/> for a packet of a session that is no ICMP error; else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SessionGrowth(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources) =>
        context.Session >= 0 && !context.IsIcmpError && resources.Sessions.Payload(context.Session).Svr != SvrRole.None
            ? SvrGrowth(ref context, snapshot, resources)
            : 0;

    /// <summary>
    /// What SVR adds to each packet of the session leaving to the peer, less what its IP header loses when it crosses in
    /// another family (<see cref="SvrStage.HeaderShrink"/>; so it may be negative); for a waypoint packet leaving out of
    /// the fabric, what its header gains (or loses) when it is restored to the session's family (an IPv6 session's packet
    /// arrives as IPv4 over an IPv4 WAN and leaves 20 octets longer), less the UDP header a ping's message leaves behind;
    /// 0 for other packets.
    /// </summary>
    private static int SvrGrowth(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref var state = ref resources.Sessions.Payload(context.Session);
        if (state.Svr == SvrRole.None)
        {
            return 0;
        }

        var leavesToPeer = state.Svr == SvrRole.Transit || (state.Svr == SvrRole.Ingress) == (context.Direction == Sessions.SessionDirection.Forward);
        var shrink = SvrStage.HeaderShrink(ref context, NextHop(ref context, resources));
        return leavesToPeer ? SvrStage.GrowthOfPacketToPeer(snapshot, state) - shrink
            : -shrink - (SvrStage.IsEcho(state.OriginalProtocol) ? UdpDatagram.HeaderLength : 0);
    }

    /// <summary>
    /// The MTU told to the sender of a packet refused for being longer than <paramref name="room"/> (the egress MTU less
    /// <see cref="SvrGrowth"/>): the room itself, in the family and for the packet as the sender sent it; but at a transit,
    /// whose sender is the ingress router (which lowers the MTU of an error about its waypoint packet by what SVR adds, as
    /// for one from a router between the two), the room with what SVR adds here given back: the MTU of the link toward
    /// the peer, as the waypoint packet measures it in the family it arrived in.
    /// </summary>
    private static int ReportedMtu(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources, int room)
    {
        if (context.Session < 0 || context.IsIcmpError)
        {
            return room;
        }

        ref var state = ref resources.Sessions.Payload(context.Session);
        return state.Svr == SvrRole.Transit ? room + SvrStage.GrowthToPeer(snapshot, state) : room;
    }

    /// <summary>ICMP code "fragmentation needed and DF set" (RFC 792).</summary>
    private const byte FragmentationNeeded = 4;

    /// <summary>Asks for the MAC of <paramref name="nextHop"/> on the port (ARP or neighbour solicitation).</summary>
    internal static void Resolve(WorkerResources resources, PortBinding binding, int port, bool isIpv6, UInt128 nextHop)
    {
        var mac = resources.Ports[port].Mac;
        int length;
        if (isIpv6)
        {
            if (binding.Ipv6Addresses.Length == 0)
            {
                return;
            }

            length = ControlMessages.NeighborSolicitation(resources.Scratch, mac, binding.Ipv6Addresses[0], nextHop);
        }
        else
        {
            if (binding.Ipv4Addresses.Length == 0)
            {
                return;
            }

            length = ControlMessages.ArpRequest(resources.Scratch, mac, binding.Ipv4Addresses[0], (uint)nextHop);
        }

        resources.SendOwn(port, resources.Scratch.AsSpan(0, length));
    }

    /// <summary>Sends an ICMP error about the packet in hand back out of the port it came in by, from the router's address there.</summary>
    private static void Error(ref PacketContext context, WorkerResources resources, PortBinding ingress, byte type, byte code, uint mtu)
    {
        if (!resources.IcmpErrors.TryTake(context.Now))
        {
            resources.Counters.IcmpErrorsSuppressed++;
            return;
        }

        var ethernet = EthernetFrame.FromValidated(context.Frame);
        var mac = resources.Ports[context.IngressPort].Mac;
        var offending = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        int length;
        if (context.IsIpv6)
        {
            if (ingress.Ipv6Addresses.Length == 0)
            {
                return;
            }

            length = ControlMessages.Icmpv6Error(resources.Scratch, mac, ethernet.Source, ingress.Ipv6Addresses[0], offending, type, code, mtu);
        }
        else
        {
            if (ingress.Ipv4Addresses.Length == 0)
            {
                return;
            }

            length = ControlMessages.Icmpv4Error(resources.Scratch, mac, ethernet.Source, ingress.Ipv4Addresses[0], offending, type, code, (ushort)mtu);
        }

        resources.SendOwn(context.IngressPort, resources.Scratch.AsSpan(0, length));
        resources.Counters.IcmpErrorsSent++;
    }
}
