using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Fabric.Conductor.Api;
using Fabric.Tests.Support;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Fabric.Tests.Conductor.Api;

/// <summary>
/// Every route of the conductor's API in process (ASP.NET Core's test host over a real conductor node and router node):
/// what each answers, and how it refuses: 401 without a valid token, 405 for another method, 413 over the body limit,
/// 415 for a write that is neither JSON nor HOCON, 400 for a malformed request (the conductor actor never sees it),
/// 422 for a refused document with every error's path and line.
/// </summary>
public sealed partial class ConductorApiTests(ConductorApiFixture api) : IClassFixture<ConductorApiFixture>
{
    private static readonly string LabWithHr = LabDocuments.WithTenant(ConductorApiFixture.Lab, "hr");
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static StringContent Hocon(string text) => new(text, Encoding.UTF8, RequestBodies.HoconMediaType);

    private static StringContent Json(string text) => new(text, Encoding.UTF8, RequestBodies.JsonMediaType);

    private static async Task<JsonElement> Body(HttpResponseMessage response) =>
        JsonSerializer.Deserialize<JsonElement>(await response.Content.ReadAsStringAsync(Cancel));

    private static async Task AssertProblem(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(Problems.ContentType, response.Content.Headers.ContentType?.MediaType);
        var problem = await Body(response);
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Contains(detailContains, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>A document other than the running one: lab.conf with or without tenant hr.</summary>
    private async Task<string> Other()
    {
        using var client = api.Client(api.Token);
        var running = await client.GetFromJsonAsync<VersionDocumentView>("/v1/config/running", ApiJson.Options, Cancel);
        return running!.Document == LabWithHr ? ConductorApiFixture.Lab : LabWithHr;
    }

    /// <summary>Commits <paramref name="text"/> with a token; returns the new version.</summary>
    private async Task<long> Commit(string text, string message)
    {
        using var client = api.Client(api.Token);
        using var response = await client.PostAsync($"/v1/config/versions?message={Uri.EscapeDataString(message)}", Hocon(text), Cancel);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await Body(response)).GetProperty("version").GetInt64();
    }

    [Fact]
    public async Task Write_WithoutToken_401WithBearerChallenge_WithAnUnknownToken_401InvalidToken_NothingCommitted()
    {
        using var anonymous = api.Client(null);
        using var none = await anonymous.PostAsync("/v1/config/versions", Hocon(LabWithHr), Cancel);
        await AssertProblem(none, HttpStatusCode.Unauthorized, "needs an API token");
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);

        using var forged = api.Client("fabric_000000000000_notatoken");
        using var wrong = await forged.PostAsync("/v1/config/versions", Hocon(LabWithHr), Cancel);
        await AssertProblem(wrong, HttpStatusCode.Unauthorized, "not known or was revoked");
        Assert.Contains("invalid_token", wrong.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);

        // A cross-origin page can send text/plain with no credentials: refused before its body is even read.
        using var crossOrigin = await anonymous.PostAsync("/v1/config/versions", new StringContent("{\"author\":\"anyone\"}", Encoding.UTF8, "text/plain"), Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, crossOrigin.StatusCode);
        using var rollback = await anonymous.PostAsync("/v1/config/rollback", Json("{\"version\":1}"), Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, rollback.StatusCode);

        using var reader = api.Client(api.Token);
        var history = await reader.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel);
        Assert.DoesNotContain(history!.Versions, v => v.Changes.Any(c => c.Path == "fabric.tenants.hr") && v.Author != "alice");
    }

    [Fact]
    public async Task Read_WithoutToken_401_UnlessTheDocumentOpensReads_AWrongTokenIsRefusedAllTheSame()
    {
        using var anonymous = api.Client(null);
        foreach (var path in new[] { "/v1/config/versions", "/v1/config/running", "/v1/routers", "/v1/services", "/v1/telemetry", "/metrics" })
        {
            using var refused = await anonymous.GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        var open = await api.Start(new ConductorApiOptions(IPAddress.Loopback, 0, OpenReads: true));
        using var openAnonymous = api.Client(null, open);
        using var read = await openAnonymous.GetAsync("/v1/config/versions", Cancel);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        using var write = await openAnonymous.PostAsync("/v1/config/versions", Hocon(LabWithHr), Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, write.StatusCode);
        using var openForged = api.Client("fabric_000000000000_notatoken", open);
        using var forged = await openForged.GetAsync("/v1/config/versions", Cancel);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
    }

    [Fact]
    public async Task Health_AnsweredWithoutToken()
    {
        using var anonymous = api.Client(null);
        using var alive = await anonymous.GetAsync("/healthz", Cancel);
        using var ready = await anonymous.GetAsync("/readyz", Cancel);

        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready", (await Body(ready)).GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_Head_AnsweredAsGetWithoutTheBody(string path)
    {
        using var anonymous = api.Client(null);
        using var get = await anonymous.GetAsync(path, Cancel);
        using var request = new HttpRequestMessage(HttpMethod.Head, path);
        using var head = await anonymous.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(Cancel));
    }

    [Fact]
    public async Task Commit_HoconBody_CreatedAsTheNextVersion_AuthorIsTheTokensOwner_NotWhatTheBodySays()
    {
        using var client = api.Client(api.Token);
        var before = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;
        var document = await Other();

        using var created = await client.PostAsync("/v1/config/versions?message=add%20hr", Hocon(document), Cancel);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var version = (await Body(created)).GetProperty("version").GetInt64();
        Assert.Equal(before + 1, version);
        Assert.Equal($"/v1/config/versions/{version}", created.Headers.Location?.ToString());

        // JSON form: an "author" in the body is ignored; the token speaks for alice.
        var next = await Other();
        using var json = await client.PostAsJsonAsync("/v1/config/versions", new { document = next, message = "json form", author = "mallory" }, Cancel);
        Assert.Equal(HttpStatusCode.Created, json.StatusCode);
        var second = (await Body(json)).GetProperty("version").GetInt64();

        var one = await client.GetFromJsonAsync<VersionDocumentView>($"/v1/config/versions/{version}", ApiJson.Options, Cancel);
        var two = await client.GetFromJsonAsync<VersionDocumentView>($"/v1/config/versions/{second}", ApiJson.Options, Cancel);
        Assert.Equal(("alice", "add hr", document), (one!.Version.Author, one.Version.Message, one.Document));
        Assert.Equal(("alice", "json form"), (two!.Version.Author, two.Version.Message));
    }

    [Fact]
    public async Task Commit_RefusedDocument_422_EveryErrorWithItsPathAndLine()
    {
        using var client = api.Client(api.Token);
        var broken = ConductorApiFixture.Lab.Replace("access = [finance]", "access = [finanse]", StringComparison.Ordinal).Replace("policy = bulk", "policy = bulky", StringComparison.Ordinal);
        var running = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;

        using var refused = await client.PostAsync("/v1/config/versions?message=typos", Hocon(broken), Cancel);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal(Problems.ContentType, refused.Content.Headers.ContentType?.MediaType);
        var errors = (await Body(refused)).GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal(2, errors.Count);
        var tenant = errors.Single(e => e.GetProperty("path").GetString() == "fabric.services.db.access[0]");
        Assert.StartsWith("unknown tenant \"finanse\"", tenant.GetProperty("message").GetString(), StringComparison.Ordinal);
        var line = ConductorApiFixture.Lab[..ConductorApiFixture.Lab.IndexOf("access = [finance]", StringComparison.Ordinal)].Count(c => c == '\n') + 1;
        Assert.Equal(line, tenant.GetProperty("line").GetInt32());
        Assert.All(errors, e => Assert.True(e.GetProperty("line").GetInt32() > 0));
        Assert.Equal(running, (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running);

        using var syntax = await client.PostAsync("/v1/config/versions", Hocon("fabric { tenants { a { } }"), Cancel);
        var error = (await Body(syntax)).GetProperty("errors").EnumerateArray().Single();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, syntax.StatusCode);
        Assert.Contains("unterminated object", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, error.GetProperty("line").GetInt32());
    }

    [Fact]
    public async Task Write_NotJsonOrHocon_415_EvenWithAToken()
    {
        using var client = api.Client(api.Token);
        using var plain = await client.PostAsync("/v1/config/versions", new StringContent(LabWithHr, Encoding.UTF8, "text/plain"), Cancel);
        await AssertProblem(plain, HttpStatusCode.UnsupportedMediaType, "not text/plain");

        using var form = await client.PostAsync("/v1/config/rollback", new FormUrlEncodedContent([new("version", "1")]), Cancel);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        using var untyped = new ByteArrayContent(Encoding.UTF8.GetBytes(LabWithHr));
        using var none = await client.PostAsync("/v1/config/versions", untyped, Cancel);
        await AssertProblem(none, HttpStatusCode.UnsupportedMediaType, "not untyped");
        using var hoconRollback = await client.PostAsync("/v1/config/rollback", Hocon("version = 1"), Cancel);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, hoconRollback.StatusCode);
    }

    [Fact]
    public async Task Write_BodyOverTheLimit_413()
    {
        using var client = api.Client(api.Token);
        var huge = new string('#', (int)ConductorApiOptions.DefaultMaxBodyBytes + 1);

        using var tooLarge = await client.PostAsync("/v1/config/versions", Hocon(huge), Cancel);

        await AssertProblem(tooLarge, HttpStatusCode.RequestEntityTooLarge, $"at most {ConductorApiOptions.DefaultMaxBodyBytes} bytes");
    }

    [Fact]
    public async Task Write_MalformedRequest_400_TheConductorAnswersOnAsBefore()
    {
        using var client = api.Client(api.Token);
        // The body that used to throw inside the conductor actor (and replay its journal).
        using var noDocument = await client.PostAsync("/v1/config/versions", Json("{\"author\":\"x\"}"), Cancel);
        await AssertProblem(noDocument, HttpStatusCode.BadRequest, "has no \"document\"");
        using var notJson = await client.PostAsync("/v1/config/versions", Json("{\"document\": "), Cancel);
        await AssertProblem(notJson, HttpStatusCode.BadRequest, "not a commit");
        using var noVersion = await client.PostAsync("/v1/config/rollback", Json("{\"message\":\"why\"}"), Cancel);
        await AssertProblem(noVersion, HttpStatusCode.BadRequest, "has no \"version\"");
        using var notUtf8 = new ByteArrayContent([0x66, 0xff, 0xfe]);
        notUtf8.Headers.ContentType = new MediaTypeHeaderValue(RequestBodies.HoconMediaType);
        using var binary = await client.PostAsync("/v1/config/versions", notUtf8, Cancel);
        await AssertProblem(binary, HttpStatusCode.BadRequest, "not UTF-8");
        using var badSince = await client.GetAsync("/v1/telemetry?since=yesterday", Cancel);
        await AssertProblem(badSince, HttpStatusCode.BadRequest, "?since=yesterday");

        // The conductor still answers at once and still commits.
        var running = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;
        Assert.Equal(running + 1, await Commit(await Other(), "after the malformed ones"));
    }

    [Theory]
    [InlineData("DELETE", "/v1/config/versions", "GET, POST")]
    [InlineData("PUT", "/v1/config/versions/1", "GET")]
    [InlineData("GET", "/v1/config/rollback", "POST")]
    [InlineData("GET", "/v1/config/validate", "POST")]
    [InlineData("POST", "/v1/routers", "GET")]
    [InlineData("DELETE", "/v1/services/web", "GET")]
    public async Task WrongMethod_405_WithTheMethodsThePathTakes(string method, string path, string allowed)
    {
        using var client = api.Client(api.Token);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        using var response = await client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allowed, string.Join(", ", response.Content.Headers.Allow.Order(StringComparer.Ordinal)));
        Assert.Equal(Problems.ContentType, response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task UnknownPath_404Problem()
    {
        using var client = api.Client(api.Token);
        using var response = await client.GetAsync("/v1/nothing-here", Cancel);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(Problems.ContentType, response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Versions_ListOneRunningAndDiff()
    {
        using var client = api.Client(api.Token);
        var a = await Commit(await Other(), "a");
        var b = await Commit(await Other(), "b");

        var list = await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel);
        Assert.Equal(b, list!.Running);
        Assert.Equal(Enumerable.Range(1, (int)b).Select(i => (long)i), list.Versions.Select(v => v.Version));
        Assert.Equal([b], list.Versions.Where(v => v.Running).Select(v => v.Version));
        Assert.Equal(("fixture", "lab"), (list.Versions[0].Author, list.Versions[0].Message));

        var one = await client.GetFromJsonAsync<VersionDocumentView>("/v1/config/versions/1", ApiJson.Options, Cancel);
        Assert.Equal(ConductorApiFixture.Lab, one!.Document);
        var current = await client.GetFromJsonAsync<VersionDocumentView>("/v1/config/running", ApiJson.Options, Cancel);
        Assert.Equal((b, true), (current!.Version.Version, current.Version.Running));

        var withHr = (await client.GetFromJsonAsync<VersionDocumentView>($"/v1/config/versions/{a}", ApiJson.Options, Cancel))!.Document == LabWithHr ? a : b;
        var diff = await client.GetFromJsonAsync<DiffView>($"/v1/config/diff?from=1&to={withHr}", ApiJson.Options, Cancel);
        Assert.Equal(["+ fabric.tenants.hr = { members = [] }"], diff!.Changes.Select(c => c.ToString()));
        var raw = await Body(await client.GetAsync($"/v1/config/diff?from=1&to={withHr}", Cancel));
        Assert.Equal("added", raw.GetProperty("changes")[0].GetProperty("kind").GetString());

        await AssertProblem(await client.GetAsync("/v1/config/versions/999", Cancel), HttpStatusCode.NotFound, "no version 999");
        await AssertProblem(await client.GetAsync("/v1/config/diff?from=1&to=999", Cancel), HttpStatusCode.NotFound, "no version 999");
        await AssertProblem(await client.GetAsync("/v1/config/diff?from=1", Cancel), HttpStatusCode.BadRequest, "two versions");
    }

    [Fact]
    public async Task Validate_ValidDocument_200WithWhatItNames_Invalid_422WithEveryError_NothingCommitted()
    {
        using var client = api.Client(api.Token);
        var running = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;

        using var valid = await client.PostAsync("/v1/config/validate", Hocon(LabWithHr), Cancel);
        var view = await valid.Content.ReadFromJsonAsync<ValidationView>(ApiJson.Options, Cancel);
        Assert.Equal(HttpStatusCode.OK, valid.StatusCode);
        Assert.Equal(["br1", "br2", "dc1"], view!.Routers);
        Assert.Contains("hr", view.Tenants);

        using var invalid = await client.PostAsJsonAsync("/v1/config/validate", new { document = LabWithHr.Replace("access = [finance]", "access = [fnance]", StringComparison.Ordinal) }, Cancel);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.StatusCode);
        Assert.Equal("fabric.services.db.access[0]", (await Body(invalid)).GetProperty("errors")[0].GetProperty("path").GetString());
        Assert.Equal(running, (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running);
    }

    [Fact]
    public async Task Rollback_MakesAnEarlierVersionRunningAsANewOne_AnUnknownVersionIsRefused()
    {
        using var client = api.Client(api.Token);
        var running = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;
        var hr = await Other() == LabWithHr ? await Commit(LabWithHr, "hr") : running;

        using var rollback = await client.PostAsJsonAsync("/v1/config/rollback", new { version = 1, message = "back to the lab" }, Cancel);
        Assert.Equal(HttpStatusCode.Created, rollback.StatusCode);
        var restored = (await Body(rollback)).GetProperty("version").GetInt64();
        Assert.Equal(hr + 1, restored);
        var view = await client.GetFromJsonAsync<VersionDocumentView>($"/v1/config/versions/{restored}", ApiJson.Options, Cancel);
        Assert.Equal((1L, "alice", "back to the lab"), (view!.Version.RestoredFrom, view.Version.Author, view.Version.Message));

        using var unknown = await client.PostAsJsonAsync("/v1/config/rollback", new { version = 999 }, Cancel);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        Assert.Contains("no version 999", (await Body(unknown)).GetProperty("errors")[0].GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Routers_EveryRouterOfTheRunningDocument_Dc1aRunsItAlone_Br2NotReported()
    {
        using var client = api.Client(api.Token);
        await api.TelemetryOfDc1a();
        var all = await ControlPlaneNodes.Until(
            () => client.GetFromJsonAsync<RouterListView>("/v1/routers", ApiJson.Options, Cancel)!,
            v => v!.Routers.Single(r => r.Name == "dc1").Nodes.Single().Applied == v.Running,
            "dc1a on the running version");

        Assert.Equal(["br1", "br2", "dc1"], all!.Routers.Select(r => r.Name));
        var dc1a = all.Routers.Single(r => r.Name == "dc1").Nodes.Single();
        Assert.Equal(("dc1a", true, false, "alone"), (dc1a.Node, dc1a.Reported, dc1a.Drift, dc1a.Role));
        Assert.NotNull(dc1a.LastSample);
        var br2a = all.Routers.Single(r => r.Name == "br2").Nodes.Single();
        Assert.Equal((false, true, "unknown"), (br2a.Reported, br2a.Drift, br2a.Role));
        Assert.False(all.Converged);

        var dc1 = await client.GetFromJsonAsync<RouterView>("/v1/routers/dc1", ApiJson.Options, Cancel);
        Assert.Equal(["dc1a"], dc1!.Nodes.Select(n => n.Node));
        await AssertProblem(await client.GetAsync("/v1/routers/nowhere", Cancel), HttpStatusCode.NotFound, "no router \"nowhere\"");
    }

    [Fact]
    public async Task Services_EveryServiceWithItsInstances_WhereTheyLiveAndWhetherUp()
    {
        using var client = api.Client(api.Token);
        var services = await ControlPlaneNodes.Until(
            () => client.GetFromJsonAsync<ServiceListView>("/v1/services", ApiJson.Options, Cancel)!,
            v => v!.Services.SelectMany(s => s.Instances).Count() == 4,
            "dc1's four instances registered");

        Assert.Equal(["bulk", "db", "web"], services!.Services.Select(s => s.Name).Where(n => n is "bulk" or "db" or "web"));
        var web = await client.GetFromJsonAsync<ServiceView>("/v1/services/web", ApiJson.Options, Cancel);
        Assert.Equal(["web1", "web2"], web!.Instances.Select(i => i.Instance).Order(StringComparer.Ordinal));
        Assert.All(web.Instances, i => Assert.Equal(("dc1", "dc1a", "up"), (i.Router, i.Node, i.State)));
        Assert.Equal("10.10.1.11", web.Instances.Single(i => i.Instance == "web1").Address);
        await AssertProblem(await client.GetAsync("/v1/services/nothing", Cancel), HttpStatusCode.NotFound, "no service \"nothing\"");
    }

    [Fact]
    public async Task Telemetry_PerNode_SinceAndLatest()
    {
        using var client = api.Client(api.Token);
        await api.TelemetryOfDc1a();
        await ControlPlaneNodes.Until(
            () => client.GetFromJsonAsync<Fabric.Conductor.Telemetry.TelemetryView>("/v1/telemetry?node=dc1a", ApiJson.Options, Cancel)!,
            v => v!.Nodes.Single().Samples.Count >= 3,
            "three samples of dc1a");

        var all = await client.GetFromJsonAsync<Fabric.Conductor.Telemetry.TelemetryView>("/v1/telemetry?node=dc1a", ApiJson.Options, Cancel);
        var latest = await client.GetFromJsonAsync<Fabric.Conductor.Telemetry.TelemetryView>("/v1/telemetry?node=dc1a&latest", ApiJson.Options, Cancel);
        var third = all!.Nodes.Single().Samples[^3].UnixMilliseconds;
        var since = await client.GetFromJsonAsync<Fabric.Conductor.Telemetry.TelemetryView>($"/v1/telemetry?node=dc1a&since={third}", ApiJson.Options, Cancel);
        var iso = DateTimeOffset.FromUnixTimeMilliseconds(third).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var sinceIso = await client.GetFromJsonAsync<Fabric.Conductor.Telemetry.TelemetryView>($"/v1/telemetry?node=dc1a&since={Uri.EscapeDataString(iso)}", ApiJson.Options, Cancel);

        Assert.Single(latest!.Nodes.Single().Samples);
        Assert.Empty(latest.Nodes.Single().Rollups);
        Assert.True(latest.Nodes.Single().Samples[0].UnixMilliseconds >= all.Nodes.Single().Samples[^1].UnixMilliseconds);
        Assert.True(since!.Nodes.Single().Samples.Count >= 3);
        Assert.All(since.Nodes.Single().Samples, s => Assert.True(s.UnixMilliseconds >= third));
        Assert.Equal(since.Nodes.Single().Samples[0].UnixMilliseconds, sinceIso!.Nodes.Single().Samples[0].UnixMilliseconds);
        Assert.True(latest.Nodes.Single().Samples[0].Counters.ContainsKey("forwarded"));
    }

    /// <summary>The events of a Server-Sent Events stream: type, id and JSON data.</summary>
    internal static async IAsyncEnumerable<(string Kind, string Id, JsonElement Data)> Events(Stream stream)
    {
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(Cancel))
        {
            yield return (item.EventType, item.EventId ?? "", JsonSerializer.Deserialize<JsonElement>(item.Data));
        }
    }

    [Fact]
    public async Task Events_TelemetryAndRolloutProgress_StreamedAsTheyHappen()
    {
        using var client = api.Client(api.Token);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var stream = await response.Content.ReadAsStreamAsync(Cancel);

        var sawSample = false;
        long? committed = null;
        await foreach (var (kind, _, data) in Events(stream))
        {
            if (kind == "telemetry" && data.GetProperty("node").GetString() == "dc1a" && data.GetProperty("counters").TryGetProperty("forwarded", out _) && !sawSample)
            {
                sawSample = true;
                committed = await Commit(await Other(), "watched live");
            }
            else if (kind == "rollout" && committed is { } version && data.GetProperty("running").GetInt64() == version
                && data.GetProperty("nodes").EnumerateArray().Any(n => n.GetProperty("node").GetString() == "dc1a" && n.GetProperty("applied").GetInt64() == version))
            {
                return;
            }
        }

        Assert.Fail("the stream ended before dc1a's sample and the rollout of the commit");
    }

    [Fact]
    public async Task Events_ASlowClient_LosesTheOldestEvents_IsToldHowMany_TheFeedNeverWaits()
    {
        // dc1a and br1a publish telemetry every 200 ms through the same feed: a fast in-process subscriber, taken first,
        // counts theirs, so the slow client's "dropped" counts can be checked against exactly what it could have missed.
        using var everything = api.Feed.Subscribe(new HashSet<string>(StringComparer.Ordinal) { "telemetry" }, capacity: 100_000);
        using var client = api.Client(api.Token);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events?kinds=telemetry");
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(api.Feed.Subscribers > 1);
        await using var stream = await response.Content.ReadAsStreamAsync(Cancel);

        // The client reads nothing while 5000 samples of 1 KiB counters are published: each Publish returns at once
        // (were one to wait for the client, this loop would never end).
        var counters = Enumerable.Range(0, 40).ToDictionary(i => $"service.s{i}.packets", i => (long)i);
        const int published = 5000;
        for (var t = 1; t <= published; t++)
        {
            api.Feed.Sample(new Fabric.Actors.Telemetry.CounterSample("slow1", "slow", t, counters));
        }

        var received = 0;
        long told = 0;
        long last = 0;
        var sentinelPublished = false;
        await foreach (var (kind, _, data) in Events(stream))
        {
            if (kind == "dropped")
            {
                told += data.GetProperty("count").GetInt64();
                continue;
            }

            if (data.GetProperty("node").GetString() != "slow1")
            {
                continue;
            }

            var t = data.GetProperty("unix_milliseconds").GetInt64();
            Assert.True(t > last, $"sample {t} after {last}: the stream keeps the order of publishing");
            last = t;
            if (t == published && !sentinelPublished)
            {
                // Caught up with the newest: one more sample, into a channel with room, carries the count of any drop
                // whose notice was still on its way when sample 5000 was read.
                received++;
                sentinelPublished = true;
                api.Feed.Sample(new Fabric.Actors.Telemetry.CounterSample("slow1", "slow", published + 1, counters));
            }
            else if (t == published + 1)
            {
                break;
            }
            else
            {
                received++;
            }
        }

        var others = 0;
        await foreach (var live in everything.ReadAll(Cancel))
        {
            if (live.Data is not Fabric.Conductor.Api.Live.TelemetryEvent sample)
            {
                continue;
            }

            if (sample.Node != "slow1")
            {
                others++;
            }
            else if (sample.UnixMilliseconds == published + 1)
            {
                break;
            }
        }

        // The oldest went, the newest arrived; every sample missed was told, and nothing more than what the feed carried
        // in that time (the routers' own samples, which a slow client may miss too).
        var missed = published - received;
        Assert.True(missed > 0, "the slow client missed samples");
        Assert.True(told >= missed, $"told of {told} missed events, missed {missed} samples");
        Assert.True(told <= missed + others, $"told of {told} missed events: {missed} samples and at most {others} of the routers'");
    }

    [Fact]
    public async Task Metrics_EveryRouterNodesCountersAndTheRollout_AsPrometheusText()
    {
        using var client = api.Client(api.Token);
        await api.TelemetryOfDc1a();
        var running = (await client.GetFromJsonAsync<VersionListView>("/v1/config/versions", ApiJson.Options, Cancel))!.Running;
        var samples = await ControlPlaneNodes.Until(
            async () => PrometheusText.Parse(await client.GetStringAsync("/metrics", Cancel)),
            s => PrometheusText.Value(s, "fabric_packets_received_total", ("router", "dc1"), ("node", "dc1a")) is not null
                && PrometheusText.Value(s, "fabric_router_applied_version", ("node", "dc1a")) == running
                && PrometheusText.Value(s, "fabric_config_running_version") == running,
            "dc1a's counters and the running version in /metrics");

        Assert.Equal("counter", samples.First(s => s.Name == "fabric_packets_received_total").Type);
        Assert.NotNull(PrometheusText.Value(samples, "fabric_drops_total", ("node", "dc1a"), ("reason", "AccessDenied")));
        Assert.Equal(running, PrometheusText.Value(samples, "fabric_config_running_version"));
        Assert.Equal(1, PrometheusText.Value(samples, "fabric_router_drift", ("router", "br2"), ("node", "br2a")));
    }

    [Fact]
    public async Task OpenApiDocument_DescribesEveryRouteAndMethod_AndNothingElse()
    {
        using var anonymous = api.Client(null);
        using var response = await anonymous.GetAsync(ConductorApi.OpenApiPath, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = await Body(response);

        var described = document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => $"{m.Name.ToUpperInvariant()} {p.Name}"))
            .Order(StringComparer.Ordinal).ToList();
        var routed = api.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1/", StringComparison.Ordinal) == true)
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => $"{m} {e.RoutePattern.RawText!.Replace(":long", "", StringComparison.Ordinal).TrimEnd('/')}"))
            .Order(StringComparer.Ordinal).ToList();

        Assert.Equal(routed, described);
        Assert.Equal(
            [
                "GET /v1/config/diff", "GET /v1/config/running", "GET /v1/config/versions", "GET /v1/config/versions/{version}", "GET /v1/drops", "GET /v1/events",
                "GET /v1/paths", "GET /v1/routers", "GET /v1/routers/{router}", "GET /v1/services", "GET /v1/services/{service}", "GET /v1/sessions",
                "GET /v1/sessions/top", "GET /v1/telemetry", "GET /v1/tenants", "GET /v1/tenants/{tenant}", "GET /v1/trace",
                "POST /v1/config/rollback", "POST /v1/config/validate", "POST /v1/config/versions",
            ],
            described);
        var commit = document.GetProperty("paths").GetProperty("/v1/config/versions").GetProperty("post");
        Assert.True(commit.GetProperty("requestBody").GetProperty("content").TryGetProperty(RequestBodies.HoconMediaType, out _));
        Assert.True(commit.GetProperty("responses").TryGetProperty("422", out _));
    }
}
