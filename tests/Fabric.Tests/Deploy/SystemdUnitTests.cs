using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Deploy;

/// <summary>
/// The systemd units in deploy/systemd, as an operator installs them: systemd's own verifier finds nothing to say
/// about them, and every option their ExecStart passes is one the fabric command knows.
/// </summary>
public sealed class SystemdUnitTests
{
    public static TheoryData<string, string> Units => new()
    {
        { "fabric-router@.service", "router" },
        { "fabric-conductor.service", "conductor" },
    };

    public static TheoryData<string> UnitFiles => ["fabric-router@.service", "fabric-conductor.service"];

    [Theory]
    [MemberData(nameof(UnitFiles))]
    public void Unit_PassesSystemdAnalyzeVerify_WithNoWarning(string unit)
    {
        var directory = Directory.CreateTempSubdirectory("fabric-units-").FullName;
        try
        {
            // The verifier checks that ExecStart's program exists and is executable: stand in a script for the installed
            // fabric command at the same place in the unit; every other line is the shipped one.
            var program = Path.Combine(directory, "fabric");
            File.WriteAllText(program, "#!/bin/sh\n");
            Assert.True(ExternalCommand.Run("chmod", "+x", program).Succeeded);
            var text = Repository.Read(Path.Combine("deploy", "systemd", unit));
            Assert.Contains(InstalledCommand, text, StringComparison.Ordinal);
            var copy = Path.Combine(directory, unit);
            File.WriteAllText(copy, text.Replace(InstalledCommand, program, StringComparison.Ordinal));

            var verify = ExternalCommand.Run("systemd-analyze", "verify", "--man=no", copy);

            Assert.True(verify.Succeeded, verify.ToString());
            Assert.Equal("", verify.Error.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Units))]
    public void Unit_ExecStart_PassesOnlyOptionsTheCommandKnows(string unit, string verb)
    {
        var execStart = Repository.Read(Path.Combine("deploy", "systemd", unit)).Split('\n')
            .Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        var arguments = execStart["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal([InstalledCommand, verb], arguments[..2]);
        var fabric = FabricExecutable.CommandLine();
        var help = ExternalCommand.Run(TimeSpan.FromMinutes(2), fabric[0], [.. fabric.Skip(1), verb, "--help"]);
        Assert.True(help.Succeeded, help.ToString());

        var options = arguments.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(options);
        Assert.All(options, o => Assert.Contains($"  {o} ", help.Output, StringComparison.Ordinal));
    }

    /// <summary>A router run by systemd starts with the same runtime settings as one the lab starts (its memory figures hold).</summary>
    [Fact]
    public void RouterUnit_SetsTheRouterRuntimeSettings()
    {
        var environment = Repository.Read(Path.Combine("deploy", "systemd", "fabric-router@.service")).Split('\n')
            .Where(l => l.StartsWith("Environment=", StringComparison.Ordinal)).Select(l => l["Environment=".Length..]).ToList();

        Assert.Equal(FabricExecutable.RouterRuntime, environment);
    }

    private const string InstalledCommand = "/usr/local/bin/fabric";
}
