using System.Buffers.Binary;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// NatStage.Translate takes an IPv4 packet that is no ICMP error through <see cref="NatStage.TranslateIpv4"/>: it must
/// write every octet <see cref="NatStage.TranslateWidened"/> (the general form, for every packet before) writes, for each
/// protocol, both directions, with and without a port change, with header options and with a UDP datagram that carries no
/// checksum. Frames are parsed by <see cref="ParseStage"/> first, as the pipeline gives them to the NAT.
/// </summary>
public sealed class NatStageTests
{
    private const uint Client = 0x0A08_000A;

    [Fact]
    public void TranslateIpv4_RandomFramesOfEveryProtocolBothDirections_WritesWhatTheWidenedFormWrites()
    {
        var random = new Random(1624);
        var changed = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var protocol = (byte)(random.Next(5) switch { 0 => IpProtocol.Tcp, 1 => IpProtocol.Udp, 2 => IpProtocol.Icmp, 3 => IpProtocol.Icmpv6, _ => IpProtocol.Tcp });
            var service = (uint)random.Next();
            var servicePort = (ushort)random.Next(1, 65536);
            // Now and then the instance keeps the service's address or port (or both: nothing to rewrite).
            var instance = random.Next(4) == 0 ? service : (uint)random.Next();
            var instancePort = random.Next(4) == 0 ? servicePort : (ushort)random.Next(1, 65536);
            var clientPort = (ushort)random.Next(1, 65536);
            if (protocol is IpProtocol.Icmp or IpProtocol.Icmpv6)
            {
                // An echo's identifier stands for both ports.
                servicePort = clientPort;
                instancePort = clientPort;
            }

            var forward = SessionKey.V4(Client, service, clientPort, servicePort, protocol);
            var reverse = SessionKey.V4(instance, Client, instancePort, clientPort, protocol);
            var toInstance = random.Next(2) == 0;
            var frame = toInstance
                ? Frame(random, Client, service, clientPort, servicePort, protocol)
                : Frame(random, instance, Client, instancePort, clientPort, protocol);

            var widened = Translated(frame, forward, reverse, toInstance, fast: false);
            var fast = Translated(frame, forward, reverse, toInstance, fast: true);

            Assert.Equal(Convert.ToHexString(widened), Convert.ToHexString(fast));
            changed += widened.AsSpan().SequenceEqual(frame) ? 0 : 1;
        }

        // The comparison is of rewrites, not of frames left alone.
        Assert.True(changed > 15_000, $"{changed} frames rewritten");
    }

    [Fact]
    public void Translate_Ipv4TcpTowardsInstance_RewritesDestinationPortAndKeepsChecksumsValid()
    {
        var random = new Random(5);
        var forward = SessionKey.V4(Client, 0x0AC8_0050, 40000, 80, IpProtocol.Tcp);
        var reverse = SessionKey.V4(0x0A09_000A, Client, 8080, 40000, IpProtocol.Tcp);
        var frame = Frame(random, Client, 0x0AC8_0050, 40000, 80, IpProtocol.Tcp);

        var translated = Translated(frame, forward, reverse, toInstance: true, fast: true);

        var ip = translated.AsSpan(EthernetFrame.UntaggedHeaderLength);
        Assert.True(Ipv4Packet.TryCreate(ip, out var v4) && v4.IsHeaderChecksumValid);
        Assert.Equal(0x0A09_000Au, v4.Destination);
        var tcp = TcpSegment.FromValidated(v4.Payload);
        Assert.Equal(8080, tcp.DestinationPort);
        Assert.Equal(0, Checksum.Finish(Checksum.Add(v4.PseudoHeaderSum(), v4.Payload)));
    }

    /// <summary>A copy of <paramref name="frame"/> parsed and rewritten by the IPv4 form (<paramref name="fast"/>) or the widened one.</summary>
    private static byte[] Translated(byte[] frame, SessionKey forward, SessionKey reverse, bool toInstance, bool fast)
    {
        var copy = (byte[])frame.Clone();
        var headers = default(PacketHeaders);
        var context = new PacketContext(copy, copy, 0, 0, ref headers);
        Assert.Equal(Verdict.Continue, ParseStage.Run(ref context));
        Assert.False(context.IsIcmpError);
        context.Direction = toInstance ? SessionDirection.Forward : SessionDirection.Reverse;
        if (fast)
        {
            NatStage.Translate(ref context, forward, reverse);
        }
        else
        {
            NatStage.TranslateWidened(ref context, forward, reverse);
        }

        return copy;
    }

    /// <summary>
    /// An Ethernet frame of an IPv4 packet (now and then with header options) of <paramref name="protocol"/> with a random
    /// payload and valid checksums (a UDP datagram now and then without one); an ICMP packet is an echo request.
    /// </summary>
    private static byte[] Frame(Random random, uint source, uint destination, ushort sourcePort, ushort destinationPort, byte protocol)
    {
        var ipHeader = random.Next(3) == 0 ? 24 : 20;
        var transportHeader = protocol == IpProtocol.Tcp ? 20 : 8;
        var payload = random.Next(0, 64);
        var ipLength = ipHeader + transportHeader + payload;
        var frame = new byte[EthernetFrame.UntaggedHeaderLength + ipLength];
        random.NextBytes(frame);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(EthernetFrame.TypeOffset), EtherType.Ipv4);
        var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
        ip[0] = (byte)(0x40 | (ipHeader / 4));
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)ipLength);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = (byte)random.Next(2, 256);
        ip[9] = protocol;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], source);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], destination);
        ip[10] = ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip[..ipHeader]));
        var transport = ip[ipHeader..ipLength];
        switch (protocol)
        {
            case IpProtocol.Tcp:
                BinaryPrimitives.WriteUInt16BigEndian(transport, sourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(transport[2..], destinationPort);
                transport[12] = 5 << 4;
                TransportChecksum(transport, 16, Checksum.PseudoHeaderIpv4(source, destination, protocol, transport.Length));
                break;
            case IpProtocol.Udp:
                BinaryPrimitives.WriteUInt16BigEndian(transport, sourcePort);
                BinaryPrimitives.WriteUInt16BigEndian(transport[2..], destinationPort);
                BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transport.Length);
                if (random.Next(4) == 0)
                {
                    transport[6] = transport[7] = 0;
                }
                else
                {
                    TransportChecksum(transport, 6, Checksum.PseudoHeaderIpv4(source, destination, protocol, transport.Length));
                }

                break;
            case IpProtocol.Icmp:
                transport[0] = Icmpv4Type.EchoRequest;
                transport[1] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(transport[4..], sourcePort);
                TransportChecksum(transport, 2, 0);
                break;
            case IpProtocol.Icmpv6:
                transport[0] = Icmpv6Type.EchoRequest;
                transport[1] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(transport[4..], sourcePort);
                TransportChecksum(transport, 2, Checksum.PseudoHeaderIpv4(source, destination, protocol, transport.Length));
                break;
        }

        return frame;
    }

    private static void TransportChecksum(Span<byte> transport, int at, ulong pseudoHeaderSum)
    {
        transport[at] = transport[at + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(transport[at..], Checksum.Finish(Checksum.Add(pseudoHeaderSum, transport)));
    }
}
