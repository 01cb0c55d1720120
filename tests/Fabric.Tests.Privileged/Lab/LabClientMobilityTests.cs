using System.Diagnostics;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>A client-mobility lab (hocon/lab-client-mobility.conf) a client-move test runs on.</summary>
public interface IClientMobilityLab
{
    LabRun Run { get; }

    /// <summary>The test's own programs in the lab's containers.</summary>
    NetworkNamespaces Programs { get; }

    /// <summary>Router nodes of the lab, each of which must apply a commit.</summary>
    int Nodes { get; }

    /// <summary>The node of <paramref name="router"/> that forwards.</summary>
    string ActiveNode(string router);
}

/// <summary>One lab for the class: the shipped client-mobility topology (hocon/lab-client-mobility.conf), with the conductor.</summary>
public sealed class ClientMobilityLab : IClientMobilityLab, IDisposable
{
    public LabRun Run { get; } = LabRun.Started("cm", Repository.Read("hocon/lab-client-mobility.conf"));

    public NetworkNamespaces Programs { get; } = new();

    public int Nodes => 3;

    public string ActiveNode(string router) => router + "a";

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }
}

/// <summary>
/// The client-mobility lab with br1 and br2 each an HA pair (<c>lab up --ha br1 --ha br2</c>): the client leaves a pair
/// and arrives at one; only each pair's active node takes part in the hand-over (docs/mobility.md "HA pairs").
/// </summary>
public sealed class ClientMobilityPairsLab : IClientMobilityLab, IDisposable
{
    public ClientMobilityPairsLab()
    {
        Run = LabRun.Started("cmha", Repository.Read("hocon/lab-client-mobility.conf"), "--ha", "br1", "--ha", "br2");
        foreach (var router in new[] { "br1", "br2" })
        {
            Run.Until($"one {router} node is active and the other stands by", () => (Role(router + "a"), Role(router + "b")) is ("active", "standby") or ("standby", "active"));
        }
    }

    public LabRun Run { get; }

    public NetworkNamespaces Programs { get; } = new();

    public int Nodes => 5;

    public string ActiveNode(string router) => Role(router + "a") == "active" ? router + "a" : router + "b";

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
    }

    private string? Role(string node)
    {
        try
        {
            return Run.Counters(node).GetProperty("ha").GetProperty("role").GetString();
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null;
        }
    }
}

/// <summary>
/// A client that moves through real router processes (docs/mobility.md "A client moves"): eng1 moves from br1 to br2
/// keeping its address while it runs an interactive session with shell1 at dc1.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabClientMobilityTests(ClientMobilityLab lab, ITestOutputHelper output) : IClassFixture<ClientMobilityLab>
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
    public void InteractiveStream_WhileEng1MovesFromBr1ToBr2_LosesNoLine_NeverReset() => ClientMove.InteractiveStreamGoesOn(lab, output);
}

/// <summary>The same move between two HA pairs, real processes: the stream goes on, handed over by the active nodes.</summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabClientMobilityPairsTests(ClientMobilityPairsLab lab, ITestOutputHelper output) : IClassFixture<ClientMobilityPairsLab>
{
    [Fact]
    public void InteractiveStream_WhileEng1MovesFromPairBr1ToPairBr2_LosesNoLine_NeverReset() => ClientMove.InteractiveStreamGoesOn(lab, output);
}

