using Fabric.Dataplane.Neighbors;
using System.Runtime.CompilerServices;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// The router as an L3 gateway on each port: it learns where its neighbours are (from ARP, from neighbour
/// discovery, and from the frames of hosts on the port's link: a source outside the port's
/// <see cref="PortBinding.OnLink"/> prefixes and an ICMP error's quoted addresses teach nothing), answers ARP and
/// neighbour solicitations for its own addresses on that port, answers pings to them, takes the answers to its
/// instance health checks (<see cref="InstanceProbeStage"/>), and drops (counted) anything else addressed to itself. Everything else goes on.
/// </summary>
public static class GatewayStage
{
    public static Verdict Run(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var binding = snapshot.Ports[context.IngressPort];
        if (binding.Role == PortRole.Unused)
        {
            return context.Fail(DropReason.ToRouter);
        }

        var ethernet = EthernetFrame.FromValidated(context.Frame);
        var sender = ethernet.Source;
        if (context.EtherType == EtherType.Arp)
        {
            return Arp(ref context, binding, resources, ethernet);
        }

        if (!context.IsIcmpError
            && !resources.Neighbors.IsLearnedRecently(context.IngressPort, context.Key.Source, context.Key.IsIpv6, sender, context.Now)
            && binding.IsOnLink(context.Key.Source, context.Key.IsIpv6)
            && sender != resources.Ports[context.IngressPort].Mac)
        {
            // Only a host on this link sends its own frames here: a source from elsewhere is forged or routed, and
            // an ICMP error's key is the flow it quotes (its addresses are not the sender's). Neither is learned.
            // A neighbour learned a moment ago at this MAC (every frame of a flow) is neither looked at nor learned again.
            // A frame from the port's own MAC is the router's own (a forward packet an SVR redirect returned, run again as
            // its client sent it): it teaches nothing about the client.
            Learn(resources, context.IngressPort, context.Key.Source, context.Key.IsIpv6, sender, context.Now);
        }

        if (context.IsIpv6 && context.Key.Protocol == IpProtocol.Icmpv6 && !context.IsIcmpError
            && context.Frame[context.TransportOffset] is Icmpv6Type.NeighborSolicitation or Icmpv6Type.NeighborAdvertisement or Icmpv6Type.RouterSolicitation)
        {
            return NeighborDiscovery(ref context, binding, resources, sender);
        }

        if (IsToWaypoint(ref context, snapshot))
        {
            // A peer router's packet to one of our waypoints: SVR, not traffic for the router itself.
            context.ToWaypoint = true;
        }
        else if (context.IsIcmpError && context.Key.Protocol is IpProtocol.Tcp or IpProtocol.Udp
                 && binding.IsWaypoint(context.Key.Destination, context.Key.IsIpv6, context.Key.DestinationPort))
        {
            // An error about a packet of one of our waypoint sessions (from the peer, or a router between us):
            // its session carries it on, translated (see SvrStage.Rewrite).
            return Verdict.Continue;
        }
        else if (context.IsIpv6)
        {
            if (binding.OwnsIpv6(context.Key.Destination))
            {
                return IsPathProbe(ref context) ? PathMonitorStage.Receive(ref context, snapshot, resources) : ToRouter(ref context, resources);
            }
        }
        else if (binding.OwnsIpv4((uint)context.Key.Destination))
        {
            if (IsPathProbe(ref context))
            {
                return PathMonitorStage.Receive(ref context, snapshot, resources);
            }

            // An instance answering the router's health check from its gateway address, or anything else for the router.
            return InstanceProbeStage.MayAnswer(ref context)
                ? InstanceProbeStage.Receive(ref context, snapshot, resources)
                : ToRouter(ref context, resources);
        }
        else if ((uint)context.Key.Destination == uint.MaxValue)
        {
            return ToRouter(ref context, resources);
        }

        return Verdict.Continue;
    }

    /// <summary>Whether the parsed packet, addressed to the router, is a path probe or echo (UDP to the path monitor's port). Reads only.</summary>
    private static bool IsPathProbe(ref PacketContext context) =>
        !context.IsIcmpError && context.Key.Protocol == IpProtocol.Udp && PathMonitorStage.IsMonitorPort(context.Key.DestinationPort);

    /// <summary>Whether the parsed packet is a peer router's TCP or UDP packet to one of our waypoints (either family, not an ICMP error). Reads only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsToWaypoint(ref PacketContext context, ForwardingSnapshot snapshot) =>
        !context.IsIcmpError && context.Key.Protocol is IpProtocol.Tcp or IpProtocol.Udp
        && snapshot.Ports[context.IngressPort].IsWaypoint(context.Key.Destination, context.Key.IsIpv6, context.Key.DestinationPort);

    internal static void Learn(WorkerResources resources, int port, UInt128 address, bool isIpv6, MacAddress mac, long now)
    {
        var sender = new SendHeldFrames(resources, port, mac);
        resources.Neighbors.Learn(port, address, isIpv6, mac, now, ref sender);
    }

    /// <summary>The frames that waited for exactly this neighbour: each gets its destination MAC and leaves as the router's own.</summary>
    private readonly struct SendHeldFrames(WorkerResources resources, int port, MacAddress mac) : IHeldFrameSender
    {
        public void Send(Span<byte> frame)
        {
            mac.Write(frame);
            resources.SendOwn(port, frame);
        }
    }

