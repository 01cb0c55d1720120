using System.Runtime.CompilerServices;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Rewrites a session's packets between what the client addressed (the service's address and port)
/// and what the instance uses, with incremental checksums (RFC 1624). Forward packets get the
/// instance as destination; reverse packets get the service back as source. An ICMP error about a
/// session has its outer address and the packet it quotes rewritten the same way, so the sender
/// recognises its own flow.
/// </summary>
public static class NatStage
{
    /// <summary>
    /// Rewrites the packet in hand for its session, whose keys are <paramref name="forward"/> and <paramref name="reverse"/>:
    /// an IPv4 packet that is no ICMP error (almost every packet of an IPv4 session) by <see cref="TranslateIpv4"/>, any
    /// other by <see cref="TranslateWidened"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Translate(ref PacketContext context, in SessionKey forward, in SessionKey reverse)
    {
        if (!context.IsIpv6 && !context.IsIcmpError)
        {
            TranslateIpv4(ref context, forward, reverse);
        }
        else
        {
            TranslateWidened(ref context, forward, reverse);
        }
    }

    /// <summary>
    /// <see cref="TranslateWidened"/> for an IPv4 packet that is no ICMP error, writing the same octets: the address is taken as
    /// the 32 bits the packet carries (never swapped about as the key's 128-bit value), its change computed once for the IP
    /// header and the transport's pseudo-header, and the port and transport checksum rewritten in one update.
    /// </summary>
    public static void TranslateIpv4(ref PacketContext context, in SessionKey forward, in SessionKey reverse)
    {
        if (forward.Destination == reverse.Source && forward.DestinationPort == reverse.SourcePort)
        {
            return;
        }

        // Towards the instance the destination becomes the instance; back to the client the source becomes the service.
        var toInstance = context.Direction == SessionDirection.Forward;
        var to = toInstance ? (uint)reverse.Source : (uint)forward.Destination;
        var v4 = Ipv4Packet.FromValidated(context.Frame.Slice(context.NetworkOffset, context.IpLength));
        var delta = toInstance ? v4.RewriteDestination(to) : v4.RewriteSource(to);
        switch (context.Key.Protocol)
        {
            case IpProtocol.Tcp:
                TcpSegment.FromValidated(v4.Payload).Translate(delta, toInstance, toInstance ? reverse.SourcePort : forward.DestinationPort);
                break;
            case IpProtocol.Udp:
                UdpDatagram.FromValidated(v4.Payload).Translate(delta, toInstance, toInstance ? reverse.SourcePort : forward.DestinationPort);
                break;
            case IpProtocol.Icmpv6:
                var icmp6 = Icmpv6Packet.FromValidated(v4.Payload);
                icmp6.Checksum = Checksum.Apply(icmp6.Checksum, delta);
                break;
        }
    }

    /// <summary>
    /// The rewrite of any packet of a session: either family, an ICMP error (its quoted packet too), the addresses handled as
    /// the keys' 128-bit values.
    /// </summary>
    public static void TranslateWidened(ref PacketContext context, in SessionKey forward, in SessionKey reverse)
    {
        // The service side as the client sees it, and as the instance is.
        var serviceAddress = forward.Destination;
        var servicePort = forward.DestinationPort;
        var instanceAddress = reverse.Source;
        var instancePort = reverse.SourcePort;
        if (serviceAddress == instanceAddress && servicePort == instancePort)
        {
            return;
        }

        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        var toInstance = context.Direction == SessionDirection.Forward;
        var (from, fromPort, to, toPort) = toInstance
            ? (serviceAddress, servicePort, instanceAddress, instancePort)
            : (instanceAddress, instancePort, serviceAddress, servicePort);
        if (context.IsIcmpError)
        {
            TranslateError(ref context, ip, toInstance, from, fromPort, to, toPort);
            return;
        }

        var echo = context.Key.Protocol is IpProtocol.Icmp or IpProtocol.Icmpv6;
        if (context.IsIpv6)
        {
            var v6 = Ipv6Packet.FromValidated(ip);
            if (toInstance)
            {
                v6.Destination = to;
            }
            else
            {
                v6.Source = to;
            }

            Transport(v6.UpperLayer, context.Key.Protocol, toInstance, Checksum.Delta128(from, to), echo ? (ushort)0 : toPort);
            return;
        }

        // The address's change is computed once: the IP header and the transport's pseudo-header take the same delta.
        var v4 = Ipv4Packet.FromValidated(ip);
        var delta = toInstance ? v4.RewriteDestination((uint)to) : v4.RewriteSource((uint)to);
        Transport(v4.Payload, context.Key.Protocol, toInstance, delta, echo ? (ushort)0 : toPort);
    }

