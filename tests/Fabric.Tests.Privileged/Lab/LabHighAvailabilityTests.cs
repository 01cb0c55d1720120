using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// dc1 as an HA pair in a real lab (<c>lab up --ha dc1</c>): separate router processes dc1a and dc1b on the same
/// WAN and service LAN, sharing the router's identity. A TCP stream from eng1 (behind br1) to bulk1 (behind
/// dc1), encrypted between the routers, runs while the active dc1 node is killed with SIGKILL: the stream
/// completes without a reset, every byte arrives intact, and the standby has taken over. The receiver measures
/// the failover gap (the longest time without a byte).
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabHighAvailabilityTests(ITestOutputHelper output)
{
    private const string Topology = """
        fabric {
          name = ha
          tenants { engineering {} }
          services {
            stream {
              addresses = ["10.10.1.30/32"]
              transports = [{ protocol = tcp, ports = ["5300-5301"] }]
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
    /// Reads one connection to the end; answers with the bytes, their SHA-256 and every pause between two reads
    /// longer than 100 ms (start on the machine's monotonic clock, which .NET's Stopwatch also reads, and length).
    /// </summary>
    private const string Receiver = """
        import hashlib, json, socket, sys, time
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("", int(sys.argv[1])))
        server.listen(1)
        connection, _ = server.accept()
        digest, total, last, pauses = hashlib.sha256(), 0, None, []
        while True:
            data = connection.recv(1 << 16)
            now = time.monotonic()
            if not data:
                break
            if last is not None and now - last > 0.1:
                pauses.append([last, now - last])
            last = now
            total += len(data)
            digest.update(data)
        connection.sendall(json.dumps({"bytes": total, "sha256": digest.hexdigest(), "pauses": pauses}).encode())
        connection.close()
        """;

    /// <summary>Sends a deterministic stream at a steady rate for some seconds, then prints what it sent and the receiver's answer.</summary>
    private const string Sender = """
        import hashlib, json, socket, sys, time
        address, port, seconds, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        deadline = time.monotonic() + 15
        while True:
            try:
                s = socket.create_connection((address, port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        s.settimeout(30)
        digest, total, i, start = hashlib.sha256(), 0, 0, time.monotonic()
        while time.monotonic() - start < seconds:
            block = hashlib.sha256(i.to_bytes(8, "big")).digest() * 512
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
        print(json.dumps({"bytes": total, "sha256": digest.hexdigest(), "received": json.loads(reply)}))
        """;

    [Fact]
    public async Task StreamThroughHaPair_ActiveNodeKilled_StandbyTakesOver_StreamCompletesIntact()
    {
        using var run = new LabRun("ha", Topology);
        var up = run.Up("--ha", "dc1");
        Assert.True(up.Succeeded, up.ToString());
        Assert.Contains("router     dc1b (dc1)", up.Output, StringComparison.Ordinal);
        Assert.Contains("is up: 2 routers (3 nodes)", up.Output, StringComparison.Ordinal);

        // One node of the pair is active, the other stands by (dc1a, first in the document, unless a slow start made dc1b take it).
        run.Until("one dc1 node is active and the other stands by", () => Roles(run) is ("active", "standby") or ("standby", "active"));
        var (active, standby) = Roles(run) is ("active", _) ? ("dc1a", "dc1b") : ("dc1b", "dc1a");

        using var receiver = Process.Start(ExternalCommand.Info("ip", ["netns", "exec", run.NamespaceOf("bulk1"), "python3", "-c", Receiver, "5301"]))!;
        var sender = Task.Run(() => run.Exec("eng1", "python3", "-c", Sender, "10.10.1.30", "5301", "8", "20000000"));
        run.Until($"the stream's session is replicated to {standby}", () => run.Counters(standby).GetProperty("sessions").GetInt64() >= 1
            && run.Counters(standby).GetProperty("ha").GetProperty("sessions_replicated_in").GetInt64() >= 1);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);

        // Stopwatch reads CLOCK_MONOTONIC, as python's time.monotonic() in the receiver does.
        var killedAt = (double)Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        Process.GetProcessById(Pid(run, active)).Kill(); // SIGKILL: no goodbye to the partner
        var result = await sender;
        Assert.True(result.Succeeded, $"the stream failed after {active} was killed: {result}");

        using var report = JsonDocument.Parse(result.Output.Trim().Split('\n')[^1]);
        var sent = report.RootElement;
        var received = sent.GetProperty("received");
        Assert.Equal(sent.GetProperty("bytes").GetInt64(), received.GetProperty("bytes").GetInt64());
        Assert.Equal(sent.GetProperty("sha256").GetString(), received.GetProperty("sha256").GetString());
        // The failover gap: the pause in which the kill fell (none: the stream never stopped long enough to notice).
        var pauses = received.GetProperty("pauses").EnumerateArray().Select(p => (Start: p[0].GetDouble(), Length: p[1].GetDouble())).ToList();
        var gap = pauses.Where(p => p.Start <= killedAt + 0.05 && p.Start + p.Length >= killedAt).Select(p => p.Length).DefaultIfEmpty(0).Max();
        output.WriteLine(
            $"{sent.GetProperty("bytes").GetInt64()} bytes intact; {active} killed, {standby} took over; failover gap {gap * 1000:0} ms; " +
            $"pauses over 100 ms (s after the kill, ms): {string.Join(", ", pauses.Select(p => $"{p.Start - killedAt:+0.00;-0.00} {p.Length * 1000:0}"))}");
        Assert.True(gap < 3.0, $"the stream stalled {gap:0.00} s at the failover");
        Assert.All(pauses, p => Assert.True(p.Length < 3.0, $"the stream stalled {p.Length:0.00} s"));

        var survivor = run.Counters(standby);
        Assert.Equal("active", survivor.GetProperty("ha").GetProperty("role").GetString());
        Assert.True(survivor.GetProperty("ha").GetProperty("takeovers").GetInt64() >= 1);
        Assert.True(survivor.GetProperty("ha").GetProperty("announcements").GetInt64() >= 2);
        Assert.True(survivor.GetProperty("forwarded").GetInt64() > 0);
        // The lab starts the killed node again; it hears its partner active and stands by (no preemption).
        run.Until($"{active} is started again and stands by", () => Role(run, active) == "standby");
        var status = run.Status();
        Assert.Matches($@"{active}\s+pid \d+\s+running .*restarts 1 \(last exit: killed by signal 9 \(SIGKILL\)", status.Output);
        Assert.Matches($@"router {standby}: .*HA active \(partner {active}, takeovers \d+", status.Output);
        Assert.True(receiver.WaitForExit(TimeSpan.FromSeconds(10)), "the receiver got the end of the stream");
    }

    private static (string? A, string? B) Roles(LabRun run) => (Role(run, "dc1a"), Role(run, "dc1b"));

    private static string? Role(LabRun run, string node)
    {
        try
        {
            return run.Counters(node).GetProperty("ha").GetProperty("role").GetString();
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null;
        }
    }


    private static int Pid(LabRun run, string node) => Fabric.Lab.LabProcesses.ReadPid(Path.Combine(run.StateRoot, run.Name, node + ".pid"))!.Value;
}
