using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Fabric.Actors.Sessions;
using Fabric.Conductor.Api;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor.Api;

/// <summary>
/// Sessions, drops, peer paths and tenants through the API: router node br1a forwards real frames its containers send,
/// and its session actor answers the conductor's queries from the dataplane's table and streams what opens, closes and
/// is dropped.
/// </summary>
public sealed partial class ConductorApiTests
{
    private static readonly uint Eng1 = IpAddressConversions.ParseIpv4("10.20.1.10");
    private static readonly uint Guest1 = IpAddressConversions.ParseIpv4("10.20.1.20");
    private static readonly uint Bulk = IpAddressConversions.ParseIpv4("10.10.1.30");
    private static readonly uint Db = IpAddressConversions.ParseIpv4("10.10.1.20");
    private static int _port = 33_000;

    /// <summary>Asks <paramref name="path"/> until <paramref name="done"/> holds of the answer (the router's worker and the cluster take a moment).</summary>
    private async Task<T> Until<T>(string path, Func<T, bool> done, string what)
    {
        using var client = api.Client(api.Token);
        return await ControlPlaneNodes.Until(async () => (await client.GetFromJsonAsync<T>(path, ApiJson.Options, Cancel))!, done, what);
    }

    /// <summary>The running version once br1a runs it (other tests of the class commit versions of their own).</summary>
    private async Task<long> Br1aRunning() => (await ControlPlaneNodes.Until(
        () => ControlPlaneNodes.Rollout(api.Conductor),
        r => r.Nodes.Any(n => n.Node == "br1a" && n.Applied == r.Running),
        "br1a running the running version")).Running;

    [Fact]
    public async Task Sessions_OfARouter_ComeFromItsDataplane_WithTenantServiceRoleAndPeerPath()
    {
        var version = await Br1aRunning();
        var port = (ushort)Interlocked.Increment(ref _port);
        api.SendFrom("eng1", Packets.Udp(Eng1, Bulk, port, 5201, [1, 2, 3]));

        var list = await Until<SessionListView>(
            $"/v1/sessions?router=br1&tenant=engineering&address=10.10.1.30", l => l.Sessions.Any(s => s.Forward.SourcePort == port), "br1a's session to bulk");

        var session = list.Sessions.Single(s => s.Forward.SourcePort == port);
        Assert.Equal(("br1a", "br1", "engineering", "bulk", "udp", "ingress"), (session.Node, session.Router, session.Tenant, session.Service, session.Protocol, session.Role));
        Assert.Equal(("10.20.1.10", "10.10.1.30", 5201), (session.Forward.Source, session.Forward.Destination, session.Forward.DestinationPort));
        Assert.Equal(("dc1", "wan", "router:dc1"), (session.PeerRouter, session.Neighborhood, session.Instance));
        Assert.StartsWith("172.16.0.2:", session.LocalWaypoint, StringComparison.Ordinal);
        Assert.StartsWith("172.16.0.1:", session.PeerWaypoint, StringComparison.Ordinal);
        Assert.Equal(1, session.ForwardPackets);
        Assert.Equal(new NodeAnswerView("br1a", "br1", version, list.Nodes.Single().Live, null), list.Nodes.Single());
        Assert.Empty((await Until<SessionListView>("/v1/sessions?router=br1&tenant=finance", _ => true, "an answer")).Sessions);
    }