    private static Verdict Arp(ref PacketContext context, PortBinding binding, WorkerResources resources, EthernetFrame ethernet)
    {
        var arp = ArpPacket.FromValidated(ethernet.Payload);
        if (arp.SenderProtocolAddress != 0)
        {
            Learn(resources, context.IngressPort, arp.SenderProtocolAddress, isIpv6: false, arp.SenderHardwareAddress, context.Now);
        }

        if (arp.Operation != ArpOperation.Request || !binding.OwnsIpv4(arp.TargetProtocolAddress))
        {
            return Verdict.Consumed;
        }

        // Turn the request into the reply in place: we are the target, the asker is the new target.
        var mac = resources.Ports[context.IngressPort].Mac;
        var asker = arp.SenderHardwareAddress;
        var askerAddress = arp.SenderProtocolAddress;
        var asked = arp.TargetProtocolAddress;
        arp.Operation = ArpOperation.Reply;
        arp.TargetHardwareAddress = asker;
        arp.TargetProtocolAddress = askerAddress;
        arp.SenderHardwareAddress = mac;
        arp.SenderProtocolAddress = asked;
        ethernet.Destination = asker;
        ethernet.Source = mac;
        resources.SendOwn(context.IngressPort, context.Frame);
        return Verdict.Consumed;
    }

    private static Verdict NeighborDiscovery(ref PacketContext context, PortBinding binding, WorkerResources resources, MacAddress sender)
    {
        var ip = Ipv6Packet.FromValidated(context.Frame[context.NetworkOffset..]);
        var icmp = Icmpv6Packet.FromValidated(ip.UpperLayer);
        if (!icmp.IsChecksumValid(ip.PseudoHeaderSum()))
        {
            return context.Fail(DropReason.Malformed);
        }

        if (ip.HopLimit != OnLinkHopLimit || ip.UpperLayer[1] != 0)
        {
            return context.Fail(DropReason.NeighborDiscoveryOffLink);
        }

        if (icmp.TryGetSourceLinkLayerAddress(out var source) && ip.Source != UInt128.Zero)
        {
            Learn(resources, context.IngressPort, ip.Source, isIpv6: true, source, context.Now);
        }

        if (icmp.TryGetTargetLinkLayerAddress(out var target) && icmp.IsNeighborAdvertisement)
        {
            Learn(resources, context.IngressPort, icmp.TargetAddress, isIpv6: true, target, context.Now);
        }

        if (!icmp.IsNeighborSolicitation || !binding.OwnsIpv6(icmp.TargetAddress))
        {
            return Verdict.Consumed;
        }

        // Answer with a solicited advertisement carrying our link-layer address.
        var mac = resources.Ports[context.IngressPort].Mac;
        var asked = icmp.TargetAddress;
        var replyTo = ip.Source == UInt128.Zero ? AllNodes : ip.Source;
        var frame = resources.Scratch.AsSpan();
        var destinationMac = ip.Source == UInt128.Zero ? AllNodesMac : sender;
        var length = ControlMessages.NeighborAdvertisement(frame, mac, destinationMac, asked, replyTo, solicited: ip.Source != UInt128.Zero);
        resources.SendOwn(context.IngressPort, frame[..length]);
        return Verdict.Consumed;
    }

    /// <summary>The hop limit every neighbour discovery message is sent with: any less and a router forwarded it.</summary>
    private const byte OnLinkHopLimit = 255;

    private static readonly UInt128 AllNodes = new(0xff02_0000_0000_0000, 1);
    private static readonly MacAddress AllNodesMac = new(0x3333_0000_0001);

    private static Verdict ToRouter(ref PacketContext context, WorkerResources resources)
    {
        if (context.IsIcmpError || !IsEchoRequest(ref context))
        {
            return context.Fail(DropReason.ToRouter);
        }

        // Echo reply in place: swap addresses, flip the type, fix the checksums.
        var frame = context.Frame;
        var ethernet = EthernetFrame.FromValidated(frame);
        (ethernet.Source, ethernet.Destination) = (ethernet.Destination, ethernet.Source);
        ethernet.Source = resources.Ports[context.IngressPort].Mac;
        if (context.IsIpv6)
        {
            var ip = Ipv6Packet.FromValidated(frame[context.NetworkOffset..]);
            (ip.Source, ip.Destination) = (ip.Destination, ip.Source);
            ip.HopLimit = 64;
            var icmp = Icmpv6Packet.FromValidated(ip.UpperLayer);
            icmp.Bytes[0] = Icmpv6Type.EchoReply;
            icmp.UpdateChecksum(ip.PseudoHeaderSum());
        }
        else
        {
            var ip = Ipv4Packet.FromValidated(frame[context.NetworkOffset..]);
            var source = ip.Source;
            ip.Source = ip.Destination;
            ip.Destination = source;
            ip.Ttl = 64;
            ip.UpdateHeaderChecksum();
            var icmp = Icmpv4Packet.FromValidated(ip.Payload);
            icmp.Bytes[0] = Icmpv4Type.EchoReply;
            icmp.UpdateChecksum();
        }

        resources.SendOwn(context.IngressPort, frame);
        return Verdict.Consumed;
    }

    private static bool IsEchoRequest(ref PacketContext context)
    {
        var type = context.Frame[context.TransportOffset];
        return context.IsIpv6
            ? context.Key.Protocol == IpProtocol.Icmpv6 && type == Icmpv6Type.EchoRequest
            : context.Key.Protocol == IpProtocol.Icmp && type == Icmpv4Type.EchoRequest;
    }
}
