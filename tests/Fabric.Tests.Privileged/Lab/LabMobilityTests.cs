using System.Diagnostics;
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
/// dc1 to dc2 keeping its address while a client at br1 streams to it; mobile's other instances stay: mob2 at br2, mob3
/// at dc1 (dc1 still hosts the service, so br1 learns of the move only from dc1's redirect) and mob4 at dc2 (where the
/// session must land on mob1 by its pin, not by load balancing).
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabMobilityTests(MobilityLab lab, ITestOutputHelper output) : IClassFixture<MobilityLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellAgreesWithThePolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    [Fact]
    public void LongTransferToMob1_WhileMob1MovesFromDc1ToDc2AndSiblingsStay_CompletesWithEveryByteIntact()
    {
        var followedBefore = _run.Counters("br1a").GetProperty("redirects_followed").GetInt64();
        var pinnedBefore = _run.Counters("dc2a").GetProperty("instance_pins_honoured").GetInt64();

        InstanceMove.LongTransferCompletes(_run, lab.Programs, output, _run.NamespaceOf("mob1"), MoveMob1ToDc2, "re-plugged, committed, applied everywhere");

        output.WriteLine(
            $"dc1 redirects sent {_run.Counters("dc1a").GetProperty("redirects_sent").GetInt64()}, br1 redirects followed "
            + $"{_run.Counters("br1a").GetProperty("redirects_followed").GetInt64() - followedBefore}, dc2 pins honoured "
            + $"{_run.Counters("dc2a").GetProperty("instance_pins_honoured").GetInt64() - pinnedBefore}; dc1 redirects without their packet "
            + $"{_run.Counters("dc1a").GetProperty("redirects_without_packet").GetInt64()}, br1 returned packets sent on "
            + $"{_run.Counters("br1a").GetProperty("redirected_packets_resent").GetInt64()}");
        Assert.True(_run.Counters("br1a").GetProperty("redirects_followed").GetInt64() > followedBefore, "br1 followed dc1's redirect");
        Assert.True(_run.Counters("dc2a").GetProperty("instance_pins_honoured").GetInt64() > pinnedBefore, "dc2 put the session on mob1 by its pin");
    }

    /// <summary>Moves mob1 to dc2's apps network (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveMob1ToDc2()
    {
        LabMoves.Replug(_run, "mob1", "dc2a", "10.10.5.254");
        var moved = LabMoves.Relisted(
            Repository.Read("hocon/lab-mobility.conf"),
            "            mob1 { addresses = [\"10.10.5.10\"] }\n",
            "            mob4 { addresses = [\"10.10.5.40\"] }\n");
        LabMoves.Commit(_run, moved, "mob1 moves to dc2", nodes: 4);
    }
}

/// <summary>
/// A long transfer from eng1 at br1 to a service's instance while the instance moves (mobile's mob1 from dc1 to dc2 on the
/// mobility topology, unless the caller says otherwise).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class InstanceMove
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
    /// Connects to port 7001 of the service address argv[2] until the moving instance takes the connection (the other
    /// instances refuse it; after 30 s of refusals it prints so and exits), sends random data for argv[1] seconds
    /// (16 KiB every 10 ms), then prints "bytes sha256" and the receiver's line.
    /// </summary>
    private const string Sender = """
        import hashlib, os, socket, sys, time
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = socket.create_connection((sys.argv[2], 7001), timeout=60)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    print("refused for 30 s", flush=True)
                    sys.exit(1)
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

    /// <summary>
    /// eng1 sends to the instance in namespace <paramref name="instance"/> (mob1, at dc1) for 15 s; 3 s in,
    /// <paramref name="move"/> moves it (mob1 to dc2; <paramref name="how"/> says how, for the output). Every byte must
    /// arrive intact, br1 must count the session moved and dc2 carry it.
    /// </summary>
    /// <param name="landsAtDc2">Whether the instance moves to dc2 (br1 moves the session there); false: to br1 itself, where the caller checks what became of it.</param>
    /// <param name="carriedBy">The router node that carries the session before the move (dc1's, where mob1 is; br1's when mob1 starts at br1).</param>
    /// <param name="service">The address eng1 connects to (mobile's), whose service admits port 7001.</param>
    /// <param name="nodes">The router nodes whose counters are printed after the transfer (the mobility topology's).</param>
    public static void LongTransferCompletes(
        LabRun run, NetworkNamespaces programs, ITestOutputHelper output, string instance, Action move, string how, bool landsAtDc2 = true, string carriedBy = "dc1a",
        string service = "10.200.0.90", IReadOnlyList<string>? nodes = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(programs);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(move);
        var receiver = programs.Start(instance, "python3", "-c", Receiver);
        Assert.Equal("listening", receiver.StandardOutput.ReadLine());
        var movedBefore = run.Counters("br1a").GetProperty("sessions_moved").GetInt64();
        var sender = programs.Start(run.NamespaceOf("eng1"), "python3", "-c", Sender, "15", service);
        Assert.Equal("connected", sender.StandardOutput.ReadLine());
        run.Until($"{carriedBy} carries the transfer", () => run.Counters(carriedBy).GetProperty("sessions").GetInt64() > 0);
        Thread.Sleep(TimeSpan.FromSeconds(3));

        var clock = Stopwatch.StartNew();
        move();
        var moved = clock.Elapsed;

        var finished = sender.WaitForExit(TimeSpan.FromSeconds(90));
        foreach (var node in nodes ?? ["br1a", "dc1a", "dc2a"])
        {
            output.WriteLine($"{node}: {run.Counters(node)}");
        }

        Assert.True(finished, "the sender finished within 90 s");
        var sent = sender.StandardOutput.ReadLine();
        var received = sender.StandardOutput.ReadLine();
        output.WriteLine($"moved ({how}) in {moved.TotalSeconds:F1} s; sent: {sent}; receiver: {received}");
        Assert.False(string.IsNullOrEmpty(sent), $"the sender printed nothing: {sender.StandardError.ReadToEnd()}");
        var (count, digest) = (sent!.Split(' ')[0], sent.Split(' ')[1]);
        var answer = received?.Split(' ') ?? [];
        Assert.True(answer.Length == 3, $"the receiver's answer: {received}");
        Assert.Equal(count, answer[0]);
        Assert.Equal(digest, answer[1]);
        if (!landsAtDc2)
        {
            return;
        }

        Assert.True(run.Counters("br1a").GetProperty("sessions_moved").GetInt64() > movedBefore, "br1 moved the session to dc2");
        Assert.True(run.Counters("dc2a").GetProperty("sessions").GetInt64() > 0, "dc2 carries the session");
    }
}
