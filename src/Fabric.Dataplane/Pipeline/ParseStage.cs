using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// First stage: checks the frame's headers down to the transport layer and fills the context's
/// offsets and 5-tuple. ARP and neighbour discovery are recognised here and answered by the
/// gateway stage. Anything truncated or lying about a length is dropped as malformed; a well-formed
/// frame of a protocol the router does not forward (LLDP, IGMP, ...) as an unsupported protocol.
/// </summary>
public static class ParseStage
{
    public static Verdict Run(ref PacketContext context)
    {
        if (!EthernetFrame.TryCreate(context.Frame, out var ethernet))
        {
            return context.Fail(DropReason.Malformed);
        }

        if (ethernet.HasVlanTag)
        {
            // Ports carry untagged traffic: forwarding a tag onto another port would be wrong.
            return context.Fail(DropReason.VlanTagged);
        }

        // Untagged from here: the type at its fixed offset, the network header after the 14-octet header.
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(context.Frame[EthernetFrame.TypeOffset..]);
        context.EtherType = etherType;
        context.NetworkOffset = EthernetFrame.UntaggedHeaderLength;
        var network = context.Frame[EthernetFrame.UntaggedHeaderLength..];
        switch (etherType)
        {
            case EtherType.Arp:
                return ArpPacket.TryCreate(network, out _) ? Verdict.Continue : context.Fail(DropReason.Malformed);
            case EtherType.Ipv4:
                return Ipv4(ref context, network);
            case EtherType.Ipv6:
                return Ipv6(ref context, network);
            default:
                return context.Fail(DropReason.UnsupportedProtocol);
        }
    }

    private static Verdict Ipv4(ref PacketContext context, Span<byte> bytes)
    {
        if (!Ipv4Packet.TryCreate(bytes, out var ip) || !ip.IsHeaderChecksumValid)
        {
            return context.Fail(DropReason.Malformed);
        }

        context.IpLength = ip.TotalLength;
        context.TransportOffset = context.NetworkOffset + ip.HeaderLength;
        if (ip.FragmentOffset != 0)
        {
            return context.Fail(DropReason.Fragment);
        }

        return Transport(ref context, ip.Payload, ip.Protocol, ip.Source, ip.Destination);
    }

    private static Verdict Ipv6(ref PacketContext context, Span<byte> bytes)
    {
        if (!Ipv6Packet.TryCreate(bytes, out var ip))
        {
            return context.Fail(DropReason.Malformed);
        }

        context.IsIpv6 = true;
        context.IpLength = Ipv6Packet.HeaderLength + ip.PayloadLength;
        if (!ip.HasUpperLayerHeader)
        {
            return context.Fail(DropReason.Fragment);
        }

        context.TransportOffset = context.NetworkOffset + ip.UpperLayerOffset;
        return Transport(ref context, ip.UpperLayer, ip.UpperLayerProtocol, ip.Source, ip.Destination);
    }

    private static Verdict Transport(ref PacketContext context, Span<byte> bytes, byte protocol, UInt128 source, UInt128 destination)
    {
        ushort sourcePort;
        ushort destinationPort;
        switch (protocol)
        {
            case IpProtocol.Tcp:
                if (!TcpSegment.TryCreate(bytes, out var tcp))
                {
                    return context.Fail(DropReason.Malformed);
                }

                sourcePort = tcp.SourcePort;
                destinationPort = tcp.DestinationPort;
                context.TcpFlags = (byte)tcp.Flags;
                break;
            case IpProtocol.Udp:
                if (!UdpDatagram.TryCreate(bytes, out var udp))
                {
                    return context.Fail(DropReason.Malformed);
                }

                sourcePort = udp.SourcePort;
                destinationPort = udp.DestinationPort;
                break;
            case IpProtocol.Icmp:
                if (!Icmpv4Packet.TryCreate(bytes, out var icmp))
                {
                    return context.Fail(DropReason.Malformed);
                }

                if (icmp.IsError)
                {
                    return QuotedFlow(ref context, icmp.Body, isIpv6: false);
                }

                sourcePort = destinationPort = icmp.Identifier;
                break;
            case IpProtocol.Icmpv6:
                if (!Icmpv6Packet.TryCreate(bytes, out var icmp6))
                {
                    return context.Fail(DropReason.Malformed);
                }

                if (icmp6.IsError)
                {
                    return QuotedFlow(ref context, icmp6.Body, isIpv6: true);
                }

                sourcePort = destinationPort = icmp6.Type is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply ? icmp6.Identifier : (ushort)0;
                break;
            default:
                return context.Fail(DropReason.UnsupportedProtocol);
        }

        context.Key = new SessionKey(source, destination, sourcePort, destinationPort, protocol, context.IsIpv6);
        return Verdict.Continue;
    }

