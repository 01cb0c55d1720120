using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>A bug tripped by one packet costs that packet only: it is dropped, counted with the stage that threw, and the worker goes on.</summary>
public sealed class PipelineFaultTests
{
    private const string Bulk = "10.10.1.30";

    [Fact]
    public void Process_StageThrows_PacketDroppedAsFaultWithItsStageAndTheNextPacketForwarded()
    {
        using var fabric = new SvrFabric();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        var worker = fabric.Br1.Worker;
        var received = fabric.Bulk1.Received.Count;

        // The WAN port throws on the next frame it is handed, as a bug in any stage would.
        var wan = (WirePort)fabric.Br1.Ports[0];
        wan.ThrowOnNextSend = new InvalidOperationException("injected");
        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "lost"u8.ToArray());
        fabric.Pump();

        Assert.Equal(1, worker.Faults.Total);
        Assert.Equal(1, worker.Drops.Total(DropReason.PipelineFault));
        Assert.Equal("PacketWorker.Transmit", worker.Faults.Last!.Stage);
        Assert.Equal("injected", worker.Faults.Last.Message);
        Assert.Equal(received, fabric.Bulk1.Received.Count);

        fabric.Eng1.SendTcp(Bulk, 40000, 5201, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "next"u8.ToArray());
        fabric.Pump();
        Assert.Equal(received + 1, fabric.Bulk1.Received.Count);
    }
}
