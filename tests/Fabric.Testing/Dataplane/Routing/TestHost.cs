using System.Buffers.Binary;
using System.Net;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// A simulated container on an in-memory port: it resolves its gateway with ARP, sends real frames,
/// and (as a server) answers pings, echoes UDP and runs the server half of a TCP handshake, echoing
/// data back. Everything it receives is kept for the test to look at.
/// </summary>
public sealed class TestHost(string name, InMemoryPort port, MacAddress mac, string address, string gateway)
{
    private MacAddress? _gatewayMac;

    public string Name { get; } = name;

    public InMemoryPort Port { get; } = port;

    public MacAddress Mac { get; } = mac;

    public uint Address { get; } = IpAddressConversions.ParseIpv4(address);

    public uint Gateway { get; } = IpAddressConversions.ParseIpv4(gateway);

    /// <summary>IPv4 packets delivered to this host (IP header first).</summary>
    public List<byte[]> Received { get; } = [];

    /// <summary>The host's IPv6 address, when it has one: it answers neighbour solicitations for it.</summary>
    public UInt128? Address6 { get; init; }

    /// <summary>IPv6 packets (other than neighbour discovery) delivered to this host.</summary>
    public List<byte[]> Received6 { get; } = [];

    /// <summary>Answer pings, echo UDP, accept TCP and echo its data (a test turns it off to make a host a sink that never answers).</summary>
    public bool IsServer { get; set; }

    private readonly List<byte[]> _pending = [];

    /// <summary>Handles what arrived; returns how many frames it took.</summary>
    public int Process()
    {
        var taken = 0;
        while (Port.TryTake(out var frame))
        {
            taken++;
            if (!EthernetFrame.TryCreate(frame, out var ethernet))
            {
                continue;
            }

            if (ethernet.EtherType == EtherType.Arp && ArpPacket.TryCreate(ethernet.Payload, out var arp))
            {
                if (arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == Address)
                {
                    Send(arp.SenderHardwareAddress, EtherType.Arp, Arp(ArpOperation.Reply, arp.SenderHardwareAddress, arp.SenderProtocolAddress));
                }
                else if (arp.Operation == ArpOperation.Reply && arp.SenderProtocolAddress == Gateway)
                {
                    _gatewayMac = arp.SenderHardwareAddress;
                    foreach (var packet in _pending)
                    {
                        Send(_gatewayMac.Value, EtherType.Ipv4, packet);
                    }

                    _pending.Clear();
                }

                continue;
            }

            if (ethernet.EtherType == EtherType.Ipv6)
            {
                Ipv6(ethernet.Source, ethernet.Payload.ToArray());
                continue;
            }

            if (ethernet.EtherType != EtherType.Ipv4 || ethernet.Destination != Mac)
            {
                continue;
            }

            var ip = ethernet.Payload.ToArray();
            Received.Add(ip);
            if (IsServer && Packets.ChecksumsValid(ip))
            {
                // A real stack drops what fails its checksum: only whole packets are answered.
                Serve(ethernet.Source, ip);
            }
        }

        return taken;
    }

    /// <summary>Sends an IPv4 packet via the gateway, resolving it first if needed.</summary>
    public void SendIp(byte[] packet)
    {
        if (_gatewayMac is { } mac)
        {
            Send(mac, EtherType.Ipv4, packet);
            return;
        }

        _pending.Add(packet);
        if (_pending.Count == 1)
        {
            Send(MacAddress.Broadcast, EtherType.Arp, Arp(ArpOperation.Request, MacAddress.Zero, Gateway));
        }
    }

    public void Ping(string destination, ushort id, ushort sequence) =>
        SendIp(Packets.Icmp(Address, IpAddressConversions.ParseIpv4(destination), Icmpv4Type.EchoRequest, id, sequence, [1, 2, 3, 4]));

    public void SendUdp(string destination, ushort sourcePort, ushort destinationPort, byte[] payload) =>
        SendIp(Packets.Udp(Address, IpAddressConversions.ParseIpv4(destination), sourcePort, destinationPort, payload));

    public void SendTcp(string destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, uint sequence, uint acknowledgment, byte[] payload, byte ttl = 64) =>
        SendIp(Packets.Tcp(Address, IpAddressConversions.ParseIpv4(destination), sourcePort, destinationPort, flags, sequence, acknowledgment, payload, ttl));

