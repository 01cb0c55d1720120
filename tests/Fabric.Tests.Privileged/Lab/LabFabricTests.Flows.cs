using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>
/// The operator's flow verbs (<c>fabric sessions</c>, <c>top</c>, <c>drops</c>, <c>paths</c>, <c>events --follow</c>) run
/// as processes against the default lab's conductor while a client in eng1 holds a real TCP connection to web and guest1
/// probes db, which its branch refuses.
/// </summary>
public sealed partial class LabFabricTests
{
    [Fact]
    public async Task FlowVerbs_AgainstTheLab_ShowTheClientsSession_TheDenialWithItsRule_PathsAndTheLiveTail()
    {
        var cancel = TestContext.Current.CancellationToken;
        string[] lab = ["--lab", _run.Name, "--state-dir", _run.StateRoot];
        const int clientPort = 45679;
        var lines = new ConcurrentQueue<string>();
        var command = FabricExecutable.CommandLine();
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Skip(1).Concat(["events", "--follow", "--kinds", "rollout,session,drop", "--json", .. lab]))
        {
            start.ArgumentList.Add(argument);
        }

        using var follow = Process.Start(start)!;
        follow.OutputDataReceived += (_, line) =>
        {
            if (line.Data is { } text)
            {
                lines.Enqueue(text);
            }
        };
        follow.BeginOutputReadLine();
        follow.BeginErrorReadLine();
        try
        {
            // The stream opens with the rollout in force: once that is printed, the verb is subscribed.
            var hold = $"import socket,time\ns=socket.socket()\ns.bind(('10.20.1.10',{clientPort}))\ns.connect(('10.200.0.80',80))\ntime.sleep(15)\ns.close()";
            await Until(() => Task.FromResult(Events(lines).Any(e => e.Kind == "rollout")), "fabric events --follow printing the rollout it opens with");
            var client = Task.Run(() => _run.Exec("eng1", "python3", "-c", hold), cancel);

            // sessions: the client's session at br1 (ingress, to dc1) and at dc1 (egress, to an instance of web).
            CommandResult sessions = default!;
            await Until(
                () =>
                {
                    sessions = LabRun.Fabric(["sessions", "--tenant", "engineering", "--address", "10.20.1.10", .. lab]);
                    return Task.FromResult(sessions.Output.Contains($"10.20.1.10:{clientPort} > 10.200.0.80:80", StringComparison.Ordinal));
                },
                "the client's session in fabric sessions");
            Assert.True(sessions.Succeeded, sessions.ToString());
            Assert.Matches($@"br1a/\d+\.\d+  tcp engineering > web  ingress[^\n]*\n    forward tcp 10\.20\.1\.10:{clientPort} > 10\.200\.0\.80:80 ", sessions.Output);
            Assert.Matches(@"\n    instance router:dc1; peer path dc1 over wan, waypoints 172\.16\.0\.2:\d+ <> 172\.16\.0\.1:\d+", sessions.Output);
            var json = LabRun.Fabric(["sessions", "--router", "dc1", "--address", "10.20.1.10", "--json", .. lab]);
            Assert.True(json.Succeeded, json.ToString());
            using (var answer = JsonDocument.Parse(json.Output))
            {
                // At dc1 the session's forward key is the waypoints' (as SVR packets arrive); answers go back to the client.
                var atDc1 = answer.RootElement.GetProperty("sessions").EnumerateArray()
                    .Single(s => s.GetProperty("reverse").GetProperty("destination_port").GetInt32() == clientPort);
                Assert.Equal(("dc1a", "egress", "engineering", "web"), (atDc1.GetProperty("node").GetString(), atDc1.GetProperty("role").GetString(), atDc1.GetProperty("tenant").GetString(), atDc1.GetProperty("service").GetString()));
                Assert.Matches("^web[12]$", atDc1.GetProperty("instance").GetString());
            }

            // top: most bytes first.
            var top = LabRun.Fabric(["top", "--limit", "5", "--json", .. lab]);
            Assert.True(top.Succeeded, top.ToString());
            using (var answer = JsonDocument.Parse(top.Output))
            {
                var bytes = answer.RootElement.GetProperty("sessions").EnumerateArray()
                    .Select(s => s.GetProperty("forward_bytes").GetInt64() + s.GetProperty("reverse_bytes").GetInt64()).ToList();
                Assert.InRange(bytes.Count, 1, 5);
                Assert.Equal(bytes.OrderDescending(), bytes);
            }

            // drops: guest1's refused probe with its tenant, service and the access rule behind it.
            Assert.False(_run.Exec("guest1", "timeout", "3", "bash", "-c", "cat </dev/tcp/10.10.1.20/5432").Succeeded);
            var drops = LabRun.Fabric(["drops", "--router", "br1", "--reason", "access_denied", .. lab]);
            Assert.True(drops.Succeeded, drops.ToString());
            Assert.Matches(@"\nbr1a\s+access_denied\s+guest\s+db\s+\d+  fabric\.services\.db\.access\n", drops.Output);
            Assert.Matches(@"br1a access_denied tenant guest service db tcp 10\.20\.1\.20:\d+ > 10\.10\.1\.20:5432 on guest1\n      rule fabric\.services\.db\.access: access = \[finance\]: guest is not listed", drops.Output);

            // paths: br1a's two peer paths over the WAN, up and, once their first echo bursts are in its telemetry, measured.
            List<JsonElement> br1a = [];
            await Until(
                () =>
                {
                    var paths = LabRun.Fabric(["paths", "--router", "br1", "--json", .. lab]);
                    Assert.True(paths.Succeeded, paths.ToString());
                    br1a = [.. JsonDocument.Parse(paths.Output).RootElement.GetProperty("paths").EnumerateArray().Where(p => p.GetProperty("node").GetString() == "br1a")];
                    return Task.FromResult(br1a.Count == 2 && br1a.All(p => p.GetProperty("rtt_milliseconds").ValueKind == JsonValueKind.Number));
                },
                "br1a's two peer paths measured in fabric paths");
            Assert.Equal(["br2", "dc1"], br1a.Select(p => p.GetProperty("peer").GetString()).Order(StringComparer.Ordinal));
            Assert.All(br1a, p => Assert.True(p.GetProperty("up").GetBoolean(), p.ToString()));
            Assert.All(br1a, p => Assert.Equal("ipv4", p.GetProperty("family").GetString()));
            Assert.Matches(@"\nbr1\s+br1a\s+dc1\s+wan\s+ipv4\s+up\s", LabRun.Fabric(["paths", "--router", "br1", .. lab]).Output);

            // events --follow printed the session opening at br1a and the drop, live, as JSON lines.
            Assert.True((await client).Succeeded);
            await Until(
                () => Task.FromResult(Events(lines).Any(e => e.Kind == "session" && e.Data.GetProperty("kind").GetString() == "opened"
                    && e.Data.GetProperty("session").GetProperty("node").GetString() == "br1a"
                    && e.Data.GetProperty("session").GetProperty("forward").GetProperty("source_port").GetInt32() == clientPort)),
                "the session's opening on fabric events --follow");
            Assert.Contains(Events(lines), e => e.Kind == "drop" && e.Data.TryGetProperty("rule", out var rule) && rule.GetString() == "fabric.services.db.access");

            // Exit codes: nothing found is 1; no conductor is 3.
            Assert.Equal(1, LabRun.Fabric(["sessions", "--tenant", "finance", "--address", "10.20.1.99", .. lab]).ExitCode);
            Assert.Equal(3, LabRun.Fabric("sessions", "--conductor", "http://127.0.0.1:1").ExitCode);
        }
        finally
        {
            follow.Kill();
            await follow.WaitForExitAsync(cancel);
        }
    }

    private static List<(string Kind, JsonElement Data)> Events(IEnumerable<string> lines) =>
        [.. lines.Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("kind").GetString()!, e.GetProperty("data")))];
}
