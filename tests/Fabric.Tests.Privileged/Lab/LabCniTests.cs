using System.Diagnostics;
using System.Text.Json.Nodes;
using Fabric.Router;
using Fabric.Cni.Admin;
using Fabric.Tests.Support;

namespace Fabric.Tests.Lab;

/// <summary>
/// The default lab with a host-based network <c>pods</c> added to dc1 and one to br2 (br1 has one: <c>hosts</c>), and the CNI plugin as a
/// runtime would install it: <c>fabric-cni</c> (a wrapper that runs <c>fabric cni</c>) beside Debian's
/// containernetworking-plugins, one network configuration list per router with Debian's <c>bandwidth</c> after ours.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CniLab : IDisposable
{
    public CniLab()
    {
        var topology = Repository.Read("hocon/lab.conf").Replace(
            "      networks {\n        svc {",
            "      networks {\n        pods {\n          model = host-based\n          gateways = [\"10.10.2.1/24\"]\n        }\n        svc {",
            StringComparison.Ordinal);
        topology = topology.Replace(
            "      networks {\n        lan {",
            "      networks {\n        pods {\n          model = host-based\n          gateways = [\"10.30.2.1/24\"]\n        }\n        lan {",
            StringComparison.Ordinal);
        Assert.Contains("10.10.2.1/24", topology, StringComparison.Ordinal);
        Assert.Contains("10.30.2.1/24", topology, StringComparison.Ordinal);
        Run = LabRun.Started("k", topology);
        Br1 = Plugins.RuntimeOf(Run, "br1a", network: null);
        Dc1 = Plugins.RuntimeOf(Run, "dc1a", network: "pods");
        Br2 = Plugins.RuntimeOf(Run, "br2a", network: "pods");
    }

    public LabRun Run { get; }

    public CniPlugins Plugins { get; } = new();

    /// <summary>A runtime on br1's host (its router's namespace), with br1's list.</summary>
    public CniRuntime Br1 { get; }

    /// <summary>A runtime on dc1's host, with dc1's list (network <c>pods</c>).</summary>
    public CniRuntime Dc1 { get; }

    /// <summary>A runtime on br2's host, with br2's list (network <c>pods</c>): the document gives br2 no service instance.</summary>
    public CniRuntime Br2 { get; }

    public NetworkNamespaces Containers { get; } = new();

    /// <summary>A fresh network namespace for one container; returns its path, as a runtime passes it in CNI_NETNS.</summary>
    public string FreshContainer(string name)
    {
        var ns = $"fab-cni{name}{NetworkNamespaces.Suffix}";
        Containers.AddNamespace(ns);
        return $"/var/run/netns/{ns}";
    }

    public void Dispose()
    {
        Containers.Dispose();
        Run.Dispose();
        Plugins.Dispose();
    }
}