    /// <summary>
    /// Sends <paramref name="text"/> as data on a TCP connection the test opened (acknowledging a server's 5000 + 1), lets
    /// <paramref name="pump"/> carry it, and checks that exactly one reply came back: the same text (a <see cref="IsServer"/>
    /// host's echo) from <paramref name="destinationPort"/> to <paramref name="sourcePort"/>, its checksums valid.
    /// </summary>
    public void AssertTcpEcho(string destination, ushort sourcePort, ushort destinationPort, uint sequence, string text, Action pump)
    {
        ArgumentNullException.ThrowIfNull(pump);
        var before = Received.Count;
        SendTcp(destination, sourcePort, destinationPort, TcpFlags.Ack | TcpFlags.Psh, sequence, 5001, System.Text.Encoding.ASCII.GetBytes(text));
        pump();
        var reply = Assert.Single(Received.Skip(before));
        Assert.True(Packets.ChecksumsValid(reply));
        Ipv4Packet.TryCreate(reply, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        Assert.Equal(text, System.Text.Encoding.ASCII.GetString(tcp.Payload));
        Assert.Equal((destinationPort, sourcePort), (tcp.SourcePort, tcp.DestinationPort));
    }

    private void Serve(MacAddress router, byte[] ip)
    {
        Ipv4Packet.TryCreate(ip, out var packet);
        var source = packet.Source;
        switch (packet.Protocol)
        {
            case IpProtocol.Icmp when Icmpv4Packet.TryCreate(packet.Payload, out var icmp) && icmp.Type == Icmpv4Type.EchoRequest:
                Send(router, EtherType.Ipv4, Packets.Icmp(Address, source, Icmpv4Type.EchoReply, icmp.Identifier, icmp.SequenceNumber, icmp.Body.ToArray()));
                break;
            case IpProtocol.Udp when UdpDatagram.TryCreate(packet.Payload, out var udp):
                Send(router, EtherType.Ipv4, Packets.Udp(Address, source, udp.DestinationPort, udp.SourcePort, udp.Payload.ToArray()));
                break;
            case IpProtocol.Tcp when TcpSegment.TryCreate(packet.Payload, out var tcp):
                var flags = tcp.Flags;
                var data = tcp.Payload.ToArray();
                if ((flags & TcpFlags.Syn) != 0 && (flags & TcpFlags.Ack) == 0)
                {
                    Send(router, EtherType.Ipv4, Packets.Tcp(Address, source, tcp.DestinationPort, tcp.SourcePort, TcpFlags.Syn | TcpFlags.Ack, 5000, tcp.SequenceNumber + 1, []));
                }
                else if (data.Length > 0)
                {
                    Send(router, EtherType.Ipv4, Packets.Tcp(Address, source, tcp.DestinationPort, tcp.SourcePort, TcpFlags.Ack | TcpFlags.Psh, tcp.AcknowledgmentNumber, tcp.SequenceNumber + (uint)data.Length, data));
                }

                break;
        }
    }

    private void Ipv6(MacAddress from, byte[] packet)
    {
        if (Address6 is not { } own || !Ipv6Packet.TryCreate(packet, out var ip) || !Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp) && ip.UpperLayerProtocol == IpProtocol.Icmpv6)
        {
            return;
        }

        if (ip.UpperLayerProtocol == IpProtocol.Icmpv6 && icmp.IsNeighborSolicitation)
        {
            if (icmp.TargetAddress == own)
            {
                var frame = new byte[86];
                var length = Fabric.Dataplane.Pipeline.ControlMessages.NeighborAdvertisement(frame, Mac, from, own, ip.Source, solicited: true);
                Port.Send(frame.AsSpan(0, length));
            }

            return;
        }

        if (ip.Destination != own)
        {
            return;
        }

        Received6.Add(packet);
        if (!IsServer || !Packets.ChecksumsValid6(packet))
        {
            return;
        }

        if (ip.UpperLayerProtocol == IpProtocol.Icmpv6 && icmp.Type == Icmpv6Type.EchoRequest)
        {
            Send(from, EtherType.Ipv6, Packets.Icmp6(own, ip.Source, Icmpv6Type.EchoReply, icmp.Identifier, icmp.SequenceNumber, icmp.Body.ToArray()));
        }
        else if (ip.UpperLayerProtocol == IpProtocol.Udp && UdpDatagram.TryCreate(ip.UpperLayer, out var udp))
        {
            Send(from, EtherType.Ipv6, Packets.Udp6(own, ip.Source, udp.DestinationPort, udp.SourcePort, udp.Payload.ToArray()));
        }
        else if (ip.UpperLayerProtocol == IpProtocol.Tcp && TcpSegment.TryCreate(ip.UpperLayer, out var tcp))
        {
            var data = tcp.Payload.ToArray();
            if ((tcp.Flags & TcpFlags.Syn) != 0 && (tcp.Flags & TcpFlags.Ack) == 0)
            {
                Send(from, EtherType.Ipv6, Packets.Tcp6(own, ip.Source, tcp.DestinationPort, tcp.SourcePort, TcpFlags.Syn | TcpFlags.Ack, 5000, tcp.SequenceNumber + 1, []));
            }
            else if (data.Length > 0)
            {
                Send(from, EtherType.Ipv6, Packets.Tcp6(
                    own, ip.Source, tcp.DestinationPort, tcp.SourcePort, TcpFlags.Ack | TcpFlags.Psh, tcp.AcknowledgmentNumber, tcp.SequenceNumber + (uint)data.Length, data));
            }
        }
    }

