using Fabric.Lab;

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
}
