using System.Diagnostics;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: a router, a web service, an engineering and a guest client, and the conductor.</summary>
public sealed class ConductedLab : IDisposable
{
    /// <summary>The topology with web's access list; version 1 lets guest in.</summary>
    public static string Topology(string access) => $$"""
        fabric {
          name = conducted
          tenants { engineering {}, guest {} }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [{{access}}]
              instances = [{ container = web1 }]
            }
          }
          routers {
            r1 {
              nodes { r1a { management-address = "10.99.0.11" } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24"]
                  containers { web1 { addresses = ["10.10.1.11"] } }
                }
                hosts {
                  model = host-based
                  gateways = ["10.20.1.1/24"]
                  containers { hc1 { addresses = ["10.20.1.10"], tenant = engineering }, hg1 { addresses = ["10.20.1.20"], tenant = guest } }
                }
              }
            }
          }
          conductor { addresses = ["10.99.0.2"] }
        }
        """;

    public ConductedLab()
    {
        Run = new LabRun("c", Topology("engineering, guest"));
        UpResult = Run.Up();
        if (!UpResult.Succeeded)
        {
            Run.Dispose();
            throw new InvalidOperationException($"lab up failed: {UpResult}");
        }
    }

    public LabRun Run { get; }

    public CommandResult UpResult { get; }

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// <c>fabric lab up</c> with the conductor: real processes in the lab's namespaces, the routers joined
/// to it over the management network, <c>fabric config</c> talking to it from the host.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabConductorTests(ConductedLab lab) : IClassFixture<ConductedLab>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Up_StartsTheConductor_CommitsTheTopologyAsVersion1_EveryRouterApplies()
    {
        Assert.Contains("started    conductor: pid", lab.UpResult.Output, StringComparison.Ordinal);
        Assert.Contains("committed  version 1 (the topology) on the conductor; every router node applied it", lab.UpResult.Output, StringComparison.Ordinal);
        Assert.Contains($"./fabric config history --lab {_run.Name} --state-dir {_run.StateRoot}", lab.UpResult.Output, StringComparison.Ordinal);

        var history = Config("history");
        Assert.True(history.Succeeded, history.ToString());
        Assert.Matches(@"\s1\s+\S+ \S+Z\s+fabric lab\s+lab up from ", history.Output);
        Assert.Contains($"lab \"{_run.Name}\"'s conductor at https://10.99.0.2:8480/ (from namespace {_run.NamespaceOf("conductor")})", history.Error, StringComparison.Ordinal);

        var status = _run.Status();
        Assert.True(status.Succeeded, status.ToString());
        Assert.Matches(@"conductor\s+pid \d+\s+running", status.Output);
        Assert.Matches(@"r1a\s+applied version \d+\s+ok", status.Output);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Up_RunsTheClusterOverMutualTls_WithTheLabsOwnAuthority()
    {
        Assert.Contains("certs      cluster traffic over mutual TLS", lab.UpResult.Output, StringComparison.Ordinal);
        var state = Path.Combine(_run.StateRoot, _run.Name);
        Assert.Contains("cluster-tls=mutual", File.ReadAllText(Path.Combine(state, "conductor.log")), StringComparison.Ordinal);
        Assert.Contains("cluster-tls=mutual", File.ReadAllText(Path.Combine(state, "r1a.log")), StringComparison.Ordinal);
        foreach (var key in new[] { "certs/ca/ca.key", "certs/conductor.pfx", "certs/r1a.pfx" })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, key)));
        }
    }

    [Fact]
    public void Telemetry_TheRouterProcessShipsItsCounters_ToTheLabsConductor()
    {
        Assert.True(Curl("hc1").Succeeded);
        var clock = Stopwatch.StartNew();
        CommandResult telemetry;
        do
        {
            // r1a samples every 5 s; the curl's session shows in a later sample.
            telemetry = LabRun.Fabric(["telemetry", "--node", "r1a", "--lab", _run.Name, "--state-dir", _run.StateRoot]);
            if (telemetry.Succeeded && System.Text.RegularExpressions.Regex.IsMatch(telemetry.Output, @"sessions\.created\s+[1-9]"))
            {
                Assert.Matches(@"r1a \(router r1\): \d+ samples, \d+ five-minute rollups; latest ", telemetry.Output);
                Assert.Matches(@"received\s+[1-9]", telemetry.Output);
                return;
            }

            Thread.Sleep(500);
        }
        while (clock.Elapsed < Deadline);
        Assert.Fail($"no sample with the curl's session within {Deadline.TotalSeconds} s: {telemetry}");
    }

    [Fact]
    public void Commit_DenyingGuest_EveryRouterApplies_AndThePolicyIsInForce_RollbackRestoresIt()
    {
        Assert.True(Curl("hg1").Succeeded, "version 1 lets guest reach web");
        var denying = Path.Combine(_run.StateRoot, "deny-guest.conf");
        File.WriteAllText(denying, ConductedLab.Topology("engineering"));

        var commit = Config("commit", denying, "-m", "guest loses web");
        Assert.True(commit.Succeeded, commit.ToString());
        var version = long.Parse(System.Text.RegularExpressions.Regex.Match(commit.Output, @"version (\d+) committed").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        AppliedEverywhere(version);
        Assert.Contains($"router r1a: version {version}, ", _run.Status().Output, StringComparison.Ordinal);
        Assert.False(Curl("hg1").Succeeded, "guest is refused once the commit is applied");
        Assert.True(Curl("hc1").Succeeded, "engineering still reaches web");
        var verify = _run.Verify();
        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"hg1 \(guest\)\s+X", verify.Output);

        var rollback = Config("rollback", (version - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "guest back");
        Assert.True(rollback.Succeeded, rollback.ToString());
        Assert.Contains($"version {version + 1} running", rollback.Output, StringComparison.Ordinal);
        AppliedEverywhere(version + 1);
        Assert.True(Curl("hg1").Succeeded, "the rollback lets guest in again");
        Assert.Contains($"(restores {version - 1})", Config("history").Output, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Api_FromTheManagementNetwork_AnUnauthenticatedCommitIsRefused_TheLabsTokenCommitsAsItsOwner()
    {
        var state = Path.Combine(_run.StateRoot, _run.Name);
        var tokenFile = Path.Combine(state, "api.token");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
        var document = Path.Combine(_run.StateRoot, "api-commit.conf");
        // The lab's own document (its router identities pinned, so the routers apply it) with one more tenant.
        var topology = File.ReadAllText(Path.Combine(state, "topology.conf"));
        var tenants = topology.IndexOf("tenants {", StringComparison.Ordinal) + "tenants {".Length;
        File.WriteAllText(document, topology[..tenants] + "\n    contractors {}\n" + topology[tenants..]);
        var before = Config("history", "--json");
        Assert.True(before.Succeeded, before.ToString());

        // From router r1a's namespace: another host on the management network, as anyone there is. HTTPS checked against the lab's CA.
        CommandResult Post(string contentType, string? token) => ExternalCommand.Run(
            "ip", ["netns", "exec", _run.NamespaceOf("r1a"), "curl", "-s", "-m", "10", "--cacert", Path.Combine(state, "certs", "ca", "ca.crt"),
            "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", $"Content-Type: {contentType}",
            .. (token is null ? Array.Empty<string>() : ["-H", $"Authorization: Bearer {token}"]),
            "--data-binary", $"@{document}", "https://10.99.0.2:8480/v1/config/versions?message=from%20the%20management%20network"]);

        Assert.Equal("401", Post("text/plain", null).Output);
        Assert.Equal("401", Post("application/hocon", null).Output);
        Assert.Equal("401", Post("application/hocon", "fabric_0123456789ab_forged").Output);
        var token = File.ReadAllText(tokenFile).Trim();
        Assert.Equal("415", Post("text/plain", token).Output);
        Assert.Equal(before.Output, Config("history", "--json").Output);

        Assert.Equal("201", Post("application/hocon", token).Output);
        var history = Config("history");
        Assert.Matches(@"\*\s+\d+\s+\S+ \S+Z\s+fabric lab\s+from the management network", history.Output);
    }

    [Fact]
    public void Metrics_TheRoutersAndTheConductors_ParseAsPrometheusText_AndMoveWithTraffic()
    {
        var state = Path.Combine(_run.StateRoot, _run.Name);
        var token = File.ReadAllText(Path.Combine(state, "api.token")).Trim();
        IReadOnlyList<PrometheusText.Sample> Scrape(string url, params string[] curl)
        {
            var result = ExternalCommand.Run("ip", ["netns", "exec", _run.NamespaceOf("conductor"), "curl", "-s", "-m", "10", .. curl, url]);
            Assert.True(result.Succeeded, result.ToString());
            return PrometheusText.Parse(result.Output);
        }

        var router = "http://10.99.0.11:9480/metrics";
        var before = PrometheusText.Value(Scrape(router), "fabric_packets_forwarded_total", ("router", "r1"), ("node", "r1a")) ?? -1;
        Assert.True(before >= 0, "r1a's /metrics has its forwarded packets");
        Assert.True(Curl("hc1").Succeeded);
        var clock = Stopwatch.StartNew();
        double after;
        do
        {
            Thread.Sleep(500);
            after = PrometheusText.Value(Scrape(router), "fabric_packets_forwarded_total", ("router", "r1"), ("node", "r1a")) ?? -1;
        }
        while (after <= before && clock.Elapsed < Deadline);
        Assert.True(after > before, $"r1a's forwarded packets moved with the curl: {before} -> {after}");

        // The conductor's: the same counters, every router node's, once its 5 s telemetry carried them; a token is needed.
        var conductor = "https://10.99.0.2:8480/metrics";
        var authority = Path.Combine(state, "certs", "ca", "ca.crt");
        var refused = ExternalCommand.Run("ip", ["netns", "exec", _run.NamespaceOf("conductor"), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", authority, conductor]);
        Assert.Equal("401", refused.Output);
        double fabricWide;
        do
        {
            fabricWide = PrometheusText.Value(Scrape(conductor, "--cacert", authority, "-H", $"Authorization: Bearer {token}"), "fabric_packets_forwarded_total", ("node", "r1a")) ?? -1;
            Thread.Sleep(500);
        }
        while (fabricWide < after && clock.Elapsed < Deadline + Deadline);
        Assert.True(fabricWide >= after, $"the conductor's /metrics caught up with r1a's counter: {fabricWide} < {after}");

        var ready = ExternalCommand.Run("ip", ["netns", "exec", _run.NamespaceOf("conductor"), "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://10.99.0.11:9480/readyz"]);
        Assert.Equal("200", ready.Output);
    }

    private CommandResult Curl(string client) => _run.Exec(client, "curl", "-s", "-m", "3", "http://10.200.0.80/");

    private CommandResult Config(params string[] arguments) => LabRun.Fabric(["config", .. arguments, "--lab", _run.Name, "--state-dir", _run.StateRoot]);

    /// <summary>Polls <c>fabric config status</c> until every router node applied <paramref name="version"/>; fails after the deadline.</summary>
    private void AppliedEverywhere(long version)
    {
        var clock = Stopwatch.StartNew();
        CommandResult status;
        do
        {
            status = Config("status");
            if (status.Succeeded && status.Output.Contains($"running version {version}\n", StringComparison.Ordinal))
            {
                Assert.Matches($@"r1a\s+r1\s+applied {version}\s+ok", status.Output);
                return;
            }

            Thread.Sleep(200);
        }
        while (clock.Elapsed < Deadline);
        Assert.Fail($"version {version} not applied everywhere within {Deadline.TotalSeconds} s: {status}");
    }
}
