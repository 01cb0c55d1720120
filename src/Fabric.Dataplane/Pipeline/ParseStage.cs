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
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Verdict Run(ref PacketContext context)
    {
        var verdict = Run(context.Frame, ref context.Headers, out var drop);
        if (verdict == Verdict.Drop)
        {
            context.Drop = drop;
        }

        return verdict;
    }

    /// <summary>
    /// Parses <paramref name="frame"/> into <paramref name="headers"/> (cleared, or left as a parse of the same frame left them):
    /// what <see cref="Run(ref PacketContext)"/> does without a context, for a batch parsed ahead of its packets running.
    /// </summary>
    /// <param name="drop">Why the frame is dropped when the verdict is <see cref="Verdict.Drop"/>; else <see cref="DropReason.None"/>.</param>
    public static Verdict Run(Span<byte> frame, ref PacketHeaders headers, out DropReason drop)
    {
        drop = DropReason.None;
        if (!EthernetFrame.TryCreate(frame, out var ethernet))
        {
            return Fail(ref drop, DropReason.Malformed);
        }

        if (ethernet.HasVlanTag)
        {
            // Ports carry untagged traffic: forwarding a tag onto another port would be wrong.
            return Fail(ref drop, DropReason.VlanTagged);
        }

        // Untagged from here: the type at its fixed offset, the network header after the 14-octet header.
        var etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[EthernetFrame.TypeOffset..]);
        headers.EtherType = etherType;
        headers.NetworkOffset = EthernetFrame.UntaggedHeaderLength;
        var network = frame[EthernetFrame.UntaggedHeaderLength..];
        switch (etherType)
        {
            case EtherType.Arp:
                return ArpPacket.TryCreate(network, out _) ? Verdict.Continue : Fail(ref drop, DropReason.Malformed);
            case EtherType.Ipv4:
                return Ipv4(ref headers, network, ref drop);
            case EtherType.Ipv6:
                return Ipv6(ref headers, network, ref drop);
            default:
                return Fail(ref drop, DropReason.UnsupportedProtocol);
        }
    }

    private static Verdict Ipv4(ref PacketHeaders headers, Span<byte> bytes, ref DropReason drop)
    {
        if (!Ipv4Packet.TryCreate(bytes, out var ip) || !ip.IsHeaderChecksumValid)
        {
            return Fail(ref drop, DropReason.Malformed);
        }

        headers.IpLength = ip.TotalLength;
        headers.TransportOffset = headers.NetworkOffset + ip.HeaderLength;
        if (ip.FragmentOffset != 0)
        {
            return Fail(ref drop, DropReason.Fragment);
        }

        return Transport(ref headers, ip.Payload, ip.Protocol, ip.Source, ip.Destination, ref drop);
    }

    private static Verdict Ipv6(ref PacketHeaders headers, Span<byte> bytes, ref DropReason drop)
    {
        if (!Ipv6Packet.TryCreate(bytes, out var ip))
        {
            return Fail(ref drop, DropReason.Malformed);
        }

        headers.IsIpv6 = true;
        headers.IpLength = Ipv6Packet.HeaderLength + ip.PayloadLength;
        if (!ip.HasUpperLayerHeader)
        {
            return Fail(ref drop, DropReason.Fragment);
        }

        headers.TransportOffset = headers.NetworkOffset + ip.UpperLayerOffset;
        return Transport(ref headers, ip.UpperLayer, ip.UpperLayerProtocol, ip.Source, ip.Destination, ref drop);
    }

    private static Verdict Transport(ref PacketHeaders headers, Span<byte> bytes, byte protocol, UInt128 source, UInt128 destination, ref DropReason drop)
    {
        ushort sourcePort;
        ushort destinationPort;
        switch (protocol)
        {
            case IpProtocol.Tcp:
                if (!TcpSegment.TryCreate(bytes, out var tcp))
                {
                    return Fail(ref drop, DropReason.Malformed);
                }

                sourcePort = tcp.SourcePort;
                destinationPort = tcp.DestinationPort;
                headers.TcpFlags = (byte)tcp.Flags;
                headers.TcpSequence = tcp.SequenceNumber;
                headers.TcpHeaderLength = (byte)tcp.HeaderLength;
                break;
            case IpProtocol.Udp:
                if (!UdpDatagram.TryCreate(bytes, out var udp))
                {
                    return Fail(ref drop, DropReason.Malformed);
                }

                sourcePort = udp.SourcePort;
                destinationPort = udp.DestinationPort;
                break;
            case IpProtocol.Icmp:
                if (!Icmpv4Packet.TryCreate(bytes, out var icmp))
                {
                    return Fail(ref drop, DropReason.Malformed);
                }

                if (icmp.IsError)
                {
                    return QuotedFlow(ref headers, icmp.Body, isIpv6: false, ref drop);
                }

                sourcePort = destinationPort = icmp.Identifier;
                break;
            case IpProtocol.Icmpv6:
                if (!Icmpv6Packet.TryCreate(bytes, out var icmp6))
                {
                    return Fail(ref drop, DropReason.Malformed);
                }

                if (icmp6.IsError)
                {
                    return QuotedFlow(ref headers, icmp6.Body, isIpv6: true, ref drop);
                }

                sourcePort = destinationPort = icmp6.Type is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply ? icmp6.Identifier : (ushort)0;
                break;
            default:
                return Fail(ref drop, DropReason.UnsupportedProtocol);
        }

        headers.Key = new SessionKey(source, destination, sourcePort, destinationPort, protocol, headers.IsIpv6);
        return Verdict.Continue;
    }

    /// <summary>
    /// An ICMP error belongs to the flow of the packet it quotes. The key is that flow turned
    /// around, so it is found in the session table in the direction the error travels.
    /// </summary>
    private static Verdict QuotedFlow(ref PacketHeaders headers, Span<byte> quoted, bool isIpv6, ref DropReason drop)
    {
        UInt128 source;
        UInt128 destination;
        byte protocol;
        Span<byte> transport;
        if (isIpv6)
        {
            if (!Ipv6Packet.TryCreateQuoted(quoted, out var inner, out _) || !inner.HasUpperLayerHeader)
            {
                return Fail(ref drop, DropReason.Malformed);
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
                return Fail(ref drop, DropReason.Malformed);
            }

            source = inner.Source;
            destination = inner.Destination;
            protocol = inner.Protocol;
            transport = inner.Payload;
        }

        if (transport.Length < 8)
        {
            return Fail(ref drop, DropReason.Malformed);
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

        headers.IsIcmpError = true;
        headers.Key = new SessionKey(destination, source, destinationPort, sourcePort, protocol, isIpv6);
        return Verdict.Continue;
    }

    private static Verdict Fail(ref DropReason drop, DropReason reason)
    {
        drop = reason;
        return Verdict.Drop;
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

    /// <summary>Keeps the verdict of the parse of <see cref="Headers"/> (and its drop reason), whose session lookup is at <paramref name="lookup"/> in the batch's lookups (−1: none).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Keep(Verdict verdict, DropReason drop, int lookup)
    {
        Parsed = true;
        Verdict = verdict;
        Lookup = lookup;
        _drop = drop;
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
