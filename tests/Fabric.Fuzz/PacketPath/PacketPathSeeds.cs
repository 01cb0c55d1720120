using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Svr;
using Fabric.Tests.Dataplane.Wire;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// Seed inputs for <see cref="PacketPathTarget"/>: what crossed the WAN while <see cref="PacketFabric"/> opened its
/// sessions (metadata, sealed packets, ARP), a packet and an ICMP error for each direction of every live session on
/// every router, the wire fixtures of the unit tests on a client port of each router, what the router answers
/// itself, super-packets, and a few scripts of several frames (a handshake, a frame after the sessions expired).
/// </summary>
public static class PacketPathSeeds
{
    private const int Br1 = 0;
    private const int Dc1 = 1;
    private const int Br2 = 2;
    private static readonly MacAddress Neighbor = new(0x02_00_00_00_99_01);

    public static IEnumerable<(string Name, byte[] Input)> All()
    {
        var seeds = new List<(string, byte[])>();
        using var fabric = new PacketFabric();
        Wire(seeds, "wan-dc1", Dc1, fabric.Lab.DcWan.Received);
        Wire(seeds, "wan-br1", Br1, fabric.Lab.BrWan.Received);
        for (var router = 0; router < fabric.Routers.Length; router++)
        {
            Sessions(seeds, router, fabric.Routers[router]);
        }

        foreach (var field in typeof(Fixtures).GetFields().Where(f => f.IsLiteral))
        {
            var frame = Fixtures.Bytes((string)field.GetRawConstantValue()!);
            seeds.Add(($"fixture-{field.Name}-br1", FrameScript.Record(Br1, 1, FrameFlags.None, frame)));
            seeds.Add(($"fixture-{field.Name}-dc1", FrameScript.Record(Dc1, 1, FrameFlags.None, frame)));
        }

        Answered(seeds);
        Scripts(seeds);
        return seeds;
    }

    /// <summary>Each distinct frame a router received on its WAN port, to that port as it was (tags and metadata intact).</summary>
    private static void Wire(List<(string, byte[])> seeds, string name, int router, List<byte[]> received)
    {
        var seen = new HashSet<string>();
        foreach (var frame in received)
        {
            if (seen.Add(Convert.ToHexString(frame)))
            {
                seeds.Add(($"{name}-{seen.Count:D2}", FrameScript.Record(router, 0, FrameFlags.None, frame)));
            }
        }
    }

