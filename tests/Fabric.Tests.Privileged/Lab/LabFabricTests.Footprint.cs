using Fabric.Lab;
using Fabric.Router;

namespace Fabric.Tests.Lab;

public sealed partial class LabFabricTests
{
    /// <summary>
    /// Every file a router maps is memory it holds (docs/benchmarks.md, the memory entries): a router maps no web host
    /// (its /metrics, /healthz and /readyz come from its own listener), no OpenTelemetry, nothing of .NET's app.config
    /// (System.Configuration, its section types and the XML reader, which Akka.NET's <c>ActorSystem.Create</c> reads for
    /// nothing), no Newtonsoft.Json (Akka's <c>json</c> serializer name is Fabric's) and no cluster sharding (unused).
    /// </summary>
    [Fact]
    public void Routers_MapNoWebHostExporterAppConfigReaderJsonNorSharding()
    {
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            var pid = LabProcesses.ReadPid(Path.Combine(_run.StateRoot, _run.Name, node + ".pid"));
            Assert.NotNull(pid);
            var files = File.ReadLines($"/proc/{pid}/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length > 5).Select(fields => Path.GetFileName(fields[5])).ToHashSet(StringComparer.Ordinal);

            Assert.Contains("Akka.dll", files);
            Assert.DoesNotContain(files, f => f.StartsWith("Microsoft.AspNetCore.", StringComparison.Ordinal)
                || f.StartsWith("OpenTelemetry", StringComparison.Ordinal)
                || f is "System.Net.WebClient.dll" or "System.Configuration.ConfigurationManager.dll" or "System.Private.Xml.dll"
                    or "System.ComponentModel.TypeConverter.dll" or "Newtonsoft.Json.dll" or "Akka.Cluster.Sharding.dll");
        }
    }

    /// <summary>
    /// A lab's routers run the router's lean publish beside the build that started the lab (docs/deploy.md "The router's
    /// lean publish"): the .NET runtime each maps is the publish's own, trimmed, not the machine's shared one.
    /// scripts/test.sh makes that publish before it runs this project (scripts/publish-router.sh).
    /// </summary>
    [Fact]
    public void Routers_RunTheLeanPublish()
    {
        var build = Path.GetDirectoryName(typeof(FabricExecutable).Assembly.Location)!;
        var lean = FabricExecutable.LeanRouter(build);
        Assert.True(lean is not null, $"no lean publish of this build in {Path.Combine(build, FabricExecutable.LeanRouterFolder)}: run scripts/publish-router.sh there (scripts/test.sh does)");
        var folder = Path.GetDirectoryName(lean)!;
        foreach (var node in new[] { "br1a", "br2a", "dc1a" })
        {
            var pid = LabProcesses.ReadPid(Path.Combine(_run.StateRoot, _run.Name, node + ".pid"));
            Assert.NotNull(pid);
            var coreLib = File.ReadLines($"/proc/{pid}/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length > 5 && Path.GetFileName(fields[5]) == "System.Private.CoreLib.dll")
                .Select(fields => fields[5]).Distinct().ToList();

            Assert.Equal([Path.Combine(folder, "System.Private.CoreLib.dll")], coreLib);
        }
    }
}
