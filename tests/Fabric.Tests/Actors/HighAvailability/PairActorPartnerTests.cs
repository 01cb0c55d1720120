using System.Collections.Concurrent;
using Akka.Actor;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Dataplane.HighAvailability;
using Fabric.Model;
using Fabric.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>
/// The pair actors of an HA pair (dc1a at 127.0.0.2, dc1b at 127.0.0.1, the same cluster port, as the pair's
/// partner addressing wants) and a third member of the cluster (127.0.0.3) that sends dc1b heartbeats and session
/// batches in dc1a's name: dc1b takes its partner's batches and refuses, and counts, the other member's.
/// </summary>
public sealed class PairActorPartnerTests
{
    private static readonly ConductorKeyPin AnyConductorKey = ConductorSigningKey.Generate().Pin;

    /// <summary>A pair node's dataplane as the pair actor drives it: it records every batch it is handed.</summary>
    private sealed class RecordingPairNode(long exportVersion) : IPairNode
    {
        private volatile bool _active;

        public ConcurrentQueue<long> Imported { get; } = new();

        public bool IsActive => _active;

        public Task<SessionExport> ExportSessionsAsync(bool everything) => Task.FromResult(new SessionExport(exportVersion, [default(SessionRecord)]));

        public Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records)
        {
            Imported.Enqueue(version);
            return Task.FromResult(new SessionImportResult(records.Length, 0, 0));
        }

        public Task<bool> TakeOverAsync()
        {
            var was = _active;
            _active = true;
            return Task.FromResult(!was);
        }

        public Task<bool> StandByAsync()
        {
            var was = _active;
            _active = false;
            return Task.FromResult(was);
        }

        public Task<bool> ReclaimAsync() => Task.FromResult(true);

        public Task<bool> AnnounceAsync() => Task.FromResult(true);
    }

    private sealed class NoTarget : IForwardingTarget
    {
        public string RouterName => "dc1";

        public void Apply(FabricConfig config, long version)
        {
        }
    }

    private static async Task<IHost> Start(List<IHost> hosts, string address, int port, string seed, RouterNodeTarget? target)
    {
        var host = RouterHost.Build(new ClusterNodeSettings(address, port, [seed], Insecure: true), AnyConductorKey, target is null ? [] : [target]);
        hosts.Add(host);
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    [Fact]
    public async Task PairMessages_FromAMemberOtherThanThePartner_RefusedAndCounted_ThePartnersTaken()
    {
        var port = ControlPlaneNodes.FreePort();
        var seed = ClusterNodeSettings.AddressOf("127.0.0.1", port);
        var timing = new PairTiming(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2), TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(150));
        var dc1b = new RecordingPairNode(exportVersion: 0);
        var dc1a = new RecordingPairNode(exportVersion: 5);
        var refusals = new ControlPlaneRefusals();
        var hosts = new List<IHost>();
        try
        {
            await Start(hosts, "127.0.0.1", port, seed, new RouterNodeTarget(
                "dc1b", new NoTarget(), Pair: (dc1b, new PairSettings("dc1a", "127.0.0.2", Preferred: false, timing)), Refusals: refusals));
            var member = (await Start(hosts, "127.0.0.3", 0, seed, null)).Services.GetRequiredService<ActorSystem>();
            await ControlPlaneNodes.Until(
                () => Task.FromResult(Akka.Cluster.Cluster.Get(member).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up)),
                n => n == 2,
                "the other member Up");

            // In dc1a's name, from another member: a heartbeat saying dc1a stands by, and a batch of version 777.
            var pair = member.ActorSelection($"{seed}/user/{PairActor.NameOf("dc1b")}");
            pair.Tell(new PairHeartbeat("dc1a", Active: false, Sequence: 1, Takeovers: 0));
            pair.Tell(new PairSessionBatch("dc1a", 777, [ReplicatedSession.From(default(SessionRecord))]));
            await ControlPlaneNodes.Until(() => Task.FromResult(refusals.ForeignPairMessages), n => n == 2, "dc1b refusing both");

            // dc1a itself: its heartbeats make it active (preferred), then its batches of version 5 reach dc1b.
            await Start(hosts, "127.0.0.2", port, seed, new RouterNodeTarget(
                "dc1a", new NoTarget(), Pair: (dc1a, new PairSettings("dc1b", "127.0.0.1", Preferred: true, timing))));
            await ControlPlaneNodes.Until(() => Task.FromResult(dc1b.Imported.Count), n => n >= 1, "dc1b taking dc1a's batch");
            Assert.True(dc1a.IsActive);
            Assert.DoesNotContain(777L, dc1b.Imported);
            Assert.All(dc1b.Imported, v => Assert.Equal(5L, v));
            Assert.Equal(2, refusals.ForeignPairMessages);
        }
        finally
        {
            foreach (var host in Enumerable.Reverse(hosts))
            {
                await host.StopAsync(CancellationToken.None);
                host.Dispose();
            }
        }
    }
}