    /// <summary>For each direction of each live session: a packet of it, and an ICMP error about the packet of the other direction.</summary>
    private static void Sessions(List<(string, byte[])> seeds, int index, ForwardingEngine router)
    {
        var sessions = router.Worker.Sessions;
        var number = 0;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle))
            {
                continue;
            }

            ref readonly var state = ref sessions.Payload(handle);
            var forward = sessions.ForwardKey(handle);
            var reverse = sessions.ReverseKey(handle);
            var name = $"session-{router.Name}-{number++}-{state.Svr}".ToLowerInvariant();

            // Forward packets arrive where reverse ones leave, and the other way round.
            seeds.Add(($"{name}-forward", FrameScript.Record(index, state.ReversePort, FrameFlags.Repair, Packet(forward, state.IsIpv6, "fuzz"u8))));
            seeds.Add(($"{name}-reverse", FrameScript.Record(index, state.ForwardPort, FrameFlags.Repair, Packet(reverse, state.IsIpv6, "fuzz"u8))));
            seeds.Add(($"{name}-forward-error", FrameScript.Record(index, state.ReversePort, FrameFlags.Repair, Error(forward, state.IsIpv6))));
            seeds.Add(($"{name}-reverse-error", FrameScript.Record(index, state.ForwardPort, FrameFlags.Repair, Error(reverse, state.IsIpv6))));
            if (forward.Protocol is IpProtocol.Tcp or IpProtocol.Udp)
            {
                var big = Packet(forward, state.IsIpv6, new byte[4000]);
                seeds.Add(($"{name}-super", FrameScript.Record(index, state.ReversePort, FrameFlags.Repair | FrameFlags.SuperPacket | FrameFlags.ChecksumPartial, big)));
            }
        }
    }

    /// <summary>What a router answers itself: ARP and neighbour solicitation for its gateway addresses, and ping.</summary>
    private static void Answered(List<(string, byte[])> seeds)
    {
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        var gateway = IpAddressConversions.ParseIpv4("10.20.1.1");
        var arp = new byte[ArpPacket.Length];
        new ArpMessage(ArpOperation.Request, Neighbor, IpAddressConversions.ToIPAddress(eng1), MacAddress.Zero, IpAddressConversions.ToIPAddress(gateway)).Emit(arp);
        seeds.Add(("answer-arp-br1", FrameScript.Record(Br1, 1, FrameFlags.None, Ethernet(MacAddress.Broadcast, EtherType.Arp, arp))));
        var echo = new SessionKey(eng1, gateway, 9, 9, IpProtocol.Icmp, IsIpv6: false);
        seeds.Add(("answer-ping-br1", FrameScript.Record(Br1, 1, FrameFlags.Repair, Packet(echo, ipv6: false, "ping"u8))));

        var ops6 = IpAddressConversions.ParseIpv6(PacketFabric.Ops6);
        var gateway6 = IpAddressConversions.ParseIpv6("fd00:10:1::1");
        var solicitation = new byte[128];
        var length = ControlMessages.NeighborSolicitation(solicitation, Neighbor, ops6, gateway6);
        seeds.Add(("answer-ns-dc1", FrameScript.Record(Dc1, 1, FrameFlags.None, solicitation.AsSpan(0, length))));
        var echo6 = new SessionKey(ops6, gateway6, 9, 9, IpProtocol.Icmpv6, IsIpv6: true);
        seeds.Add(("answer-ping6-dc1", FrameScript.Record(Dc1, 1, FrameFlags.Repair, Packet(echo6, ipv6: true, "ping"u8))));
    }

    /// <summary>Several frames in one input: a new session's handshake, traffic after every session expired, metadata fixtures.</summary>
    private static void Scripts(List<(string, byte[])> seeds)
    {
        var guest1 = IpAddressConversions.ParseIpv4("10.20.1.20");
        var web = IpAddressConversions.ParseIpv4(PacketFabric.Web);
        var syn = Tcp(new SessionKey(guest1, web, 41000, 80, IpProtocol.Tcp, IsIpv6: false), ipv6: false, TcpFlags.Syn, []);
        var ack = Tcp(new SessionKey(guest1, web, 41000, 80, IpProtocol.Tcp, IsIpv6: false), ipv6: false, TcpFlags.Ack | TcpFlags.Psh, "hello"u8);
        seeds.Add(("script-handshake-guest1", [
            .. FrameScript.Record(Br1, 2, FrameFlags.Repair | FrameFlags.Settle, syn),
            .. FrameScript.Record(Br1, 2, FrameFlags.Repair | FrameFlags.Settle, ack)]));
        var eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
        var late = Tcp(new SessionKey(eng1, web, 40000, 80, IpProtocol.Tcp, IsIpv6: false), ipv6: false, TcpFlags.Ack | TcpFlags.Psh, "late"u8);
        seeds.Add(("script-after-expiry", FrameScript.Record(Br1, 1, FrameFlags.Repair | FrameFlags.Settle | FrameFlags.Step200Seconds, late)));

        // The SVR format's metadata fixtures as the payload of a packet to dc1's waypoint address from br1's.
        var br1Wan = IpAddressConversions.ParseIpv4("172.16.0.2");
        var dc1Wan = IpAddressConversions.ParseIpv4("172.16.0.1");
        foreach (var (name, block) in new[] { ("first", SvrFixtures.FirstPacket), ("bare", SvrFixtures.Bare) })
        {
            var key = new SessionKey(br1Wan, dc1Wan, 16384, 16385, IpProtocol.Udp, IsIpv6: false);
            seeds.Add(($"metadata-fixture-{name}-dc1", FrameScript.Record(Dc1, 0, FrameFlags.Repair, Packet(key, ipv6: false, SvrFixtures.Bytes(block)))));
        }

    }

    /// <summary>An IP packet of the key's tuple in an Ethernet frame: TCP ACK+PSH, UDP, or ICMP(v6) echo, lengths and checksums left to repair.</summary>
    private static byte[] Packet(SessionKey key, bool ipv6, ReadOnlySpan<byte> payload) => key.Protocol switch
    {
        IpProtocol.Tcp => Tcp(key, ipv6, TcpFlags.Ack | TcpFlags.Psh, payload),
        IpProtocol.Udp => Frame(key, ipv6, IpProtocol.Udp, [.. Ports(key), 0, 0, 0, 0, .. payload]),
        _ => Frame(key, ipv6, ipv6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp, [ipv6 ? (byte)128 : (byte)8, 0, 0, 0, .. Be16(key.SourcePort), 0, 1, .. payload]),
    };

    private static byte[] Tcp(SessionKey key, bool ipv6, TcpFlags flags, ReadOnlySpan<byte> payload) =>
        Frame(key, ipv6, IpProtocol.Tcp, [.. Ports(key), 0, 0, 0x10, 0, 0, 0, 0x13, 0x89, 0x50, (byte)flags, 0xff, 0xff, 0, 0, 0, 0, .. payload]);

    /// <summary>
    /// An ICMP destination unreachable (port unreachable) that belongs to the direction of <paramref name="key"/>:
    /// it quotes the packet of the other direction (the key turned around), as a host or router that refused it sends.
    /// </summary>
    private static byte[] Error(SessionKey key, bool ipv6)
    {
        var quotedFrame = Packet(key.Reversed(), ipv6, "quoted"u8);
        var quoted = quotedFrame.AsSpan(EthernetFrame.UntaggedHeaderLength).ToArray();
        FixQuotedLength(quoted, ipv6);
        var outer = new SessionKey(key.Source, key.Destination, 0, 0, ipv6 ? IpProtocol.Icmpv6 : IpProtocol.Icmp, ipv6);
        return Frame(outer, ipv6, outer.Protocol, [ipv6 ? (byte)1 : (byte)3, ipv6 ? (byte)4 : (byte)3, 0, 0, 0, 0, 0, 0, .. quoted]);
    }

    private static void FixQuotedLength(byte[] ip, bool ipv6)
    {
        if (ipv6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(Ipv6Packet.PayloadLengthOffset), (ushort)(ip.Length - Ipv6Packet.HeaderLength));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(Ipv4Packet.TotalLengthOffset), (ushort)ip.Length);
        }
    }

    private static byte[] Frame(SessionKey key, bool ipv6, byte protocol, ReadOnlySpan<byte> transport)
    {
        byte[] ip;
        if (ipv6)
        {
            ip = new byte[Ipv6Packet.HeaderLength + transport.Length];
            ip[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), (ushort)transport.Length);
            ip[6] = protocol;
            ip[7] = 64;
            BinaryPrimitives.WriteUInt128BigEndian(ip.AsSpan(Ipv6Packet.SourceOffset), key.Source);
            BinaryPrimitives.WriteUInt128BigEndian(ip.AsSpan(Ipv6Packet.DestinationOffset), key.Destination);
            transport.CopyTo(ip.AsSpan(Ipv6Packet.HeaderLength));
        }
        else
        {
            ip = new byte[20 + transport.Length];
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
            ip[6] = 0x40;
            ip[8] = 64;
            ip[9] = protocol;
            BinaryPrimitives.WriteUInt32BigEndian(ip.AsSpan(12), (uint)key.Source);
            BinaryPrimitives.WriteUInt32BigEndian(ip.AsSpan(16), (uint)key.Destination);
            transport.CopyTo(ip.AsSpan(20));
        }

        return Ethernet(Neighbor, ipv6 ? EtherType.Ipv6 : EtherType.Ipv4, ip);
    }

    private static byte[] Ethernet(MacAddress destination, ushort etherType, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + payload.Length];
        new EthernetHeader(destination, Neighbor, etherType).Emit(frame);
        payload.CopyTo(frame.AsSpan(EthernetFrame.UntaggedHeaderLength));
        return frame;
    }

    private static byte[] Ports(SessionKey key) => [.. Be16(key.SourcePort), .. Be16(key.DestinationPort)];

    private static byte[] Be16(ushort value) => [(byte)(value >> 8), (byte)value];
}
