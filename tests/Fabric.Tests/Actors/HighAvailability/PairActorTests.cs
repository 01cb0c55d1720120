using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Hosting;
using Fabric.Actors.Security;
using Fabric.Dataplane.Sessions;
using Fabric.Model;
using Fabric.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>
/// Two nodes of an HA pair as actor systems in this process, on 127.0.0.1 and 127.0.0.2 with the same cluster and
/// heartbeat ports (as two machines would), each with its heartbeat link and a dataplane that records what the pair
/// actor asks of it; and, where a test says so, a third member of the cluster (127.0.0.3) that is not the partner.
/// </summary>
public sealed class PairActorTests : IAsyncDisposable
{
    private static readonly PairTiming Timing = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(150));
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly int _clusterPort = ControlPlaneNodes.FreePort();
    private readonly int _heartbeatPort = ControlPlaneNodes.FreePort();
    private readonly List<FabricNode> _hosts = [];
    private readonly List<PairLink> _links = [];
    private readonly ControlPlaneRefusals _refusals = new();
    private static readonly ConductorKeyPin AnyConductorKey = ConductorSigningKey.Generate().Pin;

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.StopAsync(CancellationToken.None);
            host.Dispose();
        }

        foreach (var link in _links)
        {
            link.Dispose();
        }
    }

    [Fact]
    public async Task ActiveNodesActorSystemStops_ItsDataplaneForwardsOn_StandbyDoesNotTakeOver()
    {
        var (hostA, a, _) = await StartPair();

        // The active node's control plane goes away (downed by the split-brain resolver and rejoining, or starved of
        // threads); its process and dataplane live and forward, so its partner must not take the router.
        await Stop(hostA);
        Thread.Sleep(Timing.DeadAfter * 3);

        Assert.True(a.IsActive);
        var b = _nodes["r1b"];
        Assert.False(b.IsActive, "the standby took the router from a node whose dataplane is alive");
        Assert.Equal(0, b.Takeovers);
    }

    [Fact]
    public async Task ActiveNodeDies_StandbyTakesOver()
    {
        var (hostA, _, linkA) = await StartPair();

        // The whole process dies: control plane and heartbeats.
        linkA.Dispose();
        await Stop(hostA);

        var b = _nodes["r1b"];
        Until("the standby takes over", () => b.IsActive);
        Assert.Equal(1, b.Takeovers);
    }

    [Fact]
    public async Task ActiveNodeRestartsWithinTheDeadInterval_StandbyTakesOver_TheRestartedNodeStandsBy()
    {
        var (hostA, _, linkA) = await StartPair();

        // The active process dies and comes straight back (a supervisor restarting it): a new run with no sessions.
        linkA.Dispose();
        await Stop(hostA);
        var (_, restarted, _) = await StartNode("r1a", "127.0.0.1", "r1b", "127.0.0.2", preferred: true, ClusterNodeSettings.AddressOf("127.0.0.1", _clusterPort));

        var b = _nodes["r1b"];
        Until("the standby, which holds the sessions, takes over", () => b.IsActive);
        Thread.Sleep(Timing.DeadAfter * 2);
        Assert.True(b.IsActive, "the restarted node took the router back");
        Assert.False(restarted.IsActive);
        Assert.Equal((1, 0), (b.Takeovers, restarted.Takeovers));
    }

    [Fact]
    public async Task SessionBatch_FromAMemberOtherThanThePartner_RefusedAndCounted_ThePartnersInstalled()
    {
        var (_, _, linkA) = await StartPair();
        var b = _nodes["r1b"];
        var member = RouterHost.Build(new ClusterNodeSettings("127.0.0.3", 0, [ClusterNodeSettings.AddressOf("127.0.0.1", _clusterPort)], Insecure: true), AnyConductorKey, []);
        await member.StartAsync(TestContext.Current.CancellationToken);
        _hosts.Add(member);
        var system = member.System;
        Until("the third member is up", () => Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3);

        // In r1a's name (its run, a sequence above any of its own), from another member: a batch of version 777 to r1b's pair actor.
        system.ActorSelection($"{ClusterNodeSettings.AddressOf("127.0.0.2", _clusterPort)}/user/{PairActor.NameOf("r1b")}")
            .Tell(new PairSessionBatch("r1a", 777, linkA.Incarnation, long.MaxValue / 2, SessionRecords.Serialize([default(SessionRecord)]), null));
        Until("r1b refusing the member's batch", () => _refusals.ForeignPairMessages == 1);

        // r1a's own batches (version 1) are installed.
        Until("r1b installing r1a's batch", () => !b.Imported.IsEmpty);
        Assert.DoesNotContain(777L, b.Imported);
        Assert.All(b.Imported, v => Assert.Equal(1L, v));
        Assert.Equal(1, _refusals.ForeignPairMessages);
    }

    [Fact]
    public async Task SessionBatch_InThePartnersNameWithItsActorAsSender_NotSealedByThePartner_RefusedAndCounted_ThePartnersInstalled()
    {
        // Cluster TLS: each node presents a certificate of the pair's CA issued to its name; mallory is a member too.
        await using var certificates = new ControlPlaneNodes(tls: true);
        _tls = node => certificates.Settings(node).Tls!;
        var (_, _, linkA) = await StartPair();
        var b = _nodes["r1b"];
        var seed = ClusterNodeSettings.AddressOf("127.0.0.1", _clusterPort);
        var member = RouterHost.Build(new ClusterNodeSettings("127.0.0.3", 0, [seed], _tls("mallory")), AnyConductorKey, []);
        await member.StartAsync(TestContext.Current.CancellationToken);
        _hosts.Add(member);
        var system = member.System;
        Until("the third member is up", () => Akka.Cluster.Cluster.Get(system).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3);

        // The sender's address is what the sending member says: mallory names r1a's pair actor as the sender, r1a's
        // run, a sequence above any of r1a's own; once unsealed, once sealed with its own certificate.
        string Tls(string host) => ClusterNodeSettings.AddressOf(host, _clusterPort).Replace("akka.tcp://", "akka.ssl.tcp://", StringComparison.Ordinal);
        var r1aActor = await system.ActorSelection($"{Tls("127.0.0.1")}/user/{PairActor.NameOf("r1a")}").ResolveOne(Deadline, TestContext.Current.CancellationToken);
        var r1bActor = system.ActorSelection($"{Tls("127.0.0.2")}/user/{PairActor.NameOf("r1b")}");
        var sessions = SessionRecords.Serialize([default(SessionRecord)]);
        var sequence = long.MaxValue / 2;
        var statement = PairSessionBatch.Statement("r1a", 777, linkA.Incarnation, sequence + 1, sessions);
        r1bActor.Tell(new PairSessionBatch("r1a", 777, linkA.Incarnation, sequence, sessions, null), r1aActor);
        r1bActor.Tell(new PairSessionBatch("r1a", 777, linkA.Incarnation, sequence + 1, sessions, new NodeSigner(_tls("mallory")).Seal(statement)), r1aActor);
        Until("r1b refusing both batches", () => _refusals.ForeignPairMessages == 2);

        // r1a's own batches (version 1), sealed by r1a, are installed.
        Until("r1b installing r1a's batch", () => !b.Imported.IsEmpty);
        Assert.DoesNotContain(777L, b.Imported);
        Assert.Equal(2, _refusals.ForeignPairMessages);
    }

    private readonly Dictionary<string, RecordingNode> _nodes = [];

    /// <summary>With a value, each node joins over cluster TLS with the certificate it gives for the node's name.</summary>
    private Func<string, ClusterTls>? _tls;

    private async Task Stop(FabricNode host)
    {
        await host.StopAsync(TestContext.Current.CancellationToken);
        _hosts.Remove(host);
        host.Dispose();
    }

    /// <summary>Starts r1a (preferred, 127.0.0.1) and r1b (127.0.0.2) and waits until r1a is active and r1b has heard it as such.</summary>
    private async Task<(FabricNode HostA, RecordingNode A, PairLink LinkA)> StartPair()
    {
        var seed = ClusterNodeSettings.AddressOf("127.0.0.1", _clusterPort);
        var (hostA, a, linkA) = await StartNode("r1a", "127.0.0.1", "r1b", "127.0.0.2", preferred: true, seed);
        var (_, b, linkB) = await StartNode("r1b", "127.0.0.2", "r1a", "127.0.0.1", preferred: false, seed);
        Until("r1a is active and r1b stands by, hearing it", () => a.IsActive && !b.IsActive && linkB.Partner is { Heartbeats: > 3, Role: PairRole.Active });
        return (hostA, a, linkA);
    }

    private async Task<(FabricNode, RecordingNode, PairLink)> StartNode(string node, string address, string partner, string partnerAddress, bool preferred, string seed)
    {
        var self = new RecordingNode();
        _nodes[node] = self;
        var link = PairLink.Start(
            node,
            new PairLinkSettings(
                new IPEndPoint(IPAddress.Parse(address), _heartbeatPort),
                new IPEndPoint(IPAddress.Parse(partnerAddress), _heartbeatPort),
                Key(node, partner),
                Key(partner, node),
                Timing.HeartbeatInterval,
                Timing.DeadAfter),
            self);
        _links.Add(link);
        var host = RouterHost.Build(
            _tls is null ? new ClusterNodeSettings(address, _clusterPort, [seed], Insecure: true) : new ClusterNodeSettings(address, _clusterPort, [seed], _tls(node)),
            AnyConductorKey,
            [new RouterNodeTarget(node, new NoForwarding(), Pair: (self, new PairSettings(partner, partnerAddress, preferred, Timing), link), Refusals: _refusals)]);
        await host.StartAsync(TestContext.Current.CancellationToken);
        _hosts.Add(host);
        return (host, self, link);
    }

    private static readonly Fabric.Dataplane.Svr.Security.RouterIdentity Identity = Fabric.Dataplane.Svr.Security.RouterIdentity.Generate("r1");

    private static byte[] Key(string from, string to) => PairHeartbeat.DeriveKey(Identity.DeriveSecret, "r1", from, to);

    private static void Until(string what, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Deadline, $"not within {Deadline.TotalSeconds} s: {what}");
            Thread.Sleep(20);
        }
    }

    private sealed class NoForwarding : IForwardingTarget
    {
        public string RouterName => "r1";

        public void Apply(FabricConfig config, long version)
        {
        }
    }

    /// <summary>A dataplane that becomes active when told to take over and records the versions of the batches it installs; thread-safe.</summary>
    private sealed class RecordingNode : IPairNode
    {
        private volatile bool _active;
        private long _takeovers;

        public bool IsActive => _active;

        public long Takeovers => Interlocked.Read(ref _takeovers);

        public ConcurrentQueue<long> Imported { get; } = new();

        public Task<SessionExport> ExportSessionsAsync(bool everything) => Task.FromResult(new SessionExport(1, [default(SessionRecord)]));

        public Task<SessionImportResult> ImportSessionsAsync(long version, SessionRecord[] records)
        {
            Imported.Enqueue(version);
            return Task.FromResult(new SessionImportResult(records.Length, 0, 0));
        }

        public Task<bool> TakeOverAsync()
        {
            Interlocked.Increment(ref _takeovers);
            _active = true;
            return Task.FromResult(true);
        }

        public Task<bool> StandByAsync()
        {
            _active = false;
            return Task.FromResult(true);
        }

        public Task<bool> ReclaimAsync() => Task.FromResult(true);

        public Task<bool> AnnounceAsync() => Task.FromResult(true);
    }
}
