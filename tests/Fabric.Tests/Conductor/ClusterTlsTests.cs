using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Cluster;
using Fabric.Actors.Cluster;
using Fabric.Actors.Hosting;
using Fabric.Cli;
using Fabric.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Tests.Conductor;

/// <summary>
/// Mutual TLS on cluster traffic with certificates from <c>fabric certs</c>: nodes of one fabric CA form
/// a cluster; a node with another CA's certificate, or with none, never becomes a member; the files
/// the verb writes are what a node loads, with private keys readable by the owner only.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ClusterTlsTests : IDisposable
{
    private static readonly Fabric.Actors.Security.ConductorKeyPin AnyConductorKey = Fabric.Actors.Security.ConductorSigningKey.Generate().Pin;
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-cluster-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = FabricCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>A CA directory under the test's directory and, in it, certificates for <paramref name="nodes"/>, through the CLI.</summary>
    private string Authority(string name, params string[] nodes)
    {
        var ca = Path.Combine(_dir, name);
        Assert.Equal(0, Run("certs", "ca", "--out", ca).Exit);
        foreach (var node in nodes)
        {
            Assert.Equal(0, Run("certs", "node", node, "--ca", ca, "--out", ca).Exit);
        }

        return ca;
    }

    private static ClusterTls Tls(string nodeAuthority, string node, string trustedAuthority) =>
        ClusterTls.Load(Path.Combine(nodeAuthority, node + ".pfx"), null, Path.Combine(trustedAuthority, ClusterCertificates.AuthorityCertificateFile));

    private static async Task<FabricNode> Start(ClusterNodeSettings settings)
    {
        var host = RouterHost.Build(settings, AnyConductorKey, []);
        await host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    private static Akka.Cluster.Cluster ClusterOf(FabricNode host) => Akka.Cluster.Cluster.Get(host.System);

    [Fact]
    public void CertsVerb_WritesCaAndNodeCertificates_PrivateKeysOwnerOnly_LoadableAsClusterTls_ClearErrors()
    {
        var ca = Path.Combine(_dir, "ca");
        var nodes = Path.Combine(_dir, "nodes");
        var (exit, output, error) = Run("certs", "ca", "--out", ca);
        Assert.Equal(0, exit);
        Assert.Contains(Path.Combine(ca, "ca.crt"), output, StringComparison.Ordinal);
        Assert.Empty(error);
        (exit, _, error) = Run("certs", "node", "br1-a", "--ca", ca, "--out", nodes);
        Assert.Equal(0, exit);
        Assert.Empty(error);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(ca, "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(nodes, "br1-a.pfx")));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", File.ReadAllText(Path.Combine(ca, "ca.crt")), StringComparison.Ordinal);
        var tls = ClusterTls.Load(Path.Combine(nodes, "br1-a.pfx"), null, Path.Combine(ca, "ca.crt"));
        Assert.Equal("CN=br1-a", tls.NodeCertificate.Subject);
        Assert.True(tls.NodeCertificate.HasPrivateKey);

        var other = Authority("other", "br1-a");
        var foreign = Assert.Throws<ClusterTlsException>(() => Tls(other, "br1-a", ca));
        Assert.Contains("is not signed by the cluster CA", foreign.Message, StringComparison.Ordinal);
        Assert.False(tls.IsIssuedByAuthority(Tls(other, "br1-a", other).NodeCertificate));

        (exit, _, error) = Run("certs", "ca", "--out", ca);
        Assert.Equal(1, exit);
        Assert.Equal($"fabric certs ca: {Path.Combine(ca, "ca.crt")} exists; refusing to replace it\n", error);
        (exit, _, error) = Run("certs", "node", "br1-b", "--ca", Path.Combine(_dir, "missing"), "--out", nodes);
        Assert.Equal(1, exit);
        Assert.StartsWith($"fabric certs node: cannot read the CA in {Path.Combine(_dir, "missing")}", error, StringComparison.Ordinal);
        File.SetUnixFileMode(Path.Combine(ca, "ca.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        (exit, _, error) = Run("certs", "node", "br1-b", "--ca", ca, "--out", nodes);
        Assert.Equal(1, exit);
        Assert.Contains("may be read by others", error, StringComparison.Ordinal);
        Assert.Throws<ClusterTlsException>(() => ClusterTls.FromConfiguration(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { [ClusterTls.AuthorityKey] = Path.Combine(ca, "ca.crt") }).Build()));
    }

    [Fact]
    public void Node_WithoutTlsAndNotInsecure_RefusesToBuild_WithInsecureBuildsInPlainTcp()
    {
        var plain = new ClusterNodeSettings("127.0.0.1", 0, [ClusterNodeSettings.AddressOf("127.0.0.1", 2)]);
        var router = Assert.Throws<ClusterTlsException>(() => RouterHost.Build(plain, AnyConductorKey, []));
        Assert.StartsWith("cluster TLS is off: a node joins the cluster only with a certificate of the fabric's CA", router.Message, StringComparison.Ordinal);
        Assert.Throws<ClusterTlsException>(() => Fabric.Conductor.Hosting.ConductorHost.Build(plain, Fabric.Model.StorageSettings.Default, Fabric.Actors.Security.ConductorSigningKey.Generate()));
        using var insecure = RouterHost.Build(plain with { Insecure = true }, AnyConductorKey, []);
        Assert.Null((plain with { Insecure = true }).Resolve(null).Tls);
    }

    [Fact]
    public async Task NodesOfTheFabricCa_FormACluster_NodesWithAnotherCasCertificateOrPlainTcp_NeverBecomeMembers()
    {
        var ca = Authority("fabric", "r1", "r2", "r3");
        var other = Authority("other", "intruder");
        var seed = ClusterNodeSettings.AddressOf("127.0.0.1", ControlPlaneNodes.FreePort());
        var port = int.Parse(seed[(seed.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var hosts = new List<FabricNode>();
        try
        {
            hosts.Add(await Start(new ClusterNodeSettings("127.0.0.1", port, [seed], Tls(ca, "r1", ca))));
            hosts.Add(await Start(new ClusterNodeSettings("127.0.0.1", 0, [seed], Tls(ca, "r2", ca))));
            // Another fabric's node (the client side check alone is tested on the raw port below).
            var intruder = await Start(new ClusterNodeSettings("127.0.0.1", 0, [seed], Tls(other, "intruder", other)));
            hosts.Add(intruder);
            var plain = await Start(new ClusterNodeSettings("127.0.0.1", 0, [seed], Insecure: true));
            hosts.Add(plain);
            // Started after the outsiders: by the time it is Up, they have had their chance to join.
            hosts.Add(await Start(new ClusterNodeSettings("127.0.0.1", 0, [seed], Tls(ca, "r3", ca))));

            var members = await ControlPlaneNodes.Until(
                () => Task.FromResult(ClusterOf(hosts[0]).State.Members.Where(m => m.Status == MemberStatus.Up).Select(m => m.Address).ToHashSet()),
                up => up.Count >= 3,
                "r1, r2 and r3 Up");
            Assert.Equal(new[] { hosts[0], hosts[1], hosts[4] }.Select(h => ClusterOf(h).SelfAddress).ToHashSet(), members);
            Assert.DoesNotContain(ClusterOf(hosts[0]).State.Members, m => m.Address == ClusterOf(intruder).SelfAddress || m.Address == ClusterOf(plain).SelfAddress);
            Assert.DoesNotContain(ClusterOf(intruder).State.Members, m => m.Status == MemberStatus.Up);
            Assert.DoesNotContain(ClusterOf(plain).State.Members, m => m.Status == MemberStatus.Up);
        }
        finally
        {
            foreach (var host in Enumerable.Reverse(hosts))
            {
                await host.StopAsync(CancellationToken.None);
                host.Dispose();
            }
        }
    }

    [Fact]
    public async Task ClusterPort_RefusesAClientWithoutACertificateOrWithAnotherCasCertificate_AcceptsTheFabricCasNode()
    {
        var ca = Authority("fabric", "r1", "r2");
        var other = Authority("other", "intruder");
        var port = ControlPlaneNodes.FreePort();
        var r1 = Tls(ca, "r1", ca);
        using var host = await Start(new ClusterNodeSettings("127.0.0.1", port, [ClusterNodeSettings.AddressOf("127.0.0.1", port)], r1));
        try
        {
            Assert.False(await Handshake(port, null, r1));
            Assert.False(await Handshake(port, Tls(other, "intruder", other).NodeCertificate, r1));
            Assert.True(await Handshake(port, Tls(ca, "r2", ca).NodeCertificate, r1));
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// Whether the node at <paramref name="port"/> accepts a TLS client presenting <paramref name="certificate"/>:
    /// the handshake completes and the server did not close the connection. The server's verdict on a
    /// client certificate reaches a TLS 1.3 client after its own handshake, as an alert on the first read;
    /// an accepted client's first read waits for data the node never sends unasked, so it is cut off after
    /// a bounded wait and counts as accepted.
    /// </summary>
    private static async Task<bool> Handshake(int port, X509Certificate2? certificate, ClusterTls fabric)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port, TestContext.Current.CancellationToken);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, server, _, _) => fabric.IsIssuedByAuthority(server as X509Certificate2));
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "r1",
                ClientCertificates = certificate is null ? null : [certificate],
                LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate!,
            }, TestContext.Current.CancellationToken);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            wait.CancelAfter(TimeSpan.FromSeconds(3));
            var read = await tls.ReadAsync(new byte[1], wait.Token);
            return read > 0;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return true;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return false;
        }
    }
}
