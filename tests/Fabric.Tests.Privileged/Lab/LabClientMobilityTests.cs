using System.Diagnostics;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>One lab for the class: the shipped client-mobility topology (hocon/lab-client-mobility.conf), with the conductor.</summary>
public sealed class ClientMobilityLab : IDisposable
{
    public LabRun Run { get; } = LabRun.Started("cm", Repository.Read("hocon/lab-client-mobility.conf"));

    /// <summary>The test's own programs in the lab's containers.</summary>
    public NetworkNamespaces Programs { get; } = new();

    public void Dispose()
    {
        Programs.Dispose();
        Run.Dispose();
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
    /// <summary>Echoes one connection on 2201 byte for byte until its end.</summary>
    private const string Echo = """
        import socket
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("", 2201))
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
    /// An SSH-like interactive stream: for argv[1] seconds, a numbered line every 100 ms, each waited for as it comes back;
    /// prints "lines longest-gap-ms" and, when it stopped early, why (a line that came back wrong, a reset, a timeout).
    /// </summary>
    private const string Typist = """
        import socket, sys, time
        connection = socket.create_connection(("10.200.0.22", 2201), timeout=20)
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

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Verify_EveryCellAgreesWithThePolicy()
    {
        var verify = _run.Verify();

        Assert.True(verify.Succeeded, verify.ToString());
        Assert.Matches(@"\d+ correct, 0 wrong\n$", verify.Output);
    }

    [Fact]
    public void InteractiveStream_WhileEng1MovesFromBr1ToBr2_LosesNoLine_NeverReset()
    {
        var echo = lab.Programs.Start(_run.NamespaceOf("shell1"), "python3", "-c", Echo);
        Assert.Equal("listening", echo.StandardOutput.ReadLine());
        var typist = lab.Programs.Start(_run.NamespaceOf("eng1"), "python3", "-c", Typist, "12");
        Assert.Equal("connected", typist.StandardOutput.ReadLine());
        _run.Until("br1 carries the stream", () => _run.Counters("br1a").GetProperty("sessions").GetInt64() > 0);
        Thread.Sleep(TimeSpan.FromSeconds(3));

        var clock = Stopwatch.StartNew();
        MoveEng1ToBr2();
        var moved = clock.Elapsed;

        Assert.True(typist.WaitForExit(TimeSpan.FromSeconds(60)), "the typist finished within a minute");
        var result = typist.StandardOutput.ReadLine() ?? "";
        output.WriteLine($"moved (re-plugged, committed, applied everywhere) in {moved.TotalSeconds:F1} s; typist: {result}");
        var fields = result.Split(' ', 3);
        Assert.True(fields.Length == 2, $"the typist stopped early: {result} {typist.StandardError.ReadToEnd()}");
        Assert.InRange(int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), 40, 120);
        Assert.True(_run.Counters("br1a").GetProperty("sessions_moved").GetInt64() > 0, "br1 gave the session up");
        Assert.True(_run.Counters("br2a").GetProperty("sessions_moved").GetInt64() > 0, "br2 took the session");
    }

    /// <summary>Moves eng1 to br2's lan (<see cref="LabMoves"/>), then commits it listed there.</summary>
    private void MoveEng1ToBr2()
    {
        LabMoves.Replug(_run, "eng1", "br2a", "10.20.1.254");
        var moved = LabMoves.Relisted(
            Repository.Read("hocon/lab-client-mobility.conf"),
            "          containers {\n            eng1 { addresses = [\"10.20.1.10\"], tenant = engineering }\n          }\n",
            "          gateways = [\"10.20.1.254/24\"]\n");
        LabMoves.Commit(_run, moved, "eng1 moves to br2", nodes: 3);
    }
}
