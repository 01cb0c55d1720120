using Fabric.Bench;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Pipeline;

/// <summary>
/// Health checks cost the packet path nothing: the timer a worker runs every round when no probe is due, and the answers
/// it takes (here, answers to a probe already answered), allocate nothing.
/// </summary>
[Collection(AllocationMeasurement.Name)]
public sealed class InstanceProbeAllocationTests
{
    [Fact]
    public void TickWithNothingDue_AndAnswersTaken_AllocateNothing()
    {
        using var lab = new RouterFixture(InstanceProbeStageTests.Config);
        InstanceProbeStageTests.Tick(lab);
        InstanceProbeStageTests.Tick(lab);
        var probe = InstanceProbeStageTests.ProbesTo(lab.Sink1).Last();
        var answer = new byte[EthernetFrame.UntaggedHeaderLength + 40];
        new EthernetHeader(lab.Router.Ports[0].Mac, lab.Sink1.Mac, EtherType.Ipv4).Emit(answer);
        Packets.Tcp(lab.Sink1.Address, 0x0A0A_0101, 80, probe.SourcePort, TcpFlags.Rst | TcpFlags.Ack, 0, probe.Sequence + 1, [])
            .CopyTo(answer, EthernetFrame.UntaggedHeaderLength);
        var worker = lab.Router.Worker;
        var snapshot = lab.Router.Snapshot;
        var now = lab.Time.GetTimestamp();
        var frame = new byte[answer.Length];
        answer.CopyTo(frame, 0);
        Assert.Equal(Verdict.Consumed, worker.Process(frame, frame.Length, 0, now, snapshot));
        var failures = InstanceProbeStageTests.Check(lab, 1).Failures;

        var allocated = ThreadAllocations.During(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                InstanceProbeStage.Tick(worker.Resources, snapshot, now);
                answer.CopyTo(frame, 0);
                worker.Process(frame, frame.Length, 0, now, snapshot);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(failures, InstanceProbeStageTests.Check(lab, 1).Failures);
    }
}
