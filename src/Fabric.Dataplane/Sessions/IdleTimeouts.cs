using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// Idle timeouts applied when nothing else is configured (specification constants: SVR's documented defaults
/// for UDP and TCP). The caller converts them to the ticks of its clock before handing them to the table.
/// </summary>
public static class DefaultIdleTimeouts
{
    /// <summary>UDP, and every protocol SVR carries as UDP.</summary>
    public static readonly TimeSpan Udp = TimeSpan.FromSeconds(180);

    public static readonly TimeSpan Tcp = TimeSpan.FromSeconds(1900);

    /// <summary>ICMP and ICMPv6 echo. The SVR record gives no figure for ICMP; 30 s is this project's default.</summary>
    public static readonly TimeSpan Icmp = TimeSpan.FromSeconds(30);

    /// <summary>The default timeout of an IP protocol: TCP, ICMP/ICMPv6, or the UDP figure for anything else.</summary>
    public static TimeSpan ForProtocol(byte protocol) => protocol switch
    {
        IpProtocol.Tcp => Tcp,
        IpProtocol.Icmp or IpProtocol.Icmpv6 => Icmp,
        _ => Udp,
    };

    /// <summary>Converts a timeout to the ticks of a clock running at <paramref name="ticksPerSecond"/>.</summary>
    public static long ToTicks(TimeSpan timeout, long ticksPerSecond) =>
        (long)((Int128)timeout.Ticks * ticksPerSecond / TimeSpan.TicksPerSecond);
}
