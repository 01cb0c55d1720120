using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// A router process restarted under traffic, as an upgrade restarts it (<c>lab restart br1a</c>: SIGTERM, the process
/// hands its sessions over in its state file and exits, the lab starts it again; docs/sessions.md "Restarts"). Ten TCP
/// streams and a UDP stream from eng1 (behind br1) to bulk1 (behind dc1), encrypted between the routers, run while br1
/// is restarted twice: every TCP stream completes without a reset with every byte intact, the UDP stream flows again
/// after each restart, and no router drops a packet as a mid-flow packet without a handshake. The receivers measure the
/// gap: from each SIGTERM (the time br1 logs it) until bytes arrive again.
/// </summary>
[Collection(LabCollection.Name)]
public sealed partial class LabRestartTests(ITestOutputHelper output)
{
    /// <summary>The lab starts its own server on the first TCP port (5300); the test's receiver takes 5301 and 5302.</summary>
    private const string Topology = """
        fabric {
          name = restart
          tenants { engineering {} }
          services {
            stream {
              addresses = ["10.10.1.30/32"]
              transports = [{ protocol = tcp, ports = ["5300-5301"] }, { protocol = udp, ports = ["5302"] }]
              access = [engineering]
              policy = secure
              instances = [{ container = bulk1 }]
            }
          }
          service-policies { secure { encryption = required } }
          neighborhoods { wan {} }
          routers {
            dc1 {
              nodes { dc1a { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks { svc { model = bridged, gateways = ["10.10.1.1/24"], containers { bulk1 { addresses = ["10.10.1.30"] } } } }
            }
            br1 {
              nodes { br1a { management-address = "10.99.0.12" } }
              interfaces { wan0 { addresses = ["172.16.0.2/24"], neighborhoods = [wan] } }
              networks { hosts { model = host-based, gateways = ["10.20.1.1/24"], containers { eng1 { addresses = ["10.20.1.10"], tenant = engineering } } } }
            }
          }
          conductor { addresses = ["10.99.0.2"] }
        }
        """;

    /// <summary>
    /// On bulk1: reads each TCP connection on 5301 to the end and answers with its length, SHA-256 and every pause
    /// between two reads longer than 100 ms (start on the wall clock, length); counts the UDP datagrams on 5302 (an
    /// 8-byte sequence number each) with their pauses, and answers "END" with the count.
    /// </summary>
    private const string Receiver = """
        import hashlib, json, socket, threading, time
        def connection(c):
            digest, total, last, pauses = hashlib.sha256(), 0, None, []
            while True:
                data = c.recv(1 << 16)
                now = time.time()
                if not data:
                    break
                if last is not None and now - last > 0.1:
                    pauses.append([last, now - last])
                last = now
                total += len(data)
                digest.update(data)
            c.sendall(json.dumps({"bytes": total, "sha256": digest.hexdigest(), "pauses": pauses}).encode())
            c.close()
        def tcp():
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("", 5301))
            server.listen(16)
            while True:
                c, _ = server.accept()
                threading.Thread(target=connection, args=(c,), daemon=True).start()
        threading.Thread(target=tcp, daemon=True).start()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("", 5302))
        seen, last, pauses = set(), None, []
        while True:
            data, peer = u.recvfrom(2048)
            now = time.time()
            if data == b"END":
                u.sendto(json.dumps({"datagrams": len(seen), "last": max(seen, default=-1), "pauses": pauses}).encode(), peer)
                continue
            if last is not None and now - last > 0.1:
                pauses.append([last, now - last])
            last = now
            seen.add(int.from_bytes(data[:8], "big"))
        """;