/// <summary>
/// The CNI plugin driven exactly as a container runtime drives it (environment variables, the configuration on standard
/// input, chained with Debian's bandwidth plugin), into fresh namespaces, with traffic through the lab's real routers.
/// </summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabCniTests(CniLab lab) : IClassFixture<CniLab>
{
    private const string WebUrl = "http://10.200.0.80/";

    /// <summary>An HTTP/1.0 server that answers its name and then holds the connection until the client closes it.</summary>
    private const string HoldingServer = """
        import socketserver, sys
        body = (sys.argv[1] + "\n").encode()
        class Hold(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(4096)
                self.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                while self.request.recv(4096):
                    pass
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer(("", 80), Hold).serve_forever()
        """;

    /// <summary>Connects to web until an instance named argv[1] answers, says "held", and keeps that connection open.</summary>
    private const string HoldingClient = """
        import socket, sys, time
        while True:
            s = socket.create_connection(("10.200.0.80", 80), timeout=5)
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            if sys.argv[1].encode() in s.recv(4096):
                break
            s.close()
        print("held", flush=True)
        time.sleep(600)
        """;

    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Add_ClientOfEngineering_AtBr1_ReachesWebThroughTheFabric_ChainedWithBandwidth_AndDelTwiceSucceeds()
    {
        var netns = lab.FreshContainer("c");
        var id = "client" + NetworkNamespaces.Suffix;

        var added = lab.Br1.Add(id, netns, "eth0", "IgnoreUnknown=1;FABRIC_TENANT=engineering;FABRIC_NAME=cnicli");

        Assert.True(added.Count == 2 && added.All(o => o.Succeeded), string.Join("\n", added));
        var result = added[^1].Json!;
        var address = result["ips"]![0]!["address"]!.GetValue<string>();
        Assert.StartsWith("10.20.1.", address, StringComparison.Ordinal);
        Assert.Equal("10.20.1.1", result["ips"]![0]!["gateway"]!.GetValue<string>());
        Assert.Contains(result["interfaces"]!.AsArray(), i => i!["name"]!.GetValue<string>() == "cnicli" && i["sandbox"] is null);
        // bandwidth found our router-side veth in prevResult and shaped it.
        var qdisc = ExternalCommand.InNamespace(lab.Br1.HostNamespace, "tc", "qdisc", "show", "dev", "cnicli");
        Assert.Contains("tbf", qdisc.Output, StringComparison.Ordinal);

        var answers = Enumerable.Range(0, 4).Select(_ => ExternalCommand.InNamespace(Name(netns), "curl", "-s", "-m", "5", WebUrl)).ToList();
        Assert.All(answers, a => Assert.True(a.Succeeded, a.ToString()));
        Assert.All(answers, a => Assert.Contains(a.Output.Trim(), new[] { "web1", "web2" }));
        Assert.True(lab.Br1.Check(id, netns, "eth0", "", result).All(o => o.Succeeded), string.Join("\n", lab.Br1.Check(id, netns, "eth0", "", result)));

        var deleted = lab.Br1.Delete(id, netns, "eth0", "", result);
        var again = lab.Br1.Delete(id, netns, "eth0", "", result);

        Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
        Assert.True(again.All(o => o.Succeeded), string.Join("\n", again));
        Assert.Empty(Attachments("br1a"));
        Assert.False(ExternalCommand.InNamespace(lab.Br1.HostNamespace, "ip", "link", "show", "dev", "cnicli").Succeeded);
        Assert.False(ExternalCommand.InNamespace(Name(netns), "curl", "-s", "-m", "3", WebUrl).Succeeded);
    }

    [Fact]
    public void Add_WebInstance_AtDc1_TakesSessionsFromABranchWithinSeconds_AndDelEndsThem()
    {
        var (netns, id, result) = AddWebInstance(lab.Dc1, "web3", "10.10.2.2/24");
        var clock = Stopwatch.StartNew();

        // Proportional over web1, web2 and web3 at dc1: a few sessions from br1 reach web3 once it is there.
        _run.Until("a session from eng1 (br1) answered by web3", () => _run.Exec("eng1", "curl", "-s", "-m", "3", WebUrl).Output.Trim() == "web3");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"web3 took {clock.Elapsed.TotalSeconds:F1} s to take a session");

        var holder = lab.Containers.Start(_run.NamespaceOf("eng1"), "python3", "-c", HoldingClient, "web3");
        Assert.Equal("held", holder.StandardOutput.ReadLine());
        var revokedBefore = _run.Counters("dc1a").GetProperty("sessions_revoked").GetInt64();

        var deleted = lab.Dc1.Delete(id, netns, "eth0", "", result);
        var again = lab.Dc1.Delete(id, netns, "eth0", "", result);

        Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
        Assert.True(again.All(o => o.Succeeded), string.Join("\n", again));
        Assert.Empty(Attachments("dc1a"));
        _run.Until("dc1 ended the held session on web3", () => _run.Counters("dc1a").GetProperty("sessions_revoked").GetInt64() > revokedBefore);
        Assert.DoesNotContain(_run.Counters("dc1a").GetProperty("instances").EnumerateArray(), i => i.GetProperty("instance").GetString() == "web3");
        _run.AssertEachReachesEveryInstance(["eng1", "eng1", "eng1", "eng1", "eng1", "eng1"], WebUrl, "web1", "web2");
    }

    [Fact]
    public void Add_WebInstance_AtBr2WhichTheDocumentGivesNone_TakesSessionsFromBr1WithinSeconds_AndAfterDelBr1BalancesOnlyToDc1()
    {
        var (netns, id, result) = AddWebInstance(lab.Br2, "web4", "10.30.2.2/24");
        var clock = Stopwatch.StartNew();

        // br1 learns from the registry that br2 hosts web4 and balances over dc1 and br2 (proportional, at random).
        _run.Until("a session from eng1 (br1) answered by web4 at br2", () => _run.Exec("eng1", "curl", "-s", "-m", "3", WebUrl).Output.Trim() == "web4");
        var joined = clock.Elapsed;
        Assert.True(joined < TimeSpan.FromSeconds(15), $"web4 at br2 took {joined.TotalSeconds:F1} s to take a session from br1");

        var deleted = lab.Br2.Delete(id, netns, "eth0", "", result);
        Assert.True(deleted.All(o => o.Succeeded), string.Join("\n", deleted));
        Assert.Empty(Attachments("br2a"));
        clock.Restart();
        _run.Until("br1 balances web over dc1 alone", () => Enumerable.Range(0, 4).All(_ =>
            _run.Exec("eng1", "curl", "-s", "-m", "2", WebUrl) is { Succeeded: true } curl && curl.Output.Trim() is "web1" or "web2"));
        var left = clock.Elapsed;
        Assert.True(left < TimeSpan.FromSeconds(15), $"br1 took {left.TotalSeconds:F1} s to stop balancing to br2");
        _run.AssertEachReachesEveryInstance(["eng1", "eng1", "eng1", "eng1", "eng1", "eng1", "eng1", "eng1"], WebUrl, "web1", "web2");
        TestContext.Current.TestOutputHelper?.WriteLine($"web4 at br2: answered eng1 at br1 after {joined.TotalSeconds:F1} s; br1 left it {left.TotalSeconds:F1} s after DEL");
    }

    [Fact]
    public void Add_UnknownTenant_IsRefusedWithTheSpecificationsErrorJson_AndLeavesNothing()
    {
        var netns = lab.FreshContainer("u");

        var added = lab.Br1.Add("unknown" + NetworkNamespaces.Suffix, netns, "eth0", "FABRIC_TENANT=enginering;FABRIC_NAME=cniunk");

        var refusal = Assert.Single(added);
        Assert.Equal(1, refusal.ExitCode);
        Assert.Equal(100, refusal.Json!["code"]!.GetValue<int>());
        Assert.Contains("unknown tenant \"enginering\"", refusal.Json["msg"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("1.0.0", refusal.Json["cniVersion"]!.GetValue<string>());
        Assert.False(ExternalCommand.InNamespace(Name(netns), "ip", "link", "show", "dev", "eth0").Succeeded);
        Assert.Empty(Attachments("br1a"));
    }

    [Fact]
    public void Gc_WithoutTheAttachmentInValidAttachments_DetachesIt_StatusAndVersionAnswer()
    {
        var netns = lab.FreshContainer("g");
        var id = "gc" + NetworkNamespaces.Suffix;
        Assert.True(lab.Br1.Add(id, netns, "eth0", "FABRIC_TENANT=guest;FABRIC_NAME=cnigc").All(o => o.Succeeded));
        Assert.Single(Attachments("br1a"));

        var kept = lab.Br1.First("GC", new JsonObject { ["cniVersion"] = "1.1.0", ["cni.dev/valid-attachments"] = new JsonArray(new JsonObject { ["containerID"] = id, ["ifname"] = "eth0" }) });
        Assert.True(kept.Succeeded, kept.ToString());
        Assert.Single(Attachments("br1a"));
        var collected = lab.Br1.First("GC", new JsonObject { ["cniVersion"] = "1.1.0", ["cni.dev/valid-attachments"] = new JsonArray() });

        Assert.True(collected.Succeeded, collected.ToString());
        Assert.Empty(Attachments("br1a"));
        Assert.False(ExternalCommand.InNamespace(lab.Br1.HostNamespace, "ip", "link", "show", "dev", "cnigc").Succeeded);
        var v11 = new JsonObject { ["cniVersion"] = "1.1.0" };
        Assert.True(lab.Br1.First("STATUS", v11).Succeeded);
        Assert.Equal(1, lab.Br1.First("STATUS").Json!["code"]!.GetValue<int>());
        var version = lab.Br1.First("VERSION");
        Assert.Contains("1.1.0", version.Json!["supportedVersions"]!.AsArray().Select(v => v!.GetValue<string>()));
        var unreachable = lab.Br1.First("STATUS", new JsonObject { ["cniVersion"] = "1.1.0", ["adminSocket"] = "/nonexistent/br1a.sock" });
        Assert.Equal(50, unreachable.Json!["code"]!.GetValue<int>());
    }

    /// <summary>
    /// ADDs an instance of web named <paramref name="name"/> through <paramref name="runtime"/> into a fresh namespace, checks
    /// it was given <paramref name="address"/>, and starts an HTTP server there that answers its name.
    /// </summary>
    private (string Netns, string Id, JsonObject Result) AddWebInstance(CniRuntime runtime, string name, string address)
    {
        var netns = lab.FreshContainer(name[^1..]);
        var id = name + NetworkNamespaces.Suffix;
        var added = runtime.Add(id, netns, "eth0", $"FABRIC_SERVICE=web;FABRIC_NAME={name}");
        Assert.True(added.All(o => o.Succeeded), string.Join("\n", added));
        var result = added[^1].Json!;
        Assert.Equal(address, result["ips"]![0]!["address"]!.GetValue<string>());
        lab.Containers.Start(Name(netns), "python3", "-c", HoldingServer, name);
        return (netns, id, result);
    }

    private List<Attachment> Attachments(string node) =>
        [.. new AdminSocketClient(_run.AdminSocketOf(node)).Ask(new AdminRequest("list")).Attachments ?? []];

    private static string Name(string netns) => Path.GetFileName(netns);
}
