using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>Session keys and payloads for the session table tests.</summary>
internal static class Keys
{
    /// <summary>A distinct IPv4 TCP key per id: 10.0.x.y:port → 192.0.2.1:443.</summary>
    public static SessionKey Tcp(int id) => Ipv4(id, IpProtocol.Tcp);

    public static SessionKey Udp(int id) => Ipv4(id, IpProtocol.Udp);

    public static SessionKey Icmp(int id) =>
        new(0x0A00_0000u + (uint)(id >> 16), 0xC000_0201u, (ushort)id, (ushort)id, IpProtocol.Icmp, IsIpv6: false);

    /// <summary>A distinct IPv6 UDP key per id: 2001:db8::id → 2001:db8::1.</summary>
    public static SessionKey Ipv6(int id) =>
        new(new UInt128(0x2001_0DB8_0000_0000, (ulong)id), new UInt128(0x2001_0DB8_0000_0000, 1), 5353, 53,
            IpProtocol.Udp, IsIpv6: true);

    private static SessionKey Ipv4(int id, byte protocol) =>
        new(0x0A00_0000u + (uint)(id >> 12), 0xC000_0201u, (ushort)(1024 + (id & 0xFFF)), 443, protocol, IsIpv6: false);
}

/// <summary>A 32-byte payload, the size the pipeline's session record aims at.</summary>
public record struct Payload32(long A, long B, long C, long D)
{
    public static Payload32 From(long value) => new(value, ~value, value * 3, value ^ 0x5555);
}

/// <summary>A payload with no fields (one byte, as .NET gives every struct).</summary>
public struct EmptyPayload;
