using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

/// <summary>Builds IP packets from parsed header values for tests, with correct IPv4 header checksums.</summary>
internal static class PacketBuilder
{
    public static byte[] Ipv4(uint source, uint destination, byte protocol, ReadOnlySpan<byte> payload, byte ttl = 64)
    {
        var bytes = new byte[Ipv4Packet.MinHeaderLength + payload.Length];
        new Ipv4Header(0, 0, (ushort)bytes.Length, 0x1234, true, false, 0, ttl, protocol, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(bytes);
        payload.CopyTo(bytes.AsSpan(Ipv4Packet.MinHeaderLength));
        Ipv4Packet.TryCreate(bytes, out var packet);
        packet.UpdateHeaderChecksum();
        return bytes;
    }

    public static byte[] Ipv6(UInt128 source, UInt128 destination, byte nextHeader, ReadOnlySpan<byte> payload, byte hopLimit = 64)
    {
        var bytes = new byte[Ipv6Packet.HeaderLength + payload.Length];
        new Ipv6Header(0, 0, (ushort)payload.Length, nextHeader, hopLimit,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(bytes);
        payload.CopyTo(bytes.AsSpan(Ipv6Packet.HeaderLength));
        return bytes;
    }

    public static byte[] Tcp(TcpHeader header, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[header.EmitLength + payload.Length];
        header.Emit(bytes);
        payload.CopyTo(bytes.AsSpan(header.EmitLength));
        return bytes;
    }

    public static byte[] Udp(ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[UdpDatagram.HeaderLength + payload.Length];
        new UdpHeader(sourcePort, destinationPort, (ushort)bytes.Length, 0).Emit(bytes);
        payload.CopyTo(bytes.AsSpan(UdpDatagram.HeaderLength));
        return bytes;
    }
}
