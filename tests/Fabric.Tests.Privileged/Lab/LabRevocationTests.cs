using System.Globalization;
using System.Text.Json;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the default topology, whose policy the class's test changes.</summary>
public sealed class RevocationLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("r", Repository.Read("hocon/lab.conf"));

    public void Dispose() => Run.Dispose();
}

/// <summary>
/// A commit that takes a tenant off a service ends the tenant's live sessions on every router (docs/sessions.md
/// "Revocation"): real clients in eng1 (engineering) and guest1 (guest) at br1, web's instances at dc1.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabRevocationTests(RevocationLab lab) : IClassFixture<RevocationLab>
{
    private const int HeldPort = 45690;

    /// <summary>Opens a connection to web, sends an unfinished request (the server waits for the rest), and logs how it ends.</summary>
    private static readonly string HoldScript = $$"""
        import socket, sys, time
        log = open(sys.argv[1], "a", buffering=1)
        s = socket.socket()
        s.bind(("10.20.1.10", {{HeldPort}}))
        s.connect(("10.200.0.80", 80))
        s.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n")
        log.write(f"connected {time.time():.3f}\n")
        s.settimeout(60)
        try:
            s.recv(100)
            log.write(f"closed {time.time():.3f}\n")
        except ConnectionResetError:
            log.write(f"reset {time.time():.3f}\n")
        except TimeoutError:
            log.write(f"open {time.time():.3f}\n")
        """;

    /// <summary>curls web until the stop file appears, logging each curl's start, end (Unix seconds) and outcome.</summary>
    private const string CurlLoop = """
        log=$1; stop=$2
        while [ ! -e "$stop" ]; do
          start=$(date +%s.%N)
          if curl -s -o /dev/null -m 2 http://10.200.0.80/; then outcome=ok; else outcome=fail; fi
          echo "$start $(date +%s.%N) $outcome" >> "$log"
          sleep 0.2
        done
        """;

    private readonly LabRun _run = lab.Run;

    [Fact]
    public async Task CommitTakingEngineeringOffWeb_ResetsItsOpenConnectionWithinASecond_RefusesItsCurls_GuestsGoOn()
    {
        var cancel = TestContext.Current.CancellationToken;
        var dir = Directory.CreateDirectory(Path.Combine(_run.StateRoot, "revocation")).FullName;
        var (hold, curls, held, engLog, guestLog, stop) = (
            Path.Combine(dir, "hold.py"), Path.Combine(dir, "curls.sh"), Path.Combine(dir, "held.log"),
            Path.Combine(dir, "eng1.log"), Path.Combine(dir, "guest1.log"), Path.Combine(dir, "stop"));
        File.WriteAllText(hold, HoldScript);
        File.WriteAllText(curls, CurlLoop);
        var running = File.ReadAllText(Path.Combine(_run.StateRoot, _run.Name, "topology.conf"));
        Assert.Contains("access = [engineering, guest, finance]", running, StringComparison.Ordinal);
        var document = Path.Combine(dir, "engineering-off-web.conf");
        File.WriteAllText(document, running.Replace("access = [engineering, guest, finance]", "access = [guest, finance]", StringComparison.Ordinal));

        var holding = Task.Run(() => _run.Exec("eng1", "python3", hold, held), cancel);
        var engCurls = Task.Run(() => _run.Exec("eng1", "bash", curls, engLog, stop), cancel);
        var guestCurls = Task.Run(() => _run.Exec("guest1", "bash", curls, guestLog, stop), cancel);
        double commitStarted, resetAt;
        try
        {
            Eventually.True(() => Lines(held).Count == 1, TimeSpan.FromSeconds(20), "eng1's connection to web open");
            var server = Assert.Single(new[] { "web1", "web2" }, Holds);
            Eventually.True(() => Curls(engLog).Count >= 3 && Curls(guestLog).Count >= 3, TimeSpan.FromSeconds(20), "three curls from each client before the commit");

            commitStarted = UnixNow();
            var commit = LabRun.Fabric("config", "commit", document, "-m", "engineering loses web", "--lab", _run.Name, "--state-dir", _run.StateRoot);
            var committed = UnixNow();
            Assert.True(commit.Succeeded, commit.ToString());

            // The open connection ends with a reset at the client within a second of the commit, and at the instance too.
            Eventually.True(() => Lines(held).Count == 2, TimeSpan.FromSeconds(10), "eng1's connection ending");
            var end = Lines(held)[1].Split(' ');
            resetAt = double.Parse(end[1], CultureInfo.InvariantCulture);
            Assert.True(end[0] == "reset", $"eng1's connection: {end[0]} (committed at {committed:F3})");
            Assert.True(resetAt - committed <= 1.0, $"reset {resetAt - committed:F3} s after the commit returned (it took {committed - commitStarted:F3} s)");
            Eventually.True(() => !Holds(server), TimeSpan.FromSeconds(1), $"{server}'s end of the connection gone");
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"commit took {committed - commitStarted:F3} s; eng1's connection reset {resetAt - committed:F3} s after it returned");

            // New connections from engineering are refused; guest's curls went on throughout.
            var refused = _run.Exec("eng1", "curl", "-s", "-m", "2", "http://10.200.0.80/");
            Assert.False(refused.Succeeded, refused.ToString());
            Eventually.True(
                () => Curls(engLog).Count(c => c.Start > resetAt) >= 2 && Curls(guestLog).Count(c => c.Start > resetAt) >= 3,
                TimeSpan.FromSeconds(20), "curls from each client after the reset");
        }
        finally
        {
            // The loops end (and the held connection, at its own timeout) whatever the test found.
            File.WriteAllText(stop, "");
        }

        Assert.True((await holding).Succeeded);
        Assert.True((await engCurls).Succeeded);
        Assert.True((await guestCurls).Succeeded);

        var eng = Curls(engLog);
        Assert.All(eng.Where(c => c.End < commitStarted), c => Assert.True(c.Ok, $"eng1's curl at {c.Start:F3}, before the commit"));
        Assert.All(eng.Where(c => c.Start > resetAt), c => Assert.False(c.Ok, $"eng1's curl at {c.Start:F3}, after the reset"));
        Assert.All(Curls(guestLog), c => Assert.True(c.Ok, $"guest1's curl at {c.Start:F3}"));

        // Each router counts the revoked session under web and engineering, and reset the end it holds.
        foreach (var node in new[] { "br1a", "dc1a" })
        {
            using var counters = JsonDocument.Parse(RouterProcess.ReadCounters(_run.AdminSocketOf(node)));
            Assert.True(counters.RootElement.GetProperty("revoked").GetProperty("web").GetProperty("engineering").GetInt64() >= 1, $"{node}: {counters.RootElement}");
            Assert.True(counters.RootElement.GetProperty("session_resets").GetInt64() >= 1, $"{node}: {counters.RootElement}");
        }
    }

    /// <summary>Whether the web instance in <paramref name="container"/> holds the test's connection from eng1.</summary>
    private bool Holds(string container)
    {
        var sockets = _run.Exec(container, "ss", "-Htn", "state", "established");
        Assert.True(sockets.Succeeded, sockets.ToString());
        return sockets.Output.Contains($"10.20.1.10:{HeldPort}", StringComparison.Ordinal);
    }

    private static List<string> Lines(string file) =>
        File.Exists(file) ? [.. File.ReadAllLines(file).Where(l => l.Length > 0)] : [];

    private static List<(double Start, double End, bool Ok)> Curls(string log) =>
        [.. Lines(log).Select(l => l.Split(' ')).Where(f => f.Length == 3)
            .Select(f => (double.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[1], CultureInfo.InvariantCulture), f[2] == "ok"))];

    private static double UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
}
