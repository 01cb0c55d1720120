using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the shipped mobility topology (hocon/lab-mobility.conf), with the conductor.</summary>
public sealed class MobilityLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("m", Repository.Read("hocon/lab-mobility.conf"));

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// Workload mobility through real router processes (docs/mobility.md): mob1, an instance of service mobile, moves from
/// dc1 to dc2 keeping its address while a client at br1 streams to it; mobile's other instance, mob2 at br2, stays.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabMobilityTests(MobilityLab lab, ITestOutputHelper output) : IClassFixture<MobilityLab>
{
    /// <summary>Receives one connection on 7001 until its end, then answers "bytes sha256 longest-pause-ms" and closes.</summary>
    private const string Receiver = """
        import hashlib, socket, time
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("", 7001))
        listener.listen(1)
        print("listening", flush=True)
        connection, _ = listener.accept()
        digest, count, last, pause = hashlib.sha256(), 0, None, 0.0
        while True:
            data = connection.recv(65536)
            now = time.monotonic()
            if not data:
                break
            if last is not None:
                pause = max(pause, now - last)
            last = now
            count += len(data)
            digest.update(data)
        connection.sendall(f"{count} {digest.hexdigest()} {pause * 1000:.0f}\n".encode())
        connection.close()
        """;

    /// <summary>
    /// Connects to mobile's 7001 until mob1 takes the connection (mob2 refuses it), sends random data for argv[1] seconds
    /// (16 KiB every 10 ms), then prints "bytes sha256" and the receiver's line.
    /// </summary>
    private const string Sender = """
        import hashlib, os, socket, sys, time
        while True:
            try:
                connection = socket.create_connection(("10.200.0.90", 7001), timeout=60)
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        print("connected", flush=True)
        digest, count, end = hashlib.sha256(), 0, time.monotonic() + float(sys.argv[1])
        while time.monotonic() < end:
            chunk = os.urandom(16384)
            connection.sendall(chunk)
            digest.update(chunk)
            count += len(chunk)
            time.sleep(0.01)
        connection.shutdown(socket.SHUT_WR)
        answer = connection.makefile().readline().strip()
        print(f"{count} {digest.hexdigest()}", flush=True)
        print(answer, flush=True)
        """;

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellAgreesWithThePolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    [Fact]
    public void LongTransferToMob1_WhileMob1MovesFromDc1ToDc2_CompletesWithEveryByteIntact()
    {
        var receiver = lab.Programs.Start(_run.NamespaceOf("mob1"), "python3", "-c", Receiver);
        Assert.Equal("listening", receiver.StandardOutput.ReadLine());
        var movedBefore = _run.Counters("br1a").GetProperty("sessions_moved").GetInt64();
        var sender = lab.Programs.Start(_run.NamespaceOf("eng1"), "python3", "-c", Sender, "15");
        Assert.Equal("connected", sender.StandardOutput.ReadLine());
        _run.Until("dc1 carries the transfer", () => _run.Counters("dc1a").GetProperty("sessions").GetInt64() > 0);
        Thread.Sleep(TimeSpan.FromSeconds(3));

        var clock = Stopwatch.StartNew();
        MoveMob1ToDc2();
        var moved = clock.Elapsed;

        Assert.True(sender.WaitForExit(TimeSpan.FromSeconds(60)), "the sender finished within a minute");
        var sent = sender.StandardOutput.ReadLine();
        var received = sender.StandardOutput.ReadLine();
        output.WriteLine($"moved (re-plugged, committed, applied everywhere) in {moved.TotalSeconds:F1} s; sent: {sent}; receiver: {received}");
        Assert.False(string.IsNullOrEmpty(sent), $"the sender printed nothing: {sender.StandardError.ReadToEnd()}");
        var (count, digest) = (sent!.Split(' ')[0], sent.Split(' ')[1]);
        var answer = received?.Split(' ') ?? [];
        Assert.True(answer.Length == 3, $"the receiver's answer: {received}");
        Assert.Equal(count, answer[0]);
        Assert.Equal(digest, answer[1]);
        Assert.True(_run.Counters("br1a").GetProperty("sessions_moved").GetInt64() > movedBefore, "br1 moved the session to dc2");
        Assert.True(_run.Counters("dc2a").GetProperty("sessions").GetInt64() > 0, "dc2 carries the session");
    }

    /// <summary>
    /// Moves mob1 as a live migration does, its network namespace and sockets kept: its link is plugged into dc2's apps
    /// bridge, its default route points at dc2's gateway (10.10.5.254) and its neighbours are resolved again; then a
    /// commit lists it under dc2, and every router node applies it.
    /// </summary>
    private void MoveMob1ToDc2()
    {
        var mob1 = _run.NamespaceOf("mob1");
        var wires = $"fab-{_run.Name}";
        var dc2Bridge = LinksOf(_run.NamespaceOf("dc2a"))
            .Where(l => l.GetProperty("ifname").GetString() != "lo")
            .Select(l => Master(wires, WiresEnd(wires, l)))
            .Single(bridge => bridge?.StartsWith("lan", StringComparison.Ordinal) == true)!;
        var mob1End = WiresEnd(wires, LinksOf(mob1).Single(l => l.GetProperty("ifname").GetString() == "eth0"));
        Check(ExternalCommand.Run("ip", "-n", wires, "link", "set", "dev", mob1End, "master", dc2Bridge));
        Check(ExternalCommand.Run("ip", "-n", mob1, "route", "replace", "default", "via", "10.10.5.254", "dev", "eth0"));
        Check(ExternalCommand.Run("ip", "-n", mob1, "neigh", "flush", "dev", "eth0"));

        var topology = Repository.Read("hocon/lab-mobility.conf");
        var listed = "          containers {\n            mob1 { addresses = [\"10.10.5.10\"] }\n          }\n";
        var moved = topology
            .Replace(listed, "", StringComparison.Ordinal)
            .Replace("          gateways = [\"10.10.5.254/24\"]\n", "          gateways = [\"10.10.5.254/24\"]\n" + listed, StringComparison.Ordinal);
        Assert.NotEqual(topology, moved);
        var document = Path.Combine(_run.StateRoot, "mob1-at-dc2.conf");
        File.WriteAllText(document, moved);
        var commit = Config("commit", document, "-m", "mob1 moves to dc2");
        Assert.True(commit.Succeeded, commit.ToString());
        var version = System.Text.RegularExpressions.Regex.Match(commit.Output, @"version (\d+) committed").Groups[1].Value;
        _run.Until($"every router node applied version {version}", () =>
        {
            var status = Config("status");
            return status.Succeeded && System.Text.RegularExpressions.Regex.Count(status.Output, $@"applied {version}\s+ok") == 4;
        });
    }

    private CommandResult Config(params string[] arguments) => LabRun.Fabric(["config", .. arguments, "--lab", _run.Name, "--state-dir", _run.StateRoot]);

    private static List<JsonElement> LinksOf(string ns)
    {
        var shown = ExternalCommand.Run("ip", "-n", ns, "-j", "link", "show");
        Check(shown);
        using var links = JsonDocument.Parse(shown.Output);
        return [.. links.RootElement.EnumerateArray().Select(l => l.Clone())];
    }

    /// <summary>The name of the wires namespace's end of a veth whose other end is <paramref name="link"/>.</summary>
    private static string WiresEnd(string wires, JsonElement link) =>
        link.TryGetProperty("link_index", out var peer)
            ? LinksOf(wires).Where(l => l.GetProperty("ifindex").GetInt32() == peer.GetInt32()).Select(l => l.GetProperty("ifname").GetString()).FirstOrDefault() ?? ""
            : "";

    private static string? Master(string wires, string device) =>
        LinksOf(wires)
            .Where(l => device.Length > 0 && l.GetProperty("ifname").GetString() == device && l.TryGetProperty("master", out _))
            .Select(l => l.GetProperty("master").GetString())
            .FirstOrDefault();

    private static void Check(CommandResult result) => Assert.True(result.Succeeded, result.ToString());
}