    /// <summary>
    /// An ICMP error belongs to the flow of the packet it quotes. The key is that flow turned
    /// around, so it is found in the session table in the direction the error travels.
    /// </summary>
    private static Verdict QuotedFlow(ref PacketContext context, Span<byte> quoted, bool isIpv6)
    {
        UInt128 source;
        UInt128 destination;
        byte protocol;
        Span<byte> transport;
        if (isIpv6)
        {
            if (!Ipv6Packet.TryCreateQuoted(quoted, out var inner, out _) || !inner.HasUpperLayerHeader)
            {
                return context.Fail(DropReason.Malformed);
            }

            source = inner.Source;
            destination = inner.Destination;
            protocol = inner.UpperLayerProtocol;
            transport = inner.UpperLayer;
        }
        else
        {
            if (!Ipv4Packet.TryCreateQuoted(quoted, out var inner, out _))
            {
                return context.Fail(DropReason.Malformed);
            }

            source = inner.Source;
            destination = inner.Destination;
            protocol = inner.Protocol;
            transport = inner.Payload;
        }

        if (transport.Length < 8)
        {
            return context.Fail(DropReason.Malformed);
        }

        ushort sourcePort;
        ushort destinationPort;
        if (protocol is IpProtocol.Icmp or IpProtocol.Icmpv6)
        {
            sourcePort = destinationPort = (ushort)((transport[4] << 8) | transport[5]);
        }
        else
        {
            sourcePort = (ushort)((transport[0] << 8) | transport[1]);
            destinationPort = (ushort)((transport[2] << 8) | transport[3]);
        }

        context.IsIcmpError = true;
        context.Key = new SessionKey(destination, source, destinationPort, sourcePort, protocol, isIpv6);
        return Verdict.Continue;
    }
}

/// <summary>
/// A frame of a receive batch as <see cref="ParseStage.Run"/> left it, kept while the rest of the batch is parsed: the worker
/// parses a batch whole and looks up its sessions together before any packet runs on (<see cref="PacketWorker.ProcessBatch"/>).
/// The packet then runs on <see cref="Headers"/> in place; what else the parse writes into a context (its drop reason) and
/// its verdict are kept here and given back.
/// </summary>
internal struct ParsedHeaders
{
    /// <summary>False: the frame was not parsed ahead (a super-packet, or the parse threw); it is parsed when it runs.</summary>
    public bool Parsed;
    public Verdict Verdict;
    public int Lookup;
    private DropReason _drop;

    /// <summary>What the parse found; a context of the frame reads and writes it in place.</summary>
    public PacketHeaders Headers;

    /// <summary>Keeps the verdict of the parse of <paramref name="context"/>, whose session lookup is at <paramref name="lookup"/> in the batch's lookups (−1: none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Keep(ref PacketContext context, Verdict verdict, int lookup)
    {
        Parsed = true;
        Verdict = verdict;
        Lookup = lookup;
        _drop = context.Drop;
    }

    /// <summary>Gives a fresh context of the same frame, on <see cref="Headers"/>, what else the parse wrote, and returns its verdict.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Verdict Restore(ref PacketContext context)
    {
        context.Drop = _drop;
        context.Lookup = Lookup;
        return Verdict;
    }
}