    [Fact]
    public async Task Sessions_Paged_EverySessionOnce_ThenTop_ByBytes()
    {
        var first = Interlocked.Add(ref _port, 5) - 4;
        for (var i = 0; i < 5; i++)
        {
            api.SendFrom("eng1", Packets.Udp(Eng1, Bulk, (ushort)(first + i), 5201, new byte[100 * (i + 1)]));
        }

        await Until<SessionListView>("/v1/sessions?node=br1a&limit=256", l => l.Sessions.Count(s => s.Forward.SourcePort >= first && s.Forward.SourcePort < first + 5) == 5, "five sessions");
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await Until<SessionListView>($"/v1/sessions?node=br1a&limit=2{(cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}")}", _ => true, "a page");
            Assert.InRange(page.Sessions.Count, 0, 2);
            seen.AddRange(page.Sessions.Select(s => s.Id));
            cursor = page.Next;
        }
        while (cursor is not null);

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.True(seen.Count >= 5);
        var top = await Until<SessionListView>("/v1/sessions/top?router=br1&limit=3", _ => true, "the top");
        Assert.Equal(3, top.Sessions.Count);
        Assert.True(top.Sessions[0].ForwardBytes >= top.Sessions[1].ForwardBytes && top.Sessions[1].ForwardBytes >= top.Sessions[2].ForwardBytes);
        Assert.True(top.Sessions[0].ForwardBytes >= 20 + 8 + 500);
    }

    [Fact]
    public async Task Sessions_MalformedQuery_400()
    {
        using var client = api.Client(api.Token);
        await AssertProblem(await client.GetAsync("/v1/sessions?address=not-an-address", Cancel), HttpStatusCode.BadRequest, "not an IP address");
        await AssertProblem(await client.GetAsync("/v1/sessions?limit=100000", Cancel), HttpStatusCode.BadRequest, "from 1 to 256");
        await AssertProblem(await client.GetAsync("/v1/sessions?cursor=nowhere@3", Cancel), HttpStatusCode.BadRequest, "not a cursor");
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Client(null).GetAsync("/v1/sessions", Cancel)).StatusCode);
    }

    [Fact]
    public async Task Drops_ADeniedProbe_CountedWithItsTenantServiceAndTheAccessRule()
    {
        api.SendFrom("guest1", Packets.Tcp(Guest1, Db, (ushort)Interlocked.Increment(ref _port), 5432, TcpFlags.Syn, 1, 0, []));

        var drops = await Until<DropListView>("/v1/drops?router=br1&reason=access_denied", d => d.Recent.Count > 0, "br1a's access_denied drop");

        var drop = drops.Recent[0];
        Assert.Equal(("br1a", "access_denied", "guest", "db", "fabric.services.db.access"), (drop.Node, drop.Reason, drop.Tenant, drop.Service, drop.Rule));
        Assert.Contains("access = [finance]: guest is not listed", drop.Why, StringComparison.Ordinal);
        Assert.Equal(("tcp", "10.20.1.20", "10.10.1.20", 5432, "guest1"), (drop.Packet.Protocol, drop.Packet.Source, drop.Packet.Destination, drop.Packet.DestinationPort, drop.Interface));
        var count = drops.Counts.Single(c => c.Node == "br1a" && c.Tenant == "guest" && c.Service == "db");
        Assert.Equal("fabric.services.db.access", count.Rule);
        Assert.True(drops.Reasons.Single().Count >= 1);
    }

    [Fact]
    public async Task Events_SessionOpenedThenClosed_AndADrop_StreamedLive()
    {
        // The stream answers (200, subscribed) before any session or drop happens: nothing has been sent yet. Were its
        // headers held back until the first event, the client would wait for them until its timeout (100 s) and fail.
        using var client = api.Client(api.Token);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events?kinds=session,drop");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal((HttpStatusCode.OK, "text/event-stream"), (response.StatusCode, response.Content.Headers.ContentType?.MediaType));
        Assert.True(api.Feed.Subscribers > 0);
        await using var stream = await response.Content.ReadAsStreamAsync(Cancel);

        var port = (ushort)Interlocked.Increment(ref _port);
        api.SendFrom("eng1", Packets.Udp(Eng1, Bulk, port, 5201, [1]));
        api.SendFrom("guest1", Packets.Tcp(Guest1, Db, port, 5432, TcpFlags.Syn, 1, 0, []));
        string? opened = null;
        var dropSeen = false;
        await foreach (var (kind, _, data) in Events(stream))
        {
            if (kind == "session" && data.GetProperty("session").GetProperty("forward").GetProperty("source_port").GetInt32() == port)
            {
                var id = data.GetProperty("session").GetProperty("id").GetString();
                if (data.GetProperty("kind").GetString() == "opened")
                {
                    opened = id;
                    Assert.Equal("bulk", data.GetProperty("session").GetProperty("service").GetString());
                    // Past bulk's UDP idle timeout (60 s) on br1a's clock: its worker expires the session on its next round.
                    api.Br1Time.Advance(TimeSpan.FromSeconds(120));
                }
                else
                {
                    Assert.Equal("closed", data.GetProperty("kind").GetString());
                    Assert.Equal(opened, id);
                }
            }
            else if (kind == "drop" && data.GetProperty("packet").GetProperty("source_port").GetInt32() == port)
            {
                Assert.Equal("fabric.services.db.access", data.GetProperty("rule").GetString());
                dropSeen = true;
            }

            if (opened is not null && dropSeen && kind == "session" && data.GetProperty("kind").GetString() == "closed"
                && data.GetProperty("session").GetProperty("id").GetString() == opened)
            {
                return;
            }
        }

        Assert.Fail("the stream ended before the session opened and closed and the drop came");
    }

    [Fact]
    public async Task PathsAndTenants_FromTheRoutersTelemetry()
    {
        var paths = await Until<PeerPathListView>("/v1/paths?router=br1", p => p.Paths.Count >= 2, "br1a's peer paths");
        Assert.Equal(["dc1", "br2"], paths.Paths.Where(p => p.Node == "br1a").Select(p => p.Peer).Order(StringComparer.Ordinal).Reverse());
        Assert.All(paths.Paths, p => Assert.Equal("wan", p.Neighborhood));
        Assert.All(paths.Paths, p => Assert.Equal("ipv4", p.Family));

        api.SendFrom("eng1", Packets.Udp(Eng1, Bulk, (ushort)Interlocked.Increment(ref _port), 5201, [1]));
        var tenants = await Until<TenantListView>("/v1/tenants", t => t.Tenants.Any(x => x.Name == "engineering" && x.SessionsOpened > 0), "engineering's sessions in telemetry");
        using var client = api.Client(api.Token);
        // The running document's tenants, in order, and hr while a router's latest telemetry still counts it (other
        // tests commit the lab with and without tenant hr).
        var names = tenants.Tenants.Select(t => t.Name).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        Assert.Equal(["engineering", "finance", "guest"], names.Where(n => n != "hr"));
        var guest = await client.GetFromJsonAsync<TenantView>("/v1/tenants/guest", ApiJson.Options, Cancel);
        Assert.Equal("guest", guest!.Name);
        await AssertProblem(await client.GetAsync("/v1/tenants/nobody", Cancel), HttpStatusCode.NotFound, "no tenant \"nobody\"");
    }

    [Fact]
    public async Task Trace_AskedOfTheRouterOnTheWay_SaysTenantServiceAccessAndVerdict()
    {
        var version = await Br1aRunning();
        var denied = await Until<TraceView>("/v1/trace?from=guest1&to=10.10.1.20:5432", _ => true, "a trace");
        var allowed = await Until<TraceView>("/v1/trace?from=10.20.1.10&to=10.200.0.80:80&protocol=tcp", _ => true, "a trace");

        var hop = Assert.Single(denied.Hops);
        Assert.Equal(("br1a", "br1", version), (hop.Node, hop.Router, hop.Version));
        Assert.Equal(["tenant", "service", "access"], hop.Steps.Select(s => s.Step));
        Assert.Equal(("guest", "db", "denied"), (hop.Steps[0].Result, hop.Steps[1].Result, hop.Steps[2].Result));
        Assert.Equal(("dropped", "access_denied", "fabric.services.db.access"), (denied.Verdict, denied.Reason, denied.Rule));
        Assert.Equal("verdict: dropped access_denied at br1 by fabric.services.db.access", denied.VerdictLine);
        Assert.Equal("container guest1 (10.20.1.20) on router br1, guest1", denied.Ingress);

        var first = allowed.Hops[0];
        Assert.Equal(("engineering", "web", "allowed"), (first.Steps[0].Result, first.Steps[1].Result, first.Steps[2].Result));
        Assert.Equal("fabric.services.web.access[0] = engineering", first.Steps[2].Why);
        Assert.Equal("route", first.Steps[3].Step);
        Assert.StartsWith("verdict: ", allowed.VerdictLine, StringComparison.Ordinal);

        using var client = api.Client(api.Token);
        await AssertProblem(await client.GetAsync("/v1/trace?from=nobody&to=10.10.1.20:5432", Cancel), HttpStatusCode.BadRequest, "?from=nobody");
        await AssertProblem(await client.GetAsync("/v1/trace?from=eng1&to=10.10.1.20", Cancel), HttpStatusCode.BadRequest, "not ADDRESS:PORT");
        await AssertProblem(await client.GetAsync("/v1/trace?from=eng1&to=10.10.1.20:5432&protocol=sctp", Cancel), HttpStatusCode.BadRequest, "not tcp, udp or icmp");
    }
}
