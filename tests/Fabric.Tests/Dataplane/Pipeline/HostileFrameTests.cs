using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>Frames a tenant client crafts to trip the router: each is dropped and counted, and the router goes on.</summary>
public sealed class HostileFrameTests
{
    private const string Bulk = "10.10.1.30";

    [Fact]
    public void Ipv6Segment_SameAddressValuesAsAnIpv4SvrSession_DroppedAndTheSessionGoesOn()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        var before = fabric.Bulk1.Received.Count;

        // ::10.20.1.10 → ::10.10.1.30 holds the same 128-bit values as the IPv4 session's tuple: an ACK with a valid checksum.
        var v6 = Packets.Tcp6(IpAddressConversions.ParseIpv4("10.20.1.10"), IpAddressConversions.ParseIpv4(Bulk), 40000, 5201, TcpFlags.Ack, 101, 5001, [1, 2, 3]);
        fabric.Eng1.SendIpv6(fabric.Br1.Ports[1].Mac, v6);
        fabric.Pump();

        Assert.Equal(1, fabric.Br1.Worker.Counters.Dropped);
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "still here"u8.ToArray());
        fabric.Pump();
        Assert.Equal(before + 1, fabric.Bulk1.Received.Count);
        Assert.Equal("still here"u8.ToArray(), TcpPayload(fabric.Bulk1.Received[^1]));
    }

    private static byte[] TcpPayload(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        return tcp.Payload.ToArray();
    }
}