    /// <summary>
    /// On eng1: ten TCP connections to 5301, each sending a deterministic stream at a steady rate, and a UDP stream of
    /// 500 datagrams a second to 5302, for some seconds; prints what each sent and what the receiver answered.
    /// </summary>
    private const string Sender = """
        import hashlib, json, socket, sys, threading, time
        address, seconds, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
        streams = [None] * 10
        def tcp(k):
            try:
                deadline = time.monotonic() + 15
                while True:
                    try:
                        s = socket.create_connection((address, 5301), timeout=5)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                s.settimeout(60)
                digest, total, i, start = hashlib.sha256(), 0, 0, time.monotonic()
                while time.monotonic() - start < seconds:
                    block = hashlib.sha256(k.to_bytes(2, "big") + i.to_bytes(8, "big")).digest() * 256
                    s.sendall(block)
                    digest.update(block)
                    total += len(block)
                    i += 1
                    ahead = total / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
                s.shutdown(socket.SHUT_WR)
                reply = b""
                while True:
                    data = s.recv(4096)
                    if not data:
                        break
                    reply += data
                streams[k] = {"bytes": total, "sha256": digest.hexdigest(), "received": json.loads(reply)}
            except Exception as e:
                streams[k] = {"error": repr(e)}
        datagrams = {}
        def udp():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.connect((address, 5302))
            start, seq = time.monotonic(), 0
            while time.monotonic() - start < seconds:
                try:
                    u.send(seq.to_bytes(8, "big") + b"u" * 200)
                except ConnectionRefusedError:
                    datagrams["refused"] = datagrams.get("refused", 0) + 1
                seq += 1
                ahead = seq / 500 - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            datagrams["sent"] = seq
            u.settimeout(0.5)
            for _ in range(40):
                try:
                    u.send(b"END")
                    datagrams["received"] = json.loads(u.recv(1 << 20))
                    return
                except (socket.timeout, ConnectionRefusedError):
                    pass
        threads = [threading.Thread(target=tcp, args=(k,)) for k in range(10)] + [threading.Thread(target=udp)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps({"streams": streams, "udp": datagrams}))
        """;

    private const int Restarts = 2;

    [Fact]
    public async Task TenTcpStreamsAndAUdpStreamThroughBr1_Br1RestartedTwice_NoResetEveryByteIntact()
    {
        using var run = LabRun.Started("rs", Topology);
        using var receiver = Process.Start(ExternalCommand.Info("ip", ["netns", "exec", run.NamespaceOf("bulk1"), "python3", "-c", Receiver]))!;
        try
        {
            var sender = Task.Run(() => run.Exec("eng1", "python3", "-c", Sender, "10.10.1.30", "45", "200000"));
            run.Until("br1 holds the ten TCP sessions and the UDP one", () => run.Counters("br1a").GetProperty("sessions").GetInt64() >= 11);
            await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);

            var restarts = new List<string>();
            for (var i = 0; i < Restarts; i++)
            {
                var restart = run.Restart("br1a");
                Assert.True(restart.Succeeded, restart.ToString());
                restarts.Add(restart.Output.Trim());
                var figures = RestartLine().Match(restart.Output);
                Assert.True(figures.Success, restart.Output);
                var (handedOver, restored) = (int.Parse(figures.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(figures.Groups[2].Value, CultureInfo.InvariantCulture));
                Assert.True(handedOver >= 11, restart.Output);
                Assert.Equal(handedOver, restored);
                await Task.Delay(TimeSpan.FromSeconds(8), TestContext.Current.CancellationToken);
                AssertNoMidFlowDrop(run, "br1a", $"after restart {i + 1} ({restart.Output.Trim()})");
            }

            var result = await sender;
            Assert.True(result.Succeeded, result.ToString());
            using var report = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]);
            var stops = StoppingTimes(run, "br1a");
            Assert.Equal(Restarts, stops.Count);

            var gaps = new double[Restarts];
            foreach (var stream in report.RootElement.GetProperty("streams").EnumerateArray())
            {
                Assert.False(stream.TryGetProperty("error", out var error), $"a TCP stream failed: {error}");
                var received = stream.GetProperty("received");
                Assert.Equal(stream.GetProperty("bytes").GetInt64(), received.GetProperty("bytes").GetInt64());
                Assert.Equal(stream.GetProperty("sha256").GetString(), received.GetProperty("sha256").GetString());
                Gaps(received.GetProperty("pauses"), stops, gaps);
            }

