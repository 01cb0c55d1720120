using System.Diagnostics;
using Fabric.Router;
using Fabric.Lab;

namespace Fabric.Tests.Lab;

/// <summary>
/// One lab for the class: two real router processes over a WAN bridge, each with the private key
/// <c>lab up</c> provisions and the other's identity pinned. A finance client behind kbr reaches vault1
/// (service secret, encryption required) and plain1 (service open, no encryption) behind kdc.
/// </summary>
public sealed class KeyedLab : IDisposable
{
    public const string Topology = """
        fabric {
          name = keyed
          tenants { finance {} }
          services {
            secret {
              addresses = ["10.10.1.20/32"]
              transports = [{ protocol = tcp, ports = ["5432"] }]
              access = [finance]
              policy = secure
              instances = [{ container = vault1 }]
            }
            open {
              addresses = ["10.10.1.21/32"]
              transports = [{ protocol = tcp, ports = ["7000"] }]
              access = [finance]
              instances = [{ container = plain1 }]
            }
          }
          service-policies { secure { encryption = required } }
          neighborhoods { wan {} }
          routers {
            kdc {
              nodes { kdca { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24"]
                  containers { vault1 { addresses = ["10.10.1.20"] }, plain1 { addresses = ["10.10.1.21"] } }
                }
              }
            }
            kbr {
              nodes { kbra { management-address = "10.99.0.12" } }
              interfaces { wan0 { addresses = ["172.16.0.2/24"], neighborhoods = [wan] } }
              networks {
                lan {
                  gateways = ["10.30.1.1/24"]
                  containers { fin1 { addresses = ["10.30.1.20"], tenant = finance } }
                }
              }
            }
          }
        }
        """;

    public KeyedLab()
    {
        Run = new LabRun("key", Topology);
        UpResult = Run.Up();
        if (!UpResult.Succeeded)
        {
            Run.Dispose();
            throw new InvalidOperationException($"lab up failed: {UpResult}");
        }
    }

    public LabRun Run { get; }

    public CommandResult UpResult { get; }

    public string StateDirectory => Path.Combine(Run.StateRoot, Run.Name);

    public void Dispose() => Run.Dispose();
}

