using System.Net;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>Session queries as the worker answers them between batches, over a table of 100 000 sessions.</summary>
public sealed class SessionScanTests : IDisposable
{
    private const int Count = 100_000;
    private readonly ManualTime _time = new();
    private readonly ForwardingEngine _engine;
    private readonly int _web;
    private readonly int _db;
    private readonly int _finance;
    private readonly int _engineering;

    public SessionScanTests()
    {
        _engine = new ForwardingEngine(
            "dc1", [.. new[] { "svc", "eng1", "guest1", "lan" }.Select((d, i) => (IPacketPort)new DiscardPort(d, new MacAddress(0x02_00_00_00_0D_00UL + (ulong)i)))],
            new RouterOptions(SessionCapacity: 131_072), _time);
        _engine.Apply(RouterFixture.Load(RouterFixture.Config), 1);
        var snapshot = _engine.Snapshot;
        (_web, _db, _finance, _engineering) = (snapshot.ServiceIndex("web"), snapshot.ServiceIndex("db"), snapshot.TenantIndex("finance"), snapshot.TenantIndex("engineering"));
        var sessions = _engine.Worker.Sessions;
        for (var i = 0; i < Count; i++)
        {
            // Client 10.30.x.y, port by i; every tenth session is finance's to db, the rest engineering's to web; bytes grow with i.
            var client = IpAddressConversions.ParseIpv4("10.30.0.0") + (uint)(i / 50_000) + 1;
            var toDb = i % 10 == 0;
            var forward = SessionKey.V4(client, IpAddressConversions.ParseIpv4(toDb ? "10.10.1.20" : "10.200.0.80"), (ushort)(1024 + (i % 50_000)), (ushort)(toDb ? 5432 : 80), IpProtocol.Tcp);
            var reverse = forward.Reversed();
            var state = new SessionState { Tenant = (short)(toDb ? _finance : _engineering), Service = (short)(toDb ? _db : _web), Instance = -1, ForwardBytes = i, ReverseBytes = i };
            Assert.Equal(SessionInsertResult.Inserted, sessions.TryInsert(forward, reverse, state, _time.GetTimestamp(), long.MaxValue / 4, out _));
        }
    }

    public void Dispose() => _engine.Dispose();

    /// <summary>Runs worker rounds until the query is answered; returns the page and how many rounds it took.</summary>
    private (SessionPage Page, int Rounds) Query(SessionQuery query)
    {
        var answer = _engine.QuerySessionsAsync(query);
        var rounds = 0;
        while (!answer.IsCompleted)
        {
            _engine.RunOnce();
            rounds++;
            Assert.True(rounds < 100, "the query is answered within 100 rounds");
        }

        return (answer.Result, rounds);
    }

    [Fact]
    public void Pages_OverEveryMatchingSession_ReturnEachOnce_InPagesOfAtMost256()
    {
        var seen = new HashSet<(int, uint)>();
        var pages = 0;
        long cursor = 0;
        do
        {
            var (page, _) = Query(new SessionQuery(Service: "db", Limit: 1000, Cursor: cursor));
            Assert.InRange(page.Sessions.Count, 0, SessionQuery.MaxLimit);
            Assert.All(page.Sessions, s => Assert.Equal(_db, s.State.Service));
            foreach (var session in page.Sessions)
            {
                Assert.True(seen.Add((session.Handle, session.Generation)), $"session {session.Handle} twice");
            }

            Assert.Equal(Count, page.Live);
            cursor = page.Next;
            pages++;
        }
        while (cursor >= 0);

        Assert.Equal(Count / 10, seen.Count);
        Assert.Equal((Count / 10 + 255) / 256, pages);
    }

    [Fact]
    public void TopByBytes_OverTheWholeTable_TakesSeveralRounds_AndFindsTheLargestFirst()
    {
        var (page, rounds) = Query(new SessionQuery(Tenant: "engineering", Limit: 20, TopByBytes: true));

        Assert.True(rounds > 1, $"a table of {_engine.Worker.Sessions.Capacity} slots is scanned over several rounds, not in one ({rounds})");
        Assert.Equal(-1, page.Next);
        Assert.Equal(20, page.Sessions.Count);
        // The 20 largest engineering sessions are the last 20 non-multiples of ten below 100 000.
        var expected = Enumerable.Range(0, Count).Reverse().Where(i => i % 10 != 0).Take(20).Select(i => 2L * i);
        Assert.Equal(expected, page.Sessions.Select(s => s.State.ForwardBytes + s.State.ReverseBytes));
    }

    [Fact]
    public void Address_MatchesEitherSideOfEitherKey()
    {
        var (page, _) = Query(new SessionQuery(Address: IPAddress.Parse("10.10.1.20"), Limit: 5));
        Assert.Equal(5, page.Sessions.Count);
        Assert.All(page.Sessions, s => Assert.Equal(_db, s.State.Service));

        var (client, _) = Query(new SessionQuery(Address: IPAddress.Parse("10.30.0.2"), Service: "web", Limit: 256));
        Assert.All(client.Sessions, s => Assert.Equal(IpAddressConversions.ParseIpv4("10.30.0.2"), (uint)s.Forward.Source));
        Assert.Equal(256, client.Sessions.Count);
    }

    [Fact]
    public void UnknownTenant_AnswersAnEmptyLastPage()
    {
        var (page, rounds) = Query(new SessionQuery(Tenant: "nobody"));

        Assert.Empty(page.Sessions);
        Assert.Equal(-1, page.Next);
        Assert.Equal(1, rounds);
    }
}
