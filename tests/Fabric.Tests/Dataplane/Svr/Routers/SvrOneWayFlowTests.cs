using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using static Fabric.Tests.Dataplane.Svr.Routers.SvrFabricTests;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A one-way UDP flow (eng1 → bulk1, bulk1 never answers) through br1 (ingress) and dc1 (egress): the egress answers
/// the forward metadata with a handshake acknowledgement once the reverse direction has been quiet, so the ingress stops
/// signalling and the datagrams cross with 0 bytes added, as a flow with replies does.
/// </summary>
public sealed class SvrOneWayFlowTests
{
    private const string Bulk = "10.10.1.30";
    private static readonly TimeSpan Quiet = SvrStage.ResignalAfterQuiet + TimeSpan.FromMilliseconds(100);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OneWayUdpFlow_EgressAcknowledges_ThenDatagramsCrossWithoutMetadataUntilTheNextResignal(bool keys)
    {
        using var fabric = new SvrFabric();
        if (keys)
        {
            fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        }

        fabric.Bulk1.IsServer = false;
        var sent = 0;
        Send(fabric, ref sent);
        fabric.Pump();

        // The session is new: the reverse direction has not been quiet long enough to call the flow one-way.
        Assert.Empty(WaypointPackets(fabric.BrWan.Received));
        Assert.True(HasMetadata(WaypointPackets(fabric.DcWan.Received)[0]));

        // Half a second later three datagrams leave at once, all still with metadata; the egress acknowledges once.
        fabric.Time.Advance(Quiet);
        for (var i = 0; i < 3; i++)
        {
            Send(fabric, ref sent);
        }

        fabric.Pump();
        Assert.All(WaypointPackets(fabric.DcWan.Received).Skip(1), p => Assert.True(HasMetadata(p)));
        var ack = Assert.Single(WaypointPackets(fabric.BrWan.Received));
        Assert.True(MetadataInsertion.TryLocate(ack, ack.Length, out var block, out _));
        var fields = MetadataFields.Read(block);
        Assert.True(fields.DisableForwardMetadata);
        Assert.Equal(MetadataControl.Keepalive, fields.Control);
        Assert.True(fields.HasReverseContext);
        Assert.Equal(keys, fields.HasSecurityId);
        Assert.Equal(20 + 8 + block.TotalLength + (keys ? PacketSealer.TrailerLength : 0), ack.Length);
        var (source, destination, sourcePort, destinationPort) = SvrFabricTests.Tuple(WaypointPackets(fabric.DcWan.Received)[0]);
        Assert.Equal((destination, source, destinationPort, sourcePort), SvrFabricTests.Tuple(ack));
        Assert.Equal(1, fabric.Dc1.Worker.Counters.MetadataAcknowledgements);

        // After the acknowledgement: no metadata, nothing sealed, 0 bytes added.
        var before = WaypointPackets(fabric.DcWan.Received).Count;
        for (var i = 0; i < 10; i++)
        {
            Send(fabric, ref sent);
            fabric.Pump();
        }

        Assert.All(WaypointPackets(fabric.DcWan.Received).Skip(before), p => Assert.Equal(20 + 8 + 4, p.Length));

        // Quiet again: the ingress re-signals, the egress acknowledges the first signalled datagram, the rest cross bare.
        fabric.Time.Advance(Quiet);
        before = WaypointPackets(fabric.DcWan.Received).Count;
        for (var i = 0; i < 6; i++)
        {
            Send(fabric, ref sent);
            fabric.Pump();
        }

        var resignalled = WaypointPackets(fabric.DcWan.Received).Skip(before).ToList();
        Assert.Equal(new[] { true, false, false, false, false, false }, resignalled.Select(HasMetadata));
        Assert.Equal(2, fabric.Dc1.Worker.Counters.MetadataAcknowledgements);
        Assert.Equal(2, WaypointPackets(fabric.BrWan.Received).Count);

        // Every datagram arrived once, whole and in order; the client got nothing of the acknowledgements.
        Assert.Equal(Enumerable.Range(0, sent), fabric.Bulk1.Received.Select(Sequence));
        Assert.All(fabric.Bulk1.Received, p => Assert.True(Packets.ChecksumsValid(p)));
        Assert.Empty(fabric.Eng1.Received);
        Assert.Equal(0, fabric.Br1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
    }

    [Fact]
    public void BidirectionalUdpFlow_RepliesAnswerTheHandshake_NoAcknowledgementSent()
    {
        using var fabric = new SvrFabric();
        var sent = 0;
        for (var i = 0; i < 6; i++)
        {
            Send(fabric, ref sent);
            fabric.Pump();
            fabric.Time.Advance(Quiet);
        }

        Assert.Equal(0, fabric.Dc1.Worker.Counters.MetadataAcknowledgements);
        Assert.Equal(6, fabric.Eng1.Received.Count);
        Assert.Equal(6, WaypointPackets(fabric.BrWan.Received).Count);
        Assert.Equal(Enumerable.Range(0, 6), fabric.Eng1.Received.Select(Sequence));
    }

    private static void Send(SvrFabric fabric, ref int sent)
    {
        var payload = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(payload, sent++);
        fabric.Eng1.SendUdp(Bulk, 5000, 5201, payload);
    }

    private static int Sequence(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        UdpDatagram.TryCreate(ip.Payload, out var udp);
        return System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(udp.Payload);
    }
}
