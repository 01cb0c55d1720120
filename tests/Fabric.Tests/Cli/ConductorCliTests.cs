using Fabric.Tests.Support;

namespace Fabric.Tests.Cli;

/// <summary>
/// <c>fabric conductor</c> and <c>fabric config commit|history|rollback|status</c> as an operator runs
/// them: separate processes on loopback, the history in a SQLite file in a scratch directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConductorCliTests : IDisposable
{
    private static readonly TimeSpan Deadline = FabricProcesses.Deadline;
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-conductor-cli-").FullName;
    private readonly FabricProcesses _fabric;

    public ConductorCliTests() => _fabric = new FabricProcesses(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Conductor_WithoutClusterTlsOrInsecure_RefusesToStartWithWhatToDo()
    {
        File.WriteAllText(Path.Combine(_dir, "lab.conf"), Repository.Read("hocon/lab.conf"));
        var (exit, error) = await _fabric.Run("conductor", "--config", "lab.conf", "--address", "127.0.0.1", "--cluster-port", ControlPlaneNodes.FreePort().ToString(), "--api-port", ControlPlaneNodes.FreePort().ToString());
        Assert.Equal(2, exit);
        Assert.Equal(
            "fabric conductor: cluster TLS is off: a node joins the cluster only with a certificate of the fabric's CA (FABRIC_CLUSTER_CERTIFICATE and " +
            "FABRIC_CLUSTER_CA, written by fabric certs), or when started with --insecure (plain TCP: anyone who reaches the cluster port may join)",
            error);
        Assert.False(File.Exists(Path.Combine(_dir, "fabric-conductor.db")), "a refused conductor creates no history");
    }

    [Fact]
    public async Task Conductor_CommitHistoryRollbackStatus_OverItsAdminEndpoint_HistoryInTheSqliteFile()
    {
        var lab = Repository.Read("hocon/lab.conf").Replace("path = \"fabric-conductor.db\"", "path = \"history/conductor.db\"", StringComparison.Ordinal);
        Directory.CreateDirectory(Path.Combine(_dir, "history"));
        File.WriteAllText(Path.Combine(_dir, "lab.conf"), lab);
        File.WriteAllText(Path.Combine(_dir, "hr.conf"), lab.Replace("    finance {}\n", "    finance {}\n    hr {}\n", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(_dir, "typo.conf"), lab.Replace("access = [finance]", "access = [fnance]", StringComparison.Ordinal));
        var api = ControlPlaneNodes.FreePort();
        var conductor = $"http://127.0.0.1:{api}";

        foreach (var owner in new[] { "alice", "bob", "carol" })
        {
            var (created, said) = await _fabric.Run("conductor", "token", "create", "--config", "lab.conf", "--owner", owner, "--out", owner + ".token");
            Assert.Equal(0, created);
            Assert.Matches($@"^token [0-9a-f]{{12}} for {owner} written to ", said);
        }

        var (listed, tokens) = await _fabric.Run("conductor", "token", "list", "--config", "lab.conf");
        Assert.Equal(0, listed);
        Assert.Equal(3, tokens.Split('\n').Count(l => l.Contains(" - ", StringComparison.Ordinal) || l.EndsWith(" -", StringComparison.Ordinal)));

        using var process = _fabric.Start("conductor", "--config", "lab.conf", "--address", "127.0.0.1", "--cluster-port", ControlPlaneNodes.FreePort().ToString(), "--api-port", api.ToString(), "--insecure");
        using var output = new FabricProcesses.OutputLines(process, Deadline);
        try
        {
            await output.WaitFor("event=started");

            // No token: refused with its own exit code, nothing committed.
            var (anonymousExit, anonymous) = await _fabric.Run("config", "commit", "lab.conf", "-m", "first", "--conductor", conductor);
            Assert.Equal(4, anonymousExit);
            Assert.Contains("refused the request", anonymous, StringComparison.Ordinal);

            Assert.Equal((0, "version 1 committed"), await _fabric.Run("config", "commit", "lab.conf", "-m", "first", "--conductor", conductor, "--token-file", "alice.token"));
            Assert.Equal((0, "version 2 committed"), await _fabric.Run("config", "commit", "hr.conf", "-m", "add hr", "--conductor", conductor, "--token-file", "bob.token"));
            var (typoExit, typoError) = await _fabric.Run("config", "commit", "typo.conf", "-m", "typo", "--conductor", conductor, "--token-file", "bob.token");
            Assert.Equal(2, typoExit);
            Assert.Contains("unknown tenant \"fnance\"", typoError, StringComparison.Ordinal);
            Assert.Matches(@"line \d+", typoError);
            Assert.Equal((0, "version 3 running"), await _fabric.Run("config", "rollback", "1", "--conductor", conductor, "--token-file", "carol.token"));

            var (historyExit, history) = await _fabric.Run("config", "history", "--conductor", conductor, "--token-file", "carol.token");
            Assert.Equal(0, historyExit);
            var versions = history.Split('\n').Where(l => !l.StartsWith("          ", StringComparison.Ordinal)).ToList();
            Assert.Equal(3, versions.Count);
            Assert.Matches(@"^\s*1  \S+ \S+  alice  first$", versions[0]);
            Assert.Matches(@"^\s+2  \S+ \S+  bob  add hr$", versions[1]);
            Assert.Matches(@"^\*\s+3  \S+ \S+  carol  rollback to version 1 \(restores 1\)$", versions[2]);
            Assert.Contains("          + fabric.tenants.hr = { members = [] }", history, StringComparison.Ordinal);

            // No router runs: every node of the document is listed as not reported, and status says so.
            var (statusExit, status) = await _fabric.Run("config", "status", "--conductor", conductor, "--token-file", "carol.token");
            Assert.Equal(1, statusExit);
            Assert.Contains("running version 3", status, StringComparison.Ordinal);
            Assert.Matches(@"dc1a\s+dc1\s+applied 0\s+not reported", status);
        }
        finally
        {
            FabricProcesses.Signal(process);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        }

        Assert.Equal(0, process.ExitCode);
        await output.WaitFor("event=stopped");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "history", "conductor.db")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "conductor.key")));
        var key = Fabric.Actors.Security.ConductorSigningKey.Read(Path.Combine(_dir, "conductor.key")).PublicKeyBase64;
        await output.WaitFor($"conductor-key={key}");
        var (downExit, down) = await _fabric.Run("config", "history", "--conductor", conductor, "--token-file", "carol.token");
        Assert.Equal(3, downExit);
        Assert.Contains("no conductor answers", down, StringComparison.Ordinal);
    }
}
