using Akka.Actor;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;
using Fabric.Actors.Sessions;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Policing;
using Fabric.Dataplane.Sessions;
using Fabric.Tests.Dataplane.Svr.Routers;
using static Fabric.Tests.Dataplane.Svr.Routers.ClientMobilityTests;

namespace Fabric.Tests.Actors.Sessions;

/// <summary>The rules of a client's hand-over between session actors (<see cref="ClientHandOver"/>) and its messages on the wire.</summary>
public sealed class ClientHandOverTests : IDisposable
{
    /// <summary>The asking node's cluster address, as its requests name it.</summary>
    private const string At = "akka.tcp://fabric@10.99.0.2:4053";

    private readonly ActorSystem _system = ActorSystem.Create("client-hand-over");
    private readonly FabricSerializer _serializer;

    public ClientHandOverTests() => _serializer = new FabricSerializer((ExtendedActorSystem)_system);

    public void Dispose() => _system.Dispose();

    [Fact]
    public void CommitMovingEng1ToBr2_Br2SeesItArrivedFromBr1_AndAsksBr1sNode()
    {
        using var fabric = new SvrFabric(AtBr1);
        fabric.Br2.Apply(fabric.Document(AtBr2), version: 2);

        Assert.Equal([("br1", (IReadOnlyList<string>)["10.20.1.10"])], ClientHandOver.Arrivals(fabric.Br2.Snapshot).Select(a => (a.FromRouter, a.Addresses)).ToArray(), ArrivalComparer.Instance);
        Assert.Equal(["br1a"], ClientHandOver.NodesOf(fabric.Br2.Snapshot, "br1"));

        // The same document again brings nobody.
        fabric.Br2.Apply(fabric.Document(AtBr2), version: 3);
        Assert.Empty(ClientHandOver.Arrivals(fabric.Br2.Snapshot));
    }

    [Fact]
    public void Refusal_OnlyForANodeOfTheRouterTheConfigurationListsEveryClientUnder()
    {
        using var fabric = new SvrFabric(AtBr1);
        var before = fabric.Br1.Snapshot;
        fabric.Br1.Apply(fabric.Document(AtBr2), version: 2);
        var after = fabric.Br1.Snapshot;

        Assert.Null(ClientHandOver.Refusal(after, "br2a", ["10.20.1.10"], out var clients));
        Assert.Equal(ClientAddressOf("10.20.1.10"), Assert.Single(clients));
        Assert.Equal("version 1 does not list 10.20.1.10 under router br2", ClientHandOver.Refusal(before, "br2a", ["10.20.1.10"], out _));
        Assert.Equal("version 2 does not list 10.20.1.20 under router br2", ClientHandOver.Refusal(after, "br2a", ["10.20.1.10", "10.20.1.20"], out _));
        Assert.Equal("version 2 does not list 10.20.1.10 under router dc1", ClientHandOver.Refusal(after, "dc1a", ["10.20.1.10"], out _));
        Assert.Equal("node br1a is part of this router, br1", ClientHandOver.Refusal(after, "br1a", ["10.20.1.10"], out _));
        Assert.Equal("node ghost is no router node of version 2", ClientHandOver.Refusal(after, "ghost", ["10.20.1.10"], out _));
        Assert.Equal("\"eng1\" is not an IP address", ClientHandOver.Refusal(after, "br2a", ["eng1"], out _));
    }

    [Fact]
    public void ArrivalGrace_EndsOnlyWhenEveryNodeAskedForTheClientsHasAnswered()
    {
        string[] eng1 = ["10.20.1.10"];
        var toBr1a = GiveUpClientSessions.Sealed("br2a", "br1a", At, 4, eng1, signer: null);
        var toBr1b = GiveUpClientSessions.Sealed("br2a", "br1b", At, 4, eng1, signer: null);

        // br1b (standby) refused first: br1a's records are still to come.
        Assert.True(ClientHandOver.StillAwaited([toBr1a], toBr1b));
        // br1a answered too: nothing is awaited.
        Assert.False(ClientHandOver.StillAwaited([], toBr1a));
        // A request under another version, or for other clients, awaits nothing of these.
        Assert.False(ClientHandOver.StillAwaited([GiveUpClientSessions.Sealed("br2a", "br1a", At, 5, eng1, signer: null)], toBr1b));
        Assert.False(ClientHandOver.StillAwaited([GiveUpClientSessions.Sealed("br2a", "br1a", At, 4, ["10.20.1.11"], signer: null)], toBr1b));
    }

    [Fact]
    public void Parts_OfTheLargestRecords_EachUnderAkkasFrame_AllRecordsBackInOrder()
    {
        var records = new SessionRecord[(2 * ClientHandOver.MaxRecordsPerMessage) + 1];
        for (var i = 0; i < records.Length; i++)
        {
            records[i] = Largest(i);
        }

        var given = ClientSessionRecords.Of(9, records.Select((r, i) => (r, "engineering", $"service-{i % 3}")));
        var parts = ClientHandOver.Parts("br1a", 7, given);

        Assert.Equal([1, 2, 3], parts.Select(p => p.Part));
        Assert.All(parts, p => Assert.Equal(3, p.Parts));
        var back = new List<(SessionKey, uint, string?, string?)>();
        foreach (var part in parts)
        {
            var bytes = _serializer.ToBinary(part);
            Assert.InRange(bytes.Length, 1, 120 * 1024);
            var read = Assert.IsType<ClientSessionsGiven>(_serializer.FromBinary(bytes, _serializer.Manifest(part)));
            Assert.Equal(("br1a", 7L, part.Part, part.Parts, (string?)null), (read.Node, read.Version, read.Part, read.Parts, read.Error));
            var named = ClientHandOver.Records(read);
            back.AddRange(named.Sessions.Select(r => (r.Forward, r.State.SessionId, named.TenantOf(r), named.ServiceOf(r))));
        }

        Assert.Equal(
            records.Select((r, i) => (r.Forward, r.State.SessionId, (string?)"engineering", (string?)$"service-{i % 3}")),
            back);
    }

