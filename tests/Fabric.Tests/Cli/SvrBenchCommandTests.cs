using System.Text.Json;
using Fabric.Cli;

namespace Fabric.Tests.Cli;

/// <summary><c>fabric bench svr --quick --json</c> as a user or a script reads it.</summary>
[Collection(Support.AllocationMeasurement.Name)]
public sealed class SvrBenchCommandTests
{
    [Fact]
    public void BenchSvr_QuickJson_ReportsCostsAndOverhead_ZeroBytesPlain_TrailerEncrypted_NothingAllocated()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = FabricCommandLine.Run(["bench", "svr", "--quick", "--json"], output, error);

        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(output.ToString());
        var root = json.RootElement;
        Assert.True(root.GetProperty("ns_per_packet_plain").GetDouble() > 0);
        Assert.True(root.GetProperty("ns_per_packet_encrypted").GetDouble() > 0);
        Assert.True(root.GetProperty("session_setup_ns").GetDouble() > 0);
        Assert.Equal(0, root.GetProperty("overhead_bytes_per_packet_plain").GetInt32());
        Assert.Equal(24, root.GetProperty("overhead_bytes_per_packet_encrypted").GetInt32());
        Assert.Equal(0, root.GetProperty("alloc_bytes_per_packet").GetDouble());
        Assert.True(root.GetProperty("quick").GetBoolean());
        Assert.Contains("drops in both routers: none", error.ToString(), StringComparison.Ordinal);
    }
}