/// <summary>eng1 moving from br1 to br2 while it types into shell1 at dc1, on a client-mobility lab.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal static class ClientMove
{
    /// <summary>Echoes one connection on 2201 byte for byte until its end; argv[1] is the family, 4 or 6.</summary>
    private const string Echo = """
        import socket, sys
        listener = socket.socket(socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("::" if sys.argv[1] == "6" else "", 2201))
        listener.listen(1)
        print("listening", flush=True)
        connection, _ = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = connection.recv(4096)
            if not data:
                break
            connection.sendall(data)
        """;

    /// <summary>
    /// An SSH-like interactive stream to argv[2] (shell's address, of either family): for argv[1] seconds, a numbered line
    /// every 100 ms, each waited for as it comes back; prints "lines longest-gap-ms" and, when it stopped early, why (a line
    /// that came back wrong, a reset, a timeout).
    /// </summary>
    private const string Typist = """
        import socket, sys, time
        connection = socket.create_connection((sys.argv[2], 2201), timeout=20)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        replies = connection.makefile("rb")
        print("connected", flush=True)
        end, lines, gap, error = time.monotonic() + float(sys.argv[1]), 0, 0.0, ""
        last = time.monotonic()
        try:
            while time.monotonic() < end:
                line = f"{lines} {'x' * 40}\n".encode()
                connection.sendall(line)
                back = replies.readline()
                now = time.monotonic()
                if back != line:
                    error = f"line {lines} came back as {back!r}"
                    break
                gap, last, lines = max(gap, now - last), now, lines + 1
                time.sleep(0.1)
        except OSError as e:
            error = repr(e)
        print(f"{lines} {gap * 1000:.0f} {error}".strip(), flush=True)
        """;

    /// <summary>
    /// The typist runs 12 s through br1, moves with eng1 to br2 3 s in (re-plugged, then a commit), and must finish without
    /// losing or garbling a line; br1's and br2's forwarding nodes count the session moved.
    /// </summary>
    public static void InteractiveStreamGoesOn(IClientMobilityLab lab, ITestOutputHelper output) =>
        InteractiveStreamGoesOn(lab, output, lab.Run.NamespaceOf("eng1"), () => MoveEng1ToBr2(lab), "re-plugged, committed, applied everywhere");

    /// <summary>
    /// The typist runs 12 s in <paramref name="client"/> (a namespace whose container is at br1) to shell at
    /// <paramref name="shell"/> (its IPv4 address by default; an IPv6 one has the echo listen on IPv6), moves to br2 by
    /// <paramref name="move"/> (<paramref name="how"/> says how, for the output) 3 s in, and must finish without losing or
    /// garbling a line; br1's and br2's forwarding nodes each count the session moved exactly once.
    /// </summary>
    public static void InteractiveStreamGoesOn(IClientMobilityLab lab, ITestOutputHelper output, string client, Action move, string how, string shell = "10.200.0.22")
    {
        ArgumentNullException.ThrowIfNull(lab);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(move);
        ArgumentNullException.ThrowIfNull(shell);
        var run = lab.Run;
        var echo = lab.Programs.Start(run.NamespaceOf("shell1"), "python3", "-c", Echo, shell.Contains(':', StringComparison.Ordinal) ? "6" : "4");
        Assert.Equal("listening", echo.StandardOutput.ReadLine());
        var (from, to) = (lab.ActiveNode("br1"), lab.ActiveNode("br2"));
        var (givenBefore, takenBefore, arrivingBefore) = (Moved(run, from), Moved(run, to), Arriving(run, to));
        var typist = lab.Programs.Start(client, "python3", "-c", Typist, "12", shell);
        Assert.Equal("connected", typist.StandardOutput.ReadLine());
        run.Until("br1 carries the stream", () => run.Counters(from).GetProperty("sessions").GetInt64() > 0);
        Thread.Sleep(TimeSpan.FromSeconds(3));

        var clock = Stopwatch.StartNew();
        move();
        var moved = clock.Elapsed;
        var (given, taken) = (TimeSpan.Zero, TimeSpan.Zero);
        while (!typist.HasExited && (given == TimeSpan.Zero || taken == TimeSpan.Zero) && clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            given = given == TimeSpan.Zero && Moved(run, from) > givenBefore ? clock.Elapsed : given;
            taken = taken == TimeSpan.Zero && Moved(run, to) > takenBefore ? clock.Elapsed : taken;
            Thread.Sleep(50);
        }

        Assert.True(typist.WaitForExit(TimeSpan.FromSeconds(60)), "the typist finished within a minute");
        var result = typist.StandardOutput.ReadLine() ?? "";
        output.WriteLine(
            $"moved ({how}) in {moved.TotalSeconds:F1} s; {from} held or gave up the session {given.TotalSeconds:F1} s and {to} took it {taken.TotalSeconds:F1} s after the move began, "
            + $"{to} dropped {Arriving(run, to) - arrivingBefore} of the client's packets as arriving; typist (lines, longest gap ms): {result}");
        var fields = result.Split(' ', 3);
        Assert.True(fields.Length == 2, $"the typist stopped early: {result} {typist.StandardError.ReadToEnd()}");
        Assert.InRange(int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), 40, 120);
        Assert.True(Moved(run, from) == givenBefore + 1, $"{from} gave the session up, counted once: sessions_moved {givenBefore} -> {Moved(run, from)}");
        Assert.True(Moved(run, to) == takenBefore + 1, $"{to} took the session, counted once: sessions_moved {takenBefore} -> {Moved(run, to)}");
    }

    private static long Moved(LabRun run, string node) => run.Counters(node).GetProperty("sessions_moved").GetInt64();

    private static long Arriving(LabRun run, string node) => run.Counters(node).GetProperty("drops").GetProperty("ClientArriving").GetInt64();

    /// <summary>Moves eng1 to br2's lan (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private static void MoveEng1ToBr2(IClientMobilityLab lab)
    {
        var run = lab.Run;
        LabMoves.Replug(run, "eng1", "br2a", "10.20.1.254");
        var moved = LabMoves.Relisted(
            Repository.Read("hocon/lab-client-mobility.conf"),
            "          containers {\n            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n          }\n",
            "          gateways = [\"10.20.1.254/24\"]\n");
        LabMoves.Commit(run, moved, "eng1 moves to br2", nodes: lab.Nodes);
    }
}