    /// <summary>Sends an IPv6 packet straight to a known router MAC (the tests give it; no router discovery here).</summary>
    public void SendIpv6(MacAddress router, byte[] packet) => Send(router, EtherType.Ipv6, packet);

    private byte[] Arp(ushort operation, MacAddress targetMac, uint target)
    {
        var bytes = new byte[ArpPacket.Length];
        new ArpMessage(operation, Mac, IpAddressConversions.ToIPAddress(Address), targetMac, IpAddressConversions.ToIPAddress(target)).Emit(bytes);
        return bytes;
    }

    private void Send(MacAddress destination, ushort etherType, byte[] payload)
    {
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + payload.Length];
        new EthernetHeader(destination, Mac, etherType).Emit(frame);
        payload.CopyTo(frame, EthernetFrame.UntaggedHeaderLength);
        Port.Send(frame);
    }
}

/// <summary>Builds IPv4 packets with correct checksums, for tests.</summary>
public static class Packets
{
    public static byte[] Ip(uint source, uint destination, byte protocol, byte[] transport, byte ttl = 64)
    {
        var packet = new byte[20 + transport.Length];
        new Ipv4Header(0, 0, (ushort)packet.Length, 1, true, false, 0, ttl, protocol, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(packet);
        transport.CopyTo(packet, 20);
        Ipv4Packet.TryCreate(packet, out var ip);
        ip.UpdateHeaderChecksum();
        return packet;
    }

    public static byte[] Udp(uint source, uint destination, ushort sourcePort, ushort destinationPort, byte[] payload)
    {
        var packet = Ip(source, destination, IpProtocol.Udp, new byte[8 + payload.Length]);
        Ipv4Packet.TryCreate(packet, out var ip);
        var udp = ip.Payload;
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udp.Length);
        payload.CopyTo(udp[8..]);
        UdpDatagram.TryCreate(udp, out var datagram);
        datagram.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    public static byte[] Tcp(uint source, uint destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, uint sequence, uint acknowledgment, byte[] payload, byte ttl = 64)
    {
        var packet = Ip(source, destination, IpProtocol.Tcp, new byte[20 + payload.Length], ttl);
        Ipv4Packet.TryCreate(packet, out var ip);
        var tcp = ip.Payload;
        new TcpHeader(sourcePort, destinationPort, sequence, acknowledgment, flags, 65535, 0, 0).Emit(tcp);
        payload.CopyTo(tcp[20..]);
        TcpSegment.TryCreate(tcp, out var segment);
        segment.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    public static byte[] Icmp(uint source, uint destination, byte type, ushort id, ushort sequence, byte[] body)
    {
        var packet = Ip(source, destination, IpProtocol.Icmp, new byte[8 + body.Length]);
        Ipv4Packet.TryCreate(packet, out var ip);
        var icmp = ip.Payload;
        Icmpv4Header.Echo(type, id, sequence).Emit(icmp);
        body.CopyTo(icmp[8..]);
        Icmpv4Packet.TryCreate(icmp, out var message);
        message.UpdateChecksum();
        return packet;
    }

    public static byte[] Udp6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, byte[] payload)
    {
        var packet = new byte[40 + 8 + payload.Length];
        new Ipv6Header(0, 0, (ushort)(8 + payload.Length), IpProtocol.Udp, 64,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(packet);
        var udp = packet.AsSpan(40);
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udp.Length);
        payload.CopyTo(udp[8..]);
        Ipv6Packet.TryCreate(packet, out var ip);
        UdpDatagram.TryCreate(ip.UpperLayer, out var datagram);
        datagram.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    /// <summary>An ICMPv6 echo (request or reply) with its checksum over the IPv6 pseudo-header.</summary>
    public static byte[] Icmp6(UInt128 source, UInt128 destination, byte type, ushort id, ushort sequence, byte[] body)
    {
        var packet = new byte[40 + 8 + body.Length];
        new Ipv6Header(0, 0, (ushort)(8 + body.Length), IpProtocol.Icmpv6, 64,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(packet);
        Ipv6Packet.TryCreate(packet, out var ip);
        var icmp = ip.UpperLayer;
        Icmpv6Header.Echo(type, id, sequence).Emit(icmp);
        body.CopyTo(icmp[8..]);
        Icmpv6Packet.TryCreate(icmp, out var message);
        message.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    public static byte[] Tcp6(UInt128 source, UInt128 destination, ushort sourcePort, ushort destinationPort, TcpFlags flags, uint sequence, uint acknowledgment, byte[] payload)
    {
        var packet = new byte[40 + 20 + payload.Length];
        new Ipv6Header(0, 0, (ushort)(20 + payload.Length), IpProtocol.Tcp, 64,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(packet);
        Ipv6Packet.TryCreate(packet, out var ip);
        var tcp = ip.UpperLayer;
        new TcpHeader(sourcePort, destinationPort, sequence, acknowledgment, flags, 65535, 0, 0).Emit(tcp);
        payload.CopyTo(tcp[20..]);
        TcpSegment.TryCreate(tcp, out var segment);
        segment.UpdateChecksum(ip.PseudoHeaderSum());
        return packet;
    }

    /// <summary>Checks every checksum of an IPv4 packet a host received: what a real stack would verify.</summary>
    public static bool ChecksumsValid(byte[] packet)
    {
        if (!Ipv4Packet.TryCreate(packet, out var ip) || !ip.IsHeaderChecksumValid)
        {
            return false;
        }

        return ip.Protocol switch
        {
            IpProtocol.Tcp => TcpSegment.TryCreate(ip.Payload, out var tcp) && tcp.IsChecksumValid(ip.PseudoHeaderSum()),
            IpProtocol.Udp => UdpDatagram.TryCreate(ip.Payload, out var udp) && udp.IsChecksumValid(ip.PseudoHeaderSum()),
            IpProtocol.Icmp => Icmpv4Packet.TryCreate(ip.Payload, out var icmp) && icmp.IsChecksumValid,
            _ => true,
        };
    }

    /// <summary>Checks the TCP, UDP or ICMPv6 checksum of an IPv6 packet a host received (each covers the pseudo-header; UDP over IPv6 must have one).</summary>
    public static bool ChecksumsValid6(byte[] packet) =>
        Ipv6Packet.TryCreate(packet, out var ip)
        && ip.UpperLayerProtocol switch
        {
            IpProtocol.Tcp => TcpSegment.TryCreate(ip.UpperLayer, out var tcp) && tcp.IsChecksumValid(ip.PseudoHeaderSum()),
            IpProtocol.Udp => UdpDatagram.TryCreate(ip.UpperLayer, out var udp) && udp.IsChecksumValid(ip.PseudoHeaderSum()),
            IpProtocol.Icmpv6 => Icmpv6Packet.TryCreate(ip.UpperLayer, out var icmp) && icmp.IsChecksumValid(ip.PseudoHeaderSum()),
            _ => true,
        };

    public static IPAddress Source(byte[] packet) => IpAddressConversions.ToIPAddress(BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(12)));
}