/// <summary>Peer path keys for real router processes: provisioned by the lab, derived by each router from its key file.</summary>
[Collection(LabCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LabKeysTests(KeyedLab lab) : IClassFixture<KeyedLab>
{
    private readonly LabRun _run = lab.Run;

    [Fact]
    public void Up_WritesAPrivateKeyPerRouter_OwnerOnly_AndPinsTheirPublicKeysInTheDerivedTopology()
    {
        var loaded = Fabric.Config.FabricConfigLoader.LoadFile(Path.Combine(lab.StateDirectory, "topology.conf"));
        Assert.True(loaded.IsValid, string.Join("\n", loaded.Errors));
        foreach (var router in new[] { "kdc", "kbr" })
        {
            var keyFile = Path.Combine(lab.StateDirectory, "keys", router + ".key");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            var publicKey = LabRun.Fabric("keys", "public", keyFile);
            Assert.True(publicKey.Succeeded, publicKey.ToString());
            Assert.Equal(publicKey.Output.Trim(), loaded.Config!.FindRouter(router)!.Nodes[0].Identity);
        }

        Assert.DoesNotContain("identity", File.ReadAllText(_run.TopologyFile), StringComparison.Ordinal);
    }

    [Fact]
    public void EncryptedService_BetweenTwoRouterProcesses_Works_AndItsBytesNeverCrossTheWanInClear()
    {
        var capture = Path.Combine(lab.StateDirectory, "wan.pcap");
        // The WAN bridge's ports in the lab's wires namespace carry the frames between the routers (the bridge
        // device itself sees only what is flooded); the LAN bridges there carry the same answers in clear,
        // so the capture keeps the WAN's addresses only.
        using var tcpdump = StartCapture($"fab-{_run.Name}", "any", "net 172.16.0.0/24", capture);

        var secret = _run.Exec("fin1", "bash", "-c", "cat </dev/tcp/10.10.1.20/5432");
        var open = _run.Exec("fin1", "bash", "-c", "cat </dev/tcp/10.10.1.21/7000");

        Assert.True(secret.Succeeded, secret.ToString());
        Assert.Equal("vault1", secret.Output.Trim());
        Assert.True(open.Succeeded, open.ToString());
        Assert.Equal("plain1", open.Output.Trim());
        // The unencrypted service's answer crosses readable, so the capture does see the sessions. tcpdump
        // writes frames in order, so once it holds that answer (the later session) it holds every frame of
        // the encrypted session, whose answer never crosses in clear.
        var seen = Eventually(() => Contains(capture, "plain1\n"u8), TimeSpan.FromSeconds(10));
        var said = StopCapture(tcpdump);
        Assert.True(seen, $"the capture on the WAN holds the plain service's answer (tcpdump: {said})");
        Assert.False(Contains(capture, "vault1\n"u8), "the encrypted service's answer crossed the WAN in clear");
    }

    private static bool Contains(string file, ReadOnlySpan<byte> text) =>
        File.Exists(file) && File.ReadAllBytes(file).AsSpan().IndexOf(text) >= 0;

    private static bool Eventually(Func<bool> condition, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > deadline)
            {
                return false;
            }

            Thread.Sleep(20);
        }

        return true;
    }

    [Fact]
    public void RouterProcess_WithAnotherRoutersKey_RefusesToStart_SayingWhichIdentityItBelongsTo()
    {
        var wrongKey = Path.Combine(lab.StateDirectory, "keys", "kdc.key");
        var result = LabRun.Fabric(
            "router", "--config", Path.Combine(lab.StateDirectory, "topology.conf"), "--node", "kbra",
            "--state-dir", Path.Combine(lab.StateDirectory, "wrong"), "--admin-socket", Path.Combine(lab.StateDirectory, "wrong.sock"),
            "--identity-key", wrongKey);

        Assert.Equal(1, result.ExitCode);
        var identity = LabRun.Fabric("keys", "public", wrongKey).Output.Trim();
        Assert.Contains($"fabric router: the private key in {wrongKey} belongs to identity \"{identity}\", not to the identity", result.Error, StringComparison.Ordinal);
        Assert.Contains("the configuration pins for node kbra", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(lab.StateDirectory, "wrong.sock")));
    }

    [Fact]
    public void RouterProcess_KeyFileOthersMayRead_IsRefused()
    {
        var readable = Path.Combine(lab.StateDirectory, "readable.key");
        File.Copy(Path.Combine(lab.StateDirectory, "keys", "kbr.key"), readable, overwrite: true);
        File.SetUnixFileMode(readable, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var result = LabRun.Fabric(
            "router", "--config", Path.Combine(lab.StateDirectory, "topology.conf"), "--node", "kbra",
            "--state-dir", Path.Combine(lab.StateDirectory, "readable"), "--admin-socket", Path.Combine(lab.StateDirectory, "readable.sock"),
            "--identity-key", readable);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"the private key file {readable} has mode 0644, so others than its owner may read it; make it 0600", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void KeysGenerate_WritesAnOwnerOnlyKeyFile_PrintsItsPublicKey_AndKeepsAnExistingOne()
    {
        var file = Path.Combine(lab.StateDirectory, "generated.key");
        File.Delete(file);

        var generated = LabRun.Fabric("keys", "generate", "--out", file);
        var again = LabRun.Fabric("keys", "generate", "--out", file);

        Assert.True(generated.Succeeded, generated.ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(LabRun.Fabric("keys", "public", file).Output.Trim(), generated.Output.Trim());
        Assert.Equal(32, Convert.FromBase64String(generated.Output.Trim()).Length);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists", again.Error, StringComparison.Ordinal);
    }

    /// <summary>tcpdump (as root: the test's state directory is its owner's alone) writing every frame on <paramref name="device"/> that passes <paramref name="filter"/> to <paramref name="file"/>, once it listens.</summary>
    private static Process StartCapture(string ns, string device, string filter, string file)
    {
        var start = new ProcessStartInfo("ip", ["netns", "exec", ns, "tcpdump", "-Z", "root", "-i", device, "--immediate-mode", "-U", "-n", "-w", file, filter])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        var process = Process.Start(start)!;
        var said = new List<string>();
        while (process.StandardError.ReadLine() is { } line)
        {
            said.Add(line);
            if (line.Contains("listening on", StringComparison.Ordinal))
            {
                return process;
            }
        }

        Assert.Fail($"tcpdump did not start: {string.Join("\n", said)}");
        return process;
    }

    /// <summary>Stops tcpdump as Ctrl-C would, so it flushes the capture; returns what it said last (its packet counts).</summary>
    private static string StopCapture(Process tcpdump)
    {
        LabProcesses.Signal("INT", [tcpdump.Id]);
        Assert.True(tcpdump.WaitForExit(TimeSpan.FromSeconds(10)), "tcpdump did not stop");
        return tcpdump.StandardError.ReadToEnd().Trim();
    }
}
