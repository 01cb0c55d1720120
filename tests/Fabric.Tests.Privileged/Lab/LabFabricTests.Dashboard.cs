using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Fabric.Router;
using Fabric.Lab;
using Fabric.Config;
using Fabric.Tests.Support;
using Microsoft.Playwright;

namespace Fabric.Tests.Lab;

/// <summary>
/// The conductor's dashboard in Debian's Chromium (driven by Playwright, never a downloaded browser) against the default
/// lab, reached from this machine through <c>fabric lab dashboard</c>'s forwarder: what an operator watching it sees while
/// real traffic, commits, a router that cannot apply one, a denied probe and a client's session come and go, all in one
/// page load. Screenshots of each step are saved under <c>artifacts/dashboard/</c> and attached to the test.
/// </summary>
public sealed partial class LabFabricTests
{
    private const string Chromium = "/usr/bin/chromium";

    private static readonly TimeSpan Live = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Dashboard_InChromium_ShowsTheFabricLive_TrafficCommitsDriftDropsAndSessions()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (scripts/test.sh installs it)");
        var cancel = TestContext.Current.CancellationToken;
        var layout = new LabLayout(_run.Name, _run.StateRoot);
        var config = FabricConfigLoader.LoadFile(layout.Topology).Config!;
        using var dashboard = LabDashboard.Start(layout, config, new IPEndPoint(IPAddress.Loopback, 0));
        var shots = Directory.CreateDirectory(Repository.PathOf("artifacts/dashboard")).FullName;
        var profile = Directory.CreateTempSubdirectory("fabric-chromium-").FullName;
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            IgnoreHTTPSErrors = true, // the lab CA's certificate, for 10.99.0.2, seen at 127.0.0.1
            ViewportSize = new ViewportSize { Width = 1400, Height = 1800 },
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        try
        {
            var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
            page.SetDefaultTimeout((float)Live.TotalMilliseconds);
            var loads = 0;
            page.Load += (_, _) => loads++;
            var errors = new List<string>();
            page.PageError += (_, error) => errors.Add(error);
            await page.GotoAsync(dashboard.Url.ToString());
            async Task Shot(string name)
            {
                var file = Path.Combine(shots, $"{name}.png");
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
                TestContext.Current.AddAttachment(name, await File.ReadAllBytesAsync(file, cancel), "image/png");
            }

            // The token came in the URL's fragment and left it (kept in the tab only).
            Assert.DoesNotContain("token", page.Url, StringComparison.Ordinal);

            // Every router and every peer path, coloured by health once each node has reported.
            foreach (var router in new[] { "br1", "br2", "dc1" })
            {
                await page.Locator($"#graph g.router.ok[data-router={router}]").WaitForAsync();
            }

            foreach (var path in new[] { "br1~br2/wan", "br1~dc1/wan", "br2~dc1/wan" })
            {
                // Attached, not visible: a horizontal line has no height, which Playwright counts as hidden.
                await page.Locator($"#graph line.path.ok[data-path='{path}']").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
            }

            Assert.Equal(3, await page.Locator("#graph g.router").CountAsync());
            // Each node's paths come with its own telemetry: a line may show from one side before the other side's node reported.
            await Until(async () => await page.Locator("#paths tbody tr").CountAsync() == 6, "the six peer paths of the three routers' nodes in the table");
            await Until(async () => await page.Locator("#live").TextContentAsync() == "live", "the live stream open");
            await Shot("1-fabric");

            // Counters and charts move with curl and iperf3 traffic, fed by the live stream's telemetry: the page loaded
            // the samples it shows once, every later one came over the stream.
            var forwardedBefore = await Counter(page, "br1a", "forwarded");
            var bulkBefore = await LastSample(page, "chart-service-throughput", "bulk");
            var iperf = Task.Run(() => _run.Exec("eng1", "iperf3", "-c", "10.10.1.30", "-p", "5201", "-t", "8"), cancel);
            await Until(
                async () => await LastSample(page, "chart-service-throughput", "bulk") is var (t, bits) && t > bulkBefore.Time && bits > 1e6,
                "a new sample of bulk's throughput above 1 Mbit/s on its chart while iperf3 runs");
            Assert.True((await iperf).Succeeded);
            Assert.True(_run.Exec("eng1", "curl", "-s", "-m", "5", "http://10.200.0.80/").Succeeded);
            await Until(async () => await Counter(page, "br1a", "forwarded") > forwardedBefore + 1000, "br1a's forwarded counter moves with the iperf3 traffic");
            await page.Locator("#chart-tenant-throughput polyline[data-series=engineering]").WaitForAsync();
            await page.Locator("#chart-service-sessions polyline[data-series=bulk]").WaitForAsync();
            await Shot("2-traffic");

            // A commit made with the CLI appears in the history with its diff: the lab's own document (identities pinned).
            var running = await File.ReadAllTextAsync(layout.Topology, cancel);
            var tenants = running.IndexOf("tenants {", StringComparison.Ordinal) + "tenants {".Length;
            var withHr = running[..tenants] + "\n    hr {}\n" + running[tenants..];
            var hrVersion = Commit(withHr, "hr joins (dashboard test)");
            var entry = page.Locator($"#history li[data-version='{hrVersion}']");
            await entry.Locator(".diff .added", new LocatorLocatorOptions { HasText = "+ fabric.tenants.hr" }).WaitForAsync();
            Assert.Contains("hr joins (dashboard test)", await entry.TextContentAsync(), StringComparison.Ordinal);
            Assert.Contains("fabric lab", await entry.Locator(".meta").TextContentAsync(), StringComparison.Ordinal);
            await Shot("3-commit");

            // A version br2a cannot apply (it pins an identity whose key br2a does not hold), posted to the API from the
            // management network (the CLI would pin the lab's own identities): br2a keeps the previous one, highlighted as
            // drift in the graph and the routers table; a rollback ends it.
            var stranger = LabRun.Fabric("keys", "generate", "--out", Path.Combine(_run.StateRoot, "stranger.key"), "--force");
            Assert.True(stranger.Succeeded, stranger.ToString());
            var identity = new Regex("identity = \"([^\"]+)\"").Match(withHr, withHr.IndexOf("br2a {", StringComparison.Ordinal));
            Assert.True(identity.Success, "the lab's document pins br2a's identity");
            var drifting = Path.Combine(_run.StateRoot, "dashboard-drift.conf");
            await File.WriteAllTextAsync(drifting, withHr[..identity.Groups[1].Index] + stranger.Output.Trim() + withHr[(identity.Groups[1].Index + identity.Groups[1].Length)..], cancel);
            var state = Path.Combine(_run.StateRoot, _run.Name);
            var posted = ExternalCommand.Run(
                "ip", "netns", "exec", _run.NamespaceOf("conductor"), "curl", "-s", "-m", "10", "--cacert", Path.Combine(state, "certs", "ca", "ca.crt"),
                "-X", "POST", "-H", "Content-Type: application/hocon", "-H", $"Authorization: Bearer {(await File.ReadAllTextAsync(Path.Combine(state, "api.token"), cancel)).Trim()}",
                "--data-binary", $"@{drifting}", "https://10.99.0.2:8480/v1/config/versions?message=br2a%27s%20identity%20rotated");
            Assert.True(posted.Succeeded, posted.ToString());
            var driftVersion = Regex.Match(posted.Output, "\"version\":\\s*(\\d+)").Groups[1].Value;
            Assert.True(driftVersion.Length > 0, posted.Output);
            await page.Locator("#graph g.router.warn[data-router=br2]").WaitForAsync();
            var br2aRow = page.Locator("#routers tr.drift[data-node=br2a]");
            await br2aRow.WaitForAsync();
            Assert.Equal(hrVersion, await br2aRow.Locator("td.drift").GetAttributeAsync("data-applied"));
            await page.Locator("#routers tr.drift[data-node=br2a]", new PageLocatorOptions { HasText = $"failed {driftVersion}: " }).WaitForAsync();
            Assert.Equal("drift", await page.Locator("#converged").TextContentAsync());
            await page.Locator("#graph g.router.ok[data-router=br1]").WaitForAsync();
            await Shot("4-drift");
            var rollback = LabRun.Fabric("config", "rollback", hrVersion, "-m", "back to hr (dashboard test)", "--lab", _run.Name, "--state-dir", _run.StateRoot);
            Assert.True(rollback.Succeeded, rollback.ToString());
            await page.Locator("#graph g.router.ok[data-router=br2]").WaitForAsync();
            // Until every node has applied the rollback's version, the nodes still on an older one show as drift too (one row
            // each), so the test waits for no drift row at all rather than for one row to go.
            await Until(async () => await page.Locator("#routers tr.drift").CountAsync() == 0, "no router drifts after the rollback");
            await Until(async () => await page.Locator("#converged").TextContentAsync() == "converged", "the fabric converged again");
            await page.Locator("#history li.running .message", new PageLocatorOptions { HasText = "back to hr (dashboard test)" }).WaitForAsync();

            // A denied probe appears under drops with its reason and rule, and in the live tail.
            Assert.False(_run.Exec("guest1", "timeout", "3", "bash", "-c", "cat </dev/tcp/10.10.1.20/5432").Succeeded);
            var denied = page.Locator("#drops tbody tr[data-reason=access_denied][data-rule='fabric.services.db.access']").First;
            await denied.WaitForAsync();
            Assert.Contains("guest", await denied.TextContentAsync(), StringComparison.Ordinal);
            Assert.Contains("10.20.1.20", await denied.TextContentAsync(), StringComparison.Ordinal);
            Assert.Contains("guest is not listed", await denied.TextContentAsync(), StringComparison.Ordinal);
            await page.Locator("#drop-reasons tr[data-reason=access_denied]").WaitForAsync();
            await page.Locator("#tail li.drop", new PageLocatorOptions { HasText = "access_denied" }).First.WaitForAsync();
            await Shot("5-denied");

            // A client's session appears in the sessions table (filtered to engineering), hides under another tenant's
            // filter, and disappears once it has closed (a closed TCP session lingers 10 s, then the router removes it
            // and says so on the live stream).
            await Filter(page, "engineering");
            const int clientPort = 45678;
            var hold = $"import socket,time\ns=socket.socket()\ns.bind(('10.20.1.10',{clientPort}))\ns.connect(('10.200.0.80',80))\ntime.sleep(10)\ns.close()";
            var client = Task.Run(() => _run.Exec("eng1", "python3", "-c", hold), cancel);
            var row = page.Locator("#sessions tbody tr", new PageLocatorOptions { HasText = $"10.20.1.10:{clientPort}" });
            await row.First.WaitForAsync();
            Assert.Contains("engineering", await row.First.TextContentAsync(), StringComparison.Ordinal);
            foreach (var shown in await page.Locator("#sessions tbody tr").AllAsync())
            {
                Assert.Equal("engineering", await shown.GetAttributeAsync("data-tenant"));
            }

            await page.Locator("#tail li.opened", new PageLocatorOptions { HasText = $"10.20.1.10:{clientPort}" }).First.WaitForAsync();
            await Shot("6-session-open");
            await Filter(page, "finance");
            await row.First.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
            await Filter(page, "engineering");
            await row.First.WaitForAsync();
            Assert.True((await client).Succeeded);
            await row.First.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached, Timeout = 45_000 });
            Assert.Equal(0, await row.CountAsync());
            await page.Locator("#tail li.closed", new PageLocatorOptions { HasText = $"10.20.1.10:{clientPort}" }).First.WaitForAsync();
            await Shot("7-session-closed");

            // All of it in the one page load, without a script error.
            Assert.Equal(1, loads);
            Assert.Empty(errors);
        }
        finally
        {
            await browser.CloseAsync();
            Directory.Delete(profile, recursive: true);
        }
    }

    /// <summary>Commits <paramref name="document"/> with the CLI; returns the version it made.</summary>
    private string Commit(string document, string message)
    {
        var file = Path.Combine(_run.StateRoot, "dashboard-commit.conf");
        File.WriteAllText(file, document);
        var commit = LabRun.Fabric("config", "commit", file, "-m", message, "--lab", _run.Name, "--state-dir", _run.StateRoot);
        Assert.True(commit.Succeeded, commit.ToString());
        var version = Regex.Match(commit.Output, @"version (\d+) committed");
        Assert.True(version.Success, commit.Output);
        return version.Groups[1].Value;
    }

    /// <summary>Filters the sessions table to <paramref name="tenant"/>, as an operator does with the form.</summary>
    private static async Task Filter(IPage page, string tenant)
    {
        await page.Locator("#session-filters input[name=tenant]").FillAsync(tenant);
        await page.Locator("#session-filters button[type=submit]").ClickAsync();
    }

    /// <summary>A router node's counter as the routers table shows it.</summary>
    private static async Task<long> Counter(IPage page, string node, string counter) =>
        long.Parse((await page.Locator($"#routers tr[data-node={node}] td[data-counter={counter}]").TextContentAsync() ?? "0").Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);

    /// <summary>The newest sample a chart's line for <paramref name="series"/> draws: its time (Unix ms) and value; (0, 0) before it has one.</summary>
    private static async Task<(long Time, double Value)> LastSample(IPage page, string chart, string series)
    {
        var line = page.Locator($"#{chart} polyline[data-series={series}]");
        if (await line.CountAsync() == 0 || await line.GetAttributeAsync("data-last") is not { } last)
        {
            return (0, 0);
        }

        return (long.Parse(last, CultureInfo.InvariantCulture), double.Parse(await line.GetAttributeAsync("data-value") ?? "0", CultureInfo.InvariantCulture));
    }

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Live;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} within {Live.TotalSeconds} s");
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
    }
}
