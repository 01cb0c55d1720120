using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// One lab for the class: the default topology with service bulk limited to 10 Mbit/s per tenant for the whole
/// fabric, and a second iperf3 server in bulk1 on 5202 (UDP at lab up; TCP, iperf3's control connection, by a
/// commit to the lab's conductor, so lab up starts no listener of its own there), so the engineering clients
/// behind both branches can send at once.
/// </summary>
public sealed class RateLimitedLab : IDisposable
{
    /// <summary>The tenant limit in IP bytes per second (10 Mbit/s).</summary>
    public const long Limit = 1_250_000;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    public RateLimitedLab()
    {
        var lab = Repository.Read("hocon/lab.conf")
            .Replace(
                "        { protocol = udp, ports = [\"5201\"] }\n",
                "        { protocol = udp, ports = [\"5201\"] }\n        { protocol = udp, ports = [\"5202\"] }\n",
                StringComparison.Ordinal)
            .Replace(
                "    bulk {\n      load-balancing = hunt",
                $"    bulk {{\n      tenant-rate-limit {{ bytes-per-second = {Limit}, burst-bytes = {Limit / 10} }}\n      load-balancing = hunt",
                StringComparison.Ordinal);
        Run = new LabRun("t", lab);
        try
        {
            var up = Run.Up();
            Assert.True(up.Succeeded, $"lab up failed: {up}");
            var withControl = Path.Combine(Run.StateRoot, "iperf3-control.conf");
            File.WriteAllText(withControl, lab.Replace(
                "        { protocol = udp, ports = [\"5202\"] }\n",
                "        { protocol = udp, ports = [\"5202\"] }\n        { protocol = tcp, ports = [\"5202\"] }\n",
                StringComparison.Ordinal));
            var commit = LabRun.Fabric(["config", "commit", withControl, "-m", "iperf3 control on 5202", "--lab", Run.Name, "--state-dir", Run.StateRoot]);
            Assert.True(commit.Succeeded, commit.ToString());
            AppliedEverywhere(2);
            var server = Run.Exec("bulk1", "iperf3", "-s", "-p", "5202", "-D");
            Assert.True(server.Succeeded, server.ToString());
        }
        catch
        {
            Run.Dispose();
            throw;
        }
    }

    public LabRun Run { get; }

    public void Dispose() => Run.Dispose();

    private void AppliedEverywhere(long version)
    {
        var clock = Stopwatch.StartNew();
        CommandResult status;
        do
        {
            status = LabRun.Fabric(["config", "status", "--lab", Run.Name, "--state-dir", Run.StateRoot]);
            if (status.Succeeded && status.Output.Contains($"running version {version}\n", StringComparison.Ordinal)
                && System.Text.RegularExpressions.Regex.Count(status.Output, $@"applied {version}\s+ok") == 3)
            {
                return;
            }

            Thread.Sleep(200);
        }
        while (clock.Elapsed < Deadline);
        Assert.Fail($"version {version} not applied by every router within {Deadline.TotalSeconds} s: {status}");
    }
}

/// <summary>
/// The cluster-wide tenant rate limit with real traffic: iperf3 UDP from eng1 (behind br1) and eng2 (behind br2)
/// to bulk1 on dc1 at once, through the real router processes, whose budget exchange runs over the lab's cluster.
/// What the receivers got is measured by iperf3 over the time that passed.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabTenantRateLimitTests(RateLimitedLab lab) : IClassFixture<RateLimitedLab>
{
    private const int Payload = 1200;
    private const int Seconds = 12;

    [Fact]
    public async Task Iperf3Udp_FromBothBranches_IsHeldToTheTenantsLimitAcrossTheFabric_EvenAndUneven()
    {
        var even = await Send("20M", "20M");
        Assert.InRange(even.Eng1 + even.Eng2, 0.9 * RateLimitedLab.Limit, 1.1 * RateLimitedLab.Limit);

        var uneven = await Send("30M", "4M");
        Assert.InRange(uneven.Eng1 + uneven.Eng2, 0.9 * RateLimitedLab.Limit, 1.1 * RateLimitedLab.Limit);
        Assert.True(uneven.Eng2 >= 0.9 * 4e6 / 8 * (Payload + 28) / Payload, $"eng2 offered 4 Mbit/s and got {uneven.Eng2 * 8 / 1e6:F2} Mbit/s of IP bytes");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"even 20M+20M: received {even.Eng1 * 8 / 1e6:F2} + {even.Eng2 * 8 / 1e6:F2} Mbit/s; uneven 30M+4M: {uneven.Eng1 * 8 / 1e6:F2} + {uneven.Eng2 * 8 / 1e6:F2} Mbit/s (IP bytes; limit 10)");
    }

    /// <summary>Runs both clients at once; returns what each one's receiver got, in IP bytes per second.</summary>
    private async Task<(double Eng1, double Eng2)> Send(string eng1Rate, string eng2Rate)
    {
        var eng1 = Task.Run(() => lab.Run.Exec("eng1", "iperf3", "-c", "10.10.1.30", "-p", "5201", "-u", "-l", $"{Payload}", "-b", eng1Rate, "-t", $"{Seconds}", "-J"), TestContext.Current.CancellationToken);
        var eng2 = Task.Run(() => lab.Run.Exec("eng2", "iperf3", "-c", "10.10.1.30", "-p", "5202", "-u", "-l", $"{Payload}", "-b", eng2Rate, "-t", $"{Seconds}", "-J"), TestContext.Current.CancellationToken);
        await Task.WhenAll(eng1, eng2);
        return (Received(await eng1), Received(await eng2));
    }

    private static double Received(CommandResult iperf)
    {
        Assert.True(iperf.Succeeded, iperf.ToString());
        using var result = JsonDocument.Parse(iperf.Output);
        var received = result.RootElement.GetProperty("end").GetProperty("sum_received");
        return received.GetProperty("bytes").GetInt64() * (double)(Payload + 28) / Payload / received.GetProperty("seconds").GetDouble();
    }
}