    [Fact]
    public void Parts_OfNoRecords_OneEmptyPart()
    {
        var part = Assert.Single(ClientHandOver.Parts("br1a", 7, ClientSessionRecords.Of(7, [])));
        Assert.Empty(SessionRecords.Deserialize(part.Records));
        Assert.Equal((1, 1), (part.Part, part.Parts));
    }

    [Fact]
    public void Request_RoundTripsOnTheWire()
    {
        var request = new GiveUpClientSessions("br2a", "br1a", At, 4, ["10.20.1.10", "fd00:20:1::10"], new NodeSeal([1, 2, 3], [4, 5]));

        var read = Assert.IsType<GiveUpClientSessions>(_serializer.FromBinary(_serializer.ToBinary(request), _serializer.Manifest(request)));

        Assert.Equal("fabric.sessions.client-give-up.v3", _serializer.Manifest(request));
        Assert.Equal((request.Node, request.To, request.From, request.Version), (read.Node, read.To, read.From, read.Version));
        Assert.Equal(request.Addresses, read.Addresses);
        Assert.Equal(request.Seal!.Certificate, read.Seal!.Certificate);
        Assert.Equal(request.Seal.Signature, read.Seal.Signature);
        Assert.Equal(request.Statement().Bytes.ToArray(), read.Statement().Bytes.ToArray());
    }

    [Fact]
    public void RequestStatement_DiffersInAskerItsAddressNodeAskedVersionOrClients()
    {
        string[] eng1 = ["10.20.1.10"];
        var statement = GiveUpClientSessions.Statement("br2a", "br1a", At, 4, eng1).Bytes.ToArray();

        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2b", "br1a", At, 4, eng1).Bytes.ToArray());
        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2a", "br1a", "akka.tcp://fabric@10.99.0.9:4053", 4, eng1).Bytes.ToArray());
        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2a", "br1b", At, 4, eng1).Bytes.ToArray());
        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2a", "br1a", At, 5, eng1).Bytes.ToArray());
        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2a", "br1a", At, 4, ["10.20.1.10", "10.20.1.11"]).Bytes.ToArray());
        Assert.NotEqual(statement, GiveUpClientSessions.Statement("br2a", "br1a", At, 4, ["10.20.1.11"]).Bytes.ToArray());
        Assert.Equal(statement, GiveUpClientSessions.Statement("br2a", "br1a", At, 4, ["10.20.1.10"]).Bytes.ToArray());
    }

    private static Fabric.Dataplane.Forwarding.ClientAddress ClientAddressOf(string text) =>
        Fabric.Dataplane.Forwarding.ClientAddress.Of(System.Net.IPAddress.Parse(text));

    /// <summary>A record whose every field takes the most bytes the serialized form gives it.</summary>
    private static SessionRecord Largest(int i)
    {
        var key = new SessionKey(UInt128.MaxValue - (UInt128)i, UInt128.MaxValue, ushort.MaxValue, ushort.MaxValue, byte.MaxValue, IsIpv6: true);
        var state = new SessionState
        {
            Tenant = short.MinValue, Service = short.MinValue, Instance = short.MinValue, ForwardPort = short.MinValue, ReversePort = short.MinValue,
            Svr = SvrRole.Ingress, SendMetadata = true, OriginalProtocol = byte.MaxValue, Unanswered = byte.MaxValue, Sealed = true,
            WaypointPool = short.MinValue, LocalWaypointPort = ushort.MaxValue, PeerWaypointPort = ushort.MaxValue, PeerKeys = short.MinValue,
            Runtime = int.MinValue, SessionId = uint.MaxValue - (uint)i, ForwardNextSequence = uint.MaxValue, ReverseNextSequence = uint.MaxValue,
            ReverseSeenAt = long.MinValue,
            ForwardPackets = long.MinValue, ForwardBytes = long.MinValue, ReversePackets = long.MinValue, ReverseBytes = long.MinValue,
        };
        return new SessionRecord
        {
            Forward = key, Reverse = key, State = state, WaypointPath = short.MinValue, KeysPath = short.MinValue, Tcp = ushort.MaxValue,
            IdleNanoseconds = long.MinValue, ReverseQuietNanoseconds = long.MinValue,
        };
    }

    private sealed class ArrivalComparer : IEqualityComparer<(string, IReadOnlyList<string>)>
    {
        public static readonly ArrivalComparer Instance = new();

        public bool Equals((string, IReadOnlyList<string>) x, (string, IReadOnlyList<string>) y) => x.Item1 == y.Item1 && x.Item2.SequenceEqual(y.Item2);

        public int GetHashCode((string, IReadOnlyList<string>) obj) => obj.Item1.GetHashCode(StringComparison.Ordinal);
    }
}
