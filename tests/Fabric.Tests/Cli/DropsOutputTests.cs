using Fabric.Actors.Sessions;
using Fabric.Cli.Commands;
using Fabric.Conductor.Api;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Cli;

/// <summary>
/// <c>fabric drops</c> as an operator reads it: drops a router really made, named by the control plane
/// (<see cref="FlowNames"/>) and written by the CLI.
/// </summary>
public sealed class DropsOutputTests
{
    /// <summary>
    /// fin1 opens a connection to db and resets it, then sends a late segment of it; and sends a mid-flow segment of a
    /// connection the router never saw. The late one reads as what it is (late_after_reset, no rule, "harmless"), only
    /// the mid-flow one names the policy's transport-state enforcement.
    /// </summary>
    [Fact]
    public void Drops_LatePacketAfterReset_ReadsAsALatePacketOfAClosedConnection_NotAsTransportStateEnforcement()
    {
        using var lab = new RouterFixture();
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Syn, 1, 0, []);
        lab.Pump();
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Rst, 2, 0, []);
        lab.Pump();
        lab.Fin1.SendTcp("10.10.1.20", 41000, 5432, TcpFlags.Ack | TcpFlags.Psh, 2, 1, "late"u8.ToArray());
        lab.Fin1.SendTcp("10.10.1.20", 41001, 5432, TcpFlags.Ack | TcpFlags.Psh, 500, 900, "mid-flow"u8.ToArray());
        lab.Pump();

        var snapshot = lab.Router.Snapshot;
        var (tenant, service) = (lab.Tenant("finance"), lab.Service("db"));
        Assert.Equal(1, lab.Router.Worker.Drops.Get(DropReason.LateAfterReset, tenant, service));
        Assert.Equal(1, lab.Router.Worker.Drops.Get(DropReason.NoHandshake, tenant, service));
        var counts = new[] { DropReason.LateAfterReset, DropReason.NoHandshake }.Select(reason =>
        {
            var (rule, why) = FlowNames.Rule(reason, DropRule.None, tenant, service, snapshot);
            return new DropCountView("n1", snapshot.Router, FlowNames.Of(reason), "finance", "db", rule, why, lab.Router.Worker.Drops.Get(reason, tenant, service));
        }).ToList();
        var clock = new WorkerClock(0, TimeSpan.TicksPerSecond, 0);
        var recent = lab.Router.Worker.Drops.Recent.Snapshot().Select(d => FlowNames.Drop("n1", snapshot, d, clock)).ToList();
        var output = new StringWriter();

        FlowCommands.WriteDrops(output, new DropListView([], counts, recent, []));

        var lines = output.ToString().Split('\n');
        var lateCount = Assert.Single(lines, l => l.StartsWith("n1 ", StringComparison.Ordinal) && l.Contains("late_after_reset", StringComparison.Ordinal));
        Assert.DoesNotContain("transport-state-enforcement", lateCount, StringComparison.Ordinal);
        Assert.Contains("- (a late packet of a TCP connection already reset (in flight when it ended): harmless, no rule refused it)", lateCount, StringComparison.Ordinal);
        var midFlowCount = Assert.Single(lines, l => l.StartsWith("n1 ", StringComparison.Ordinal) && l.Contains("no_handshake", StringComparison.Ordinal));
        Assert.Contains("transport-state-enforcement", midFlowCount, StringComparison.Ordinal);

        var late = Array.FindIndex(lines, l => l.Contains(" late_after_reset tenant finance service db ", StringComparison.Ordinal));
        Assert.True(late >= 0, output.ToString());
        Assert.Equal("      a late packet of a TCP connection already reset (in flight when it ended): harmless, no rule refused it", lines[late + 1].TrimEnd('\r'));
    }
}
