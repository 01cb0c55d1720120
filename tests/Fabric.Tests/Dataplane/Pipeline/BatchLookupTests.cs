using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// A receive batch's sessions are looked up together before its packets run (PacketWorker.ProcessBatch): what the
/// packets before one change in the table is seen by it, as when each packet arrives alone.
/// </summary>
public sealed class BatchLookupTests
{
    private const string Web = "10.200.0.80";

    [Fact]
    public void ReceiveBatch_SeveralDatagramsOfOneNewFlow_OneSessionCarriesThemAll()
    {
        using var lab = new RouterFixture();
        for (var i = 0; i < 5; i++)
        {
            lab.Eng2.SendUdp(Web, 40000, 53, [(byte)i]);
        }

        lab.Pump();

        Assert.Equal(1, lab.Router.Worker.Counters.SessionsCreated);
        Assert.Equal(0, lab.Router.Worker.Counters.Dropped);
        Assert.Equal(5, lab.Web1.Received.Count + lab.Web2.Received.Count);
    }

    [Fact]
    public void ReceiveBatch_NewFlowsBetweenPacketsOfEstablishedOnes_EachPacketFindsItsSession()
    {
        using var lab = new RouterFixture();
        lab.Eng2.SendUdp(Web, 41000, 53, [0]);
        lab.Pump();
        var before = lab.Web1.Received.Count + lab.Web2.Received.Count;

        for (var i = 0; i < 20; i++)
        {
            lab.Eng2.SendUdp(Web, 41000, 53, [1]);
            lab.Eng2.SendUdp(Web, (ushort)(42000 + (i % 4)), 53, [2]);
        }

        lab.Pump();

        Assert.Equal(5, lab.Router.Worker.Counters.SessionsCreated);
        Assert.Equal(0, lab.Router.Worker.Counters.Dropped);
        Assert.Equal(before + 40, lab.Web1.Received.Count + lab.Web2.Received.Count);
    }
}
