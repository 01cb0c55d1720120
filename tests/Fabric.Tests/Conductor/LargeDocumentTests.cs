using System.Text;
using Akka.Actor;
using Fabric.Actors.Configuration;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

/// <summary>
/// Documents far above Akka's default frame (128 000 bytes): a 1 MiB document is committed and applied by every
/// router node; one above <see cref="ConfigDistribution.MaxDocumentBytes"/> is refused at commit, saying why.
/// </summary>
public sealed class LargeDocumentTests : IDisposable
{
    private static readonly string Lab = LabDocuments.Lab;
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-large-document-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>The lab with <paramref name="tenants"/> more tenants, each described by a comment of random text, until the document is at least <paramref name="bytes"/> long.</summary>
    private static string Grown(int tenants, int bytes)
    {
        var random = new Random(7);
        var comment = (bytes / tenants) + 1;
        var added = new StringBuilder();
        for (var i = 0; i < tenants; i++)
        {
            var noise = new byte[comment / 2];
            random.NextBytes(noise);
            added.Append(System.Globalization.CultureInfo.InvariantCulture, $"    # {Convert.ToHexString(noise)}\n    bulk{i} {{ members = [\"100.{64 + (i / 256)}.{i % 256}.0/24\"] }}\n");
        }

        var text = Lab.Replace("    finance {}\n", "    finance {}\n" + added, StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(text) >= bytes, "the document is not as large as the test wants");
        return text;
    }

    [Fact]
    public async Task Commit_OneMebibyteDocument_EveryRouterNodeAppliesIt()
    {
        var large = Grown(tenants: 1000, bytes: 1024 * 1024);
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));
        var model = ControlPlaneNodes.Load(Lab);
        var engines = new List<Fabric.Dataplane.Routing.ForwardingEngine>();
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            engines.Add((await nodes.StartRouter(model, node)).Engine);
        }

        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(large, "alice", "a thousand tenants"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        Assert.True(result.Accepted, string.Join("\n", result.Errors));
        await ControlPlaneNodes.Converged(conductor, 1);
        Assert.All(engines, e => Assert.Contains("bulk999", e.Snapshot.Tenants));
    }

    [Fact]
    public async Task Commit_DocumentAboveTheLimit_RefusedWithItsSizeAndTheLimit_NoVersion()
    {
        var huge = Grown(tenants: 1000, bytes: ConfigDistribution.MaxDocumentBytes + 1);
        await using var nodes = new ControlPlaneNodes();
        var conductor = await nodes.StartConductor(new StorageSettings(StorageProvider.Sqlite, Path.Combine(_dir, "conductor.db"), null));

        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(huge, "alice", "too much"), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);

        Assert.False(result.Accepted);
        Assert.Equal(
            $"the document is {Encoding.UTF8.GetByteCount(huge)} bytes; a document may be at most {ConfigDistribution.MaxDocumentBytes} bytes (4 MiB): it travels to every router in one cluster message",
            result.Errors.Single().Message);
        Assert.Equal(0, (await ControlPlaneNodes.Rollout(conductor)).Running);
    }
}