    /// <summary>
    /// Adjusts the transport header: the port (destination towards the instance, source back) and the pseudo-header's
    /// address change, whose checksum delta is <paramref name="addressDelta"/>, in one checksum update.
    /// </summary>
    private static void Transport(Span<byte> bytes, byte protocol, bool destination, ulong addressDelta, ushort toPort)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp:
                TcpSegment.FromValidated(bytes).Translate(addressDelta, destination, toPort);
                break;
            case IpProtocol.Udp:
                UdpDatagram.FromValidated(bytes).Translate(addressDelta, destination, toPort);
                break;
            case IpProtocol.Icmpv6:
                // ICMPv6 covers the pseudo-header: fold the address change in.
                var icmp6 = Icmpv6Packet.FromValidated(bytes);
                icmp6.Checksum = Checksum.Apply(icmp6.Checksum, addressDelta);
                break;
        }
    }

    private static void TranslateError(ref PacketContext context, Span<byte> ip, bool toInstance, UInt128 from, ushort fromPort, UInt128 to, ushort toPort)
    {
        // Outer header: towards the instance the destination changes; back to the client the
        // source changes only if the error comes from the instance itself (not a router on the way).
        Span<byte> icmp;
        if (context.IsIpv6)
        {
            var outer = Ipv6Packet.FromValidated(ip);
            if (toInstance)
            {
                outer.Destination = to;
            }
            else if (outer.Source == from)
            {
                outer.Source = to;
            }

            icmp = outer.UpperLayer;
            var inner = Ipv6Packet.FromValidatedQuoted(icmp[Icmpv6Packet.HeaderLength..]);
            // The quoted packet travelled the other way: its source (towards the instance) or destination (back) is the service side.
            if (toInstance)
            {
                inner.Source = to;
            }
            else
            {
                inner.Destination = to;
            }

            QuotedPorts(inner.UpperLayer, toInstance, fromPort, toPort, context.Key.Protocol);
            var message = Icmpv6Packet.FromValidated(icmp);
            message.UpdateChecksum(outer.PseudoHeaderSum());
            return;
        }

        var outer4 = Ipv4Packet.FromValidated(ip);
        if (toInstance)
        {
            outer4.RewriteDestination((uint)to);
        }
        else if (outer4.Source == (uint)from)
        {
            outer4.RewriteSource((uint)to);
        }

        icmp = outer4.Payload;
        var quoted = Ipv4Packet.FromValidatedQuoted(icmp[Icmpv4Packet.HeaderLength..]);
        if (toInstance)
        {
            quoted.Source = (uint)to;
        }
        else
        {
            quoted.Destination = (uint)to;
        }

        quoted.UpdateHeaderChecksum();
        QuotedPorts(quoted.Payload, toInstance, fromPort, toPort, context.Key.Protocol);
        var message4 = Icmpv4Packet.FromValidated(icmp);
        message4.UpdateChecksum();
    }

    private static void QuotedPorts(Span<byte> transport, bool sourceSide, ushort fromPort, ushort toPort, byte protocol)
    {
        if (fromPort == toPort || transport.Length < 4 || protocol is IpProtocol.Icmp or IpProtocol.Icmpv6)
        {
            return;
        }

        var offset = sourceSide ? 0 : 2;
        transport[offset] = (byte)(toPort >> 8);
        transport[offset + 1] = (byte)toPort;
    }
}
