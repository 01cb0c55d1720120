using Fabric.Bench;
using Fabric.Dataplane.Wire;
using FsCheck.Xunit;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Wire;

/// <summary>
/// Untrusted bytes never make a wire type throw: creation says no, or every accessor works. Parsing a frame
/// through every layer allocates nothing.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public class WireFuzzTests
{
    private static readonly string[] Seeds =
    [
        Fixtures.ArpRequest, Fixtures.ArpReply, Fixtures.Icmpv4EchoRequest, Fixtures.Icmpv4EchoReply, Fixtures.TcpSyn,
        Fixtures.TcpRstAck, Fixtures.UdpDnsQuery, Fixtures.Icmpv4PortUnreachable, Fixtures.UdpTtlOne,
        Fixtures.Icmpv4TimeExceeded, Fixtures.Icmpv6NeighborSolicitation, Fixtures.Icmpv6NeighborAdvertisement,
        Fixtures.Icmpv6DuplicateAddressDetection, Fixtures.Icmpv6EchoRequest, Fixtures.Icmpv6EchoReply,
        Fixtures.Ipv6MulticastListenerReport, Fixtures.Ipv6HopByHopFirstFragment, Fixtures.Ipv6HopByHopLastFragment,
    ];

    [Property(MaxTest = 2000)]
    public void WireTypes_RandomBytes_NeverThrow(byte[] bytes)
    {
        bytes ??= [];
        ParseEveryLayer(bytes);
        ParseAsEveryType(bytes);
    }

    [Property(MaxTest = 5000)]
    public void WireTypes_MutatedFixtures_NeverThrow(byte seed, ushort position, byte value, ushort cut)
    {
        var bytes = Fixtures.Bytes(Seeds[seed % Seeds.Length]);
        bytes[position % bytes.Length] = value;
        var length = bytes.Length - (cut % 8 == 0 ? cut % bytes.Length : 0);

        ParseEveryLayer(bytes.AsSpan(0, length));
    }

    [Fact]
    public void WireTypes_EveryFixture_ParsesDownToItsTopLayer()
    {
        foreach (var seed in Seeds)
        {
            Assert.True(ParseEveryLayer(Fixtures.Bytes(seed)) >= 2, seed);
        }
    }

    [Fact]
    public void WireTypes_ParsingEveryFixtureThroughEveryLayer_AllocatesNothing()
    {
        var frames = new byte[Seeds.Length][];
        for (var i = 0; i < Seeds.Length; i++)
        {
            frames[i] = Fixtures.Bytes(Seeds[i]);
            ParseEveryLayer(frames[i]);
        }

        var layers = 0;
        var allocated = ThreadAllocations.During(() =>
        {
            for (var round = 0; round < 100; round++)
            {
                foreach (var frame in frames)
                {
                    layers += ParseEveryLayer(frame);
                }
            }
        });

        Assert.Equal(0, allocated);
        Assert.True(layers > 100 * Seeds.Length * 2);
    }

    /// <summary>Parses a frame as a router would and returns how many layers were accepted.</summary>
    private static int ParseEveryLayer(Span<byte> frame)
    {
        if (!EthernetFrame.TryCreate(frame, out var ethernet))
        {
            return 0;
        }

        _ = ethernet.Destination.IsMulticast | ethernet.Source.IsBroadcast | ethernet.DropEligible;
        _ = ethernet.VlanId + ethernet.Priority + ethernet.HeaderLength;
        var payload = ethernet.Payload;
        switch (ethernet.EtherType)
        {
            case EtherType.Arp when ArpPacket.TryCreate(payload, out var arp):
                _ = arp.Operation + arp.SenderProtocolAddress + arp.TargetProtocolAddress;
                _ = arp.SenderHardwareAddress.Value + arp.TargetHardwareAddress.Value;
                return 2;
            case EtherType.Ipv4 when Ipv4Packet.TryCreate(payload, out var ipv4):
                Touch(ipv4);
                return 2 + ParseTransport(ipv4.Protocol, ipv4.Payload, ipv4.PseudoHeaderSum(), ipv6: false);
            case EtherType.Ipv6 when Ipv6Packet.TryCreate(payload, out var ipv6):
                Touch(ipv6);
                return 2 + (ipv6.HasUpperLayerHeader ? ParseTransport(ipv6.UpperLayerProtocol, ipv6.UpperLayer, ipv6.PseudoHeaderSum(), ipv6: true) : 0);
            default:
                return 1;
        }
    }

    private static void ParseAsEveryType(Span<byte> bytes)
    {
        ArpPacket.TryCreate(bytes, out _);
        if (Ipv4Packet.TryCreate(bytes, out var ipv4))
        {
            Touch(ipv4);
        }

        if (Ipv4Packet.TryCreateQuoted(bytes, out var quoted4, out _))
        {
            Touch(quoted4);
        }

        if (Ipv6Packet.TryCreate(bytes, out var ipv6))
        {
            Touch(ipv6);
        }

        if (Ipv6Packet.TryCreateQuoted(bytes, out var quoted6, out _))
        {
            Touch(quoted6);
        }

        ParseTransport(IpProtocol.Tcp, bytes, 0, ipv6: false);
        ParseTransport(IpProtocol.Udp, bytes, 0, ipv6: false);
        ParseTransport(IpProtocol.Icmp, bytes, 0, ipv6: false);
        ParseTransport(IpProtocol.Icmpv6, bytes, 0, ipv6: true);
        _ = Ipv4Header.TryParse(bytes, out _);
        _ = Ipv6Header.TryParse(bytes, out _);
        _ = TcpHeader.TryParse(bytes, out _);
        _ = UdpHeader.TryParse(bytes, out _);
        _ = EthernetHeader.TryParse(bytes, out _);
        _ = ArpMessage.TryParse(bytes, out _);
        _ = Icmpv4Header.TryParse(bytes, out _);
        _ = Icmpv6Header.TryParse(bytes, out _);
    }

    private static int ParseTransport(byte protocol, Span<byte> bytes, ulong pseudoHeaderSum, bool ipv6)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp when TcpSegment.TryCreate(bytes, out var tcp):
                _ = tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + tcp.Window + tcp.UrgentPointer;
                _ = (tcp.Flags & TcpFlags.Syn) != 0 | tcp.IsChecksumValid(pseudoHeaderSum);
                _ = tcp.Options.Length + tcp.Payload.Length;
                tcp.TryGetMaximumSegmentSize(out _);
                tcp.TryFindOption(TcpOptionKind.Timestamps, out _);
                tcp.TryClampMaximumSegmentSize(536);
                return 1;
            case IpProtocol.Udp when UdpDatagram.TryCreate(bytes, out var udp):
                _ = udp.SourcePort + udp.DestinationPort + udp.Length + udp.Payload.Length;
                _ = udp.IsChecksumValid(pseudoHeaderSum);
                udp.RewriteSourcePort(1);
                return 1;
            case IpProtocol.Icmp when !ipv6 && Icmpv4Packet.TryCreate(bytes, out var icmp):
                _ = icmp.Type + icmp.Code + icmp.Identifier + icmp.SequenceNumber + icmp.NextHopMtu + icmp.RestOfHeader + icmp.Body.Length;
                _ = icmp.IsChecksumValid;
                if (icmp.TryGetOriginalPacket(out var original))
                {
                    Touch(original);
                    UdpDatagram.TryCreateQuoted(original.Payload, out _);
                }

                return 1;
            case IpProtocol.Icmpv6 when ipv6 && Icmpv6Packet.TryCreate(bytes, out var icmp6):
                _ = icmp6.Type + icmp6.Code + icmp6.Identifier + icmp6.SequenceNumber + icmp6.Mtu;
                _ = icmp6.TargetAddress;
                _ = icmp6.NeighborOptions.Length;
                _ = icmp6.IsRouter | icmp6.IsSolicited | icmp6.IsOverride | icmp6.IsChecksumValid(pseudoHeaderSum);
                icmp6.TryGetSourceLinkLayerAddress(out _);
                icmp6.TryGetTargetLinkLayerAddress(out _);
                if (icmp6.TryGetOriginalPacket(out var original6))
                {
                    Touch(original6);
                }

                return 1;
            default:
                return 0;
        }
    }

    private static void Touch(Ipv4Packet ip)
    {
        _ = ip.Version + ip.HeaderLength + ip.Dscp + ip.Ecn + ip.TotalLength + ip.Identification + ip.FragmentOffset + ip.Ttl + ip.Protocol;
        _ = ip.DontFragment | ip.MoreFragments | ip.IsFragment | ip.IsHeaderChecksumValid;
        _ = ip.Source + ip.Destination + ip.HeaderChecksum + ip.Options.Length + ip.Payload.Length + ip.PayloadLength;
        ip.TryDecrementTtl();
    }

    private static void Touch(Ipv6Packet ip)
    {
        _ = ip.Version + ip.TrafficClass + ip.FlowLabel + ip.PayloadLength + ip.NextHeader + ip.HopLimit;
        _ = ip.Source + ip.Destination;
        _ = ip.UpperLayerProtocol + ip.UpperLayerOffset + ip.UpperLayer.Length + ip.Payload.Length;
        _ = ip.IsFragment | ip.MoreFragments | ip.HasUpperLayerHeader;
        _ = ip.FragmentOffset + ip.FragmentIdentification;
        ip.TryDecrementHopLimit();
    }
}