            var udp = report.RootElement.GetProperty("udp");
            Assert.True(udp.TryGetProperty("received", out var udpReceived), $"the UDP receiver never answered: {udp}");
            var sent = udp.GetProperty("sent").GetInt64();
            var lost = sent - udpReceived.GetProperty("datagrams").GetInt64();
            // It flows after the last restart: the last datagrams arrived.
            Assert.True(udpReceived.GetProperty("last").GetInt64() >= sent - 50, $"the UDP stream stopped: {udp}");
            var udpGaps = new double[Restarts];
            Gaps(udpReceived.GetProperty("pauses"), stops, udpGaps);
            AssertNoMidFlowDrop(run, "dc1a", "at the end");

            output.WriteLine(string.Join("\n", restarts));
            output.WriteLine(
                $"10 TCP streams intact ({report.RootElement.GetProperty("streams")[0].GetProperty("bytes").GetInt64()} bytes each); " +
                $"gap from SIGTERM until TCP bytes arrive again (longest stream): {string.Join(", ", gaps.Select(g => $"{g * 1000:0} ms"))}; " +
                $"UDP: {sent} sent, {lost} lost, gap from SIGTERM until datagrams arrive again: {string.Join(", ", udpGaps.Select(g => $"{g * 1000:0} ms"))}; " +
                $"SIGTERMs at +0 and +{stops[^1] - stops[0]:0.00} s; UDP pauses: {Pauses(udpReceived.GetProperty("pauses"), stops)}; " +
                $"first TCP stream's pauses: {Pauses(report.RootElement.GetProperty("streams")[0].GetProperty("received").GetProperty("pauses"), stops)}");
        }
        finally
        {
            receiver.Kill();
        }
    }

    /// <summary>
    /// For each stop, the time from it until bytes arrived again after the first pause that ends after it (the pause the
    /// restart made: the old process forwards until it hands over), kept if longer than what <paramref name="gaps"/> holds;
    /// a stop with no pause over 100 ms after it counts 0.
    /// </summary>
    private static void Gaps(JsonElement pauses, List<double> stops, double[] gaps)
    {
        var spans = pauses.EnumerateArray().Select(p => (Start: p[0].GetDouble(), End: p[0].GetDouble() + p[1].GetDouble())).OrderBy(p => p.Start).ToList();
        for (var i = 0; i < stops.Count; i++)
        {
            var next = i + 1 < stops.Count ? stops[i + 1] : double.MaxValue;
            var first = spans.FirstOrDefault(p => p.End > stops[i] && p.Start < next);
            if (first != default)
            {
                gaps[i] = Math.Max(gaps[i], first.End - stops[i]);
            }
        }
    }

    /// <summary>The pauses over 100 ms, as seconds after the first stop and their length in ms.</summary>
    private static string Pauses(JsonElement pauses, List<double> stops) =>
        string.Join(", ", pauses.EnumerateArray().Select(p => $"{p[0].GetDouble() - stops[0]:+0.00;-0.00} s {p[1].GetDouble() * 1000:0} ms"));

    /// <summary>When the node logged each SIGTERM (its <c>event=stopping</c> lines), as Unix seconds.</summary>
    private static List<double> StoppingTimes(LabRun run, string node) =>
        [.. File.ReadAllLines(Path.Combine(run.StateRoot, run.Name, node + ".log"))
            .Select(l => StoppingLine().Match(l)).Where(m => m.Success)
            .Select(m => DateTimeOffset.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() / 1000.0)];

    /// <summary>No mid-flow packet without a handshake (transport-state enforcement, what answers with a reset) at <paramref name="node"/>.</summary>
    private static void AssertNoMidFlowDrop(LabRun run, string node, string when)
    {
        var counters = run.Counters(node);
        Assert.True(
            counters.GetProperty("drops").GetProperty("NoHandshake").GetInt64() == 0,
            $"{node} {when}: NoHandshake drops {counters.GetProperty("drops")}; recent: {counters.GetProperty("recent_drops")}; log:\n{string.Join("\n", File.ReadAllLines(Path.Combine(run.StateRoot, run.Name, node + ".log")).TakeLast(15))}");
    }



    [GeneratedRegex(@"sessions handed over (\d+), restored (\d+)")]
    private static partial Regex RestartLine();

    [GeneratedRegex(@"^time=(\S+) event=stopping ")]
    private static partial Regex StoppingLine();
}
