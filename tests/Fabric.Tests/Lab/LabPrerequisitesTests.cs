using Fabric.Router;
using Fabric.Lab;

namespace Fabric.Tests.Lab;

/// <summary>
/// What <c>lab up</c> does when programs it needs are missing: which packages, whether it installs them, what it
/// says, and the apt-get commands it runs (recorded here, never run: the machine's packages are left alone).
/// </summary>
public sealed class LabPrerequisitesTests
{
    private static readonly string[] Everything = ["ip", "ss", "ping", "iperf3", "python3", "curl", "setsid"];

    private static Func<string, bool> Having(params string[] programs) => programs.Contains;

    [Fact]
    public void Plan_EveryProgramThere_Ready_NothingToInstall()
    {
        var plan = LabPrerequisites.Plan(Having(Everything), root: false, apt: false);

        Assert.True(plan.Ready);
        Assert.Null(plan.Refusal);
        Assert.Null(LabPrerequisites.Ensure(plan, Having(Everything), TextWriter.Null, (_, _) => throw new InvalidOperationException("nothing to run")));
    }

    [Fact]
    public void Plan_FreshMachine_EverySixPackagesOnce_InTheirOrder()
    {
        var plan = LabPrerequisites.Plan(Having(), root: true, apt: true);

        Assert.Equal(["iproute2", "iputils-ping", "iperf3", "python3", "curl", "util-linux"], plan.Missing);
        Assert.True(plan.Install);
    }

    [Fact]
    public void Plan_NotRoot_NamesWhatIsMissingAndHowToGetIt()
    {
        var plan = LabPrerequisites.Plan(Having("ip", "ss", "python3", "curl", "setsid"), root: false, apt: true);

        Assert.False(plan.Install);
        Assert.Equal(
            "the lab needs ping, iperf3, which are not installed (Debian packages iputils-ping iperf3); run lab up as root and it installs them, or install them: apt-get install iputils-ping iperf3",
            plan.Refusal);
    }

    [Fact]
    public void Plan_RootWithoutAptGet_RefusesWithThePackages()
    {
        var plan = LabPrerequisites.Plan(Having("ip", "ss", "ping", "python3", "curl", "setsid"), root: true, apt: false);

        Assert.Equal(
            "the lab needs iperf3, which is not installed (Debian package iperf3), and this machine has no apt-get to install them with; install iperf3 with its package manager",
            plan.Refusal);
    }

    [Fact]
    public void Ensure_RootMissingTwo_SaysSo_UpdatesOnceThenInstallsBoth()
    {
        var installed = new HashSet<string>(["ip", "ss", "python3", "curl", "setsid"]);
        var commands = new List<string>();
        var output = new StringWriter();
        var plan = LabPrerequisites.Plan(installed.Contains, root: true, apt: true);

        var problem = LabPrerequisites.Ensure(plan, installed.Contains, output, (file, arguments) =>
        {
            commands.Add($"{file} {string.Join(' ', arguments)}");
            if (arguments.Contains("install"))
            {
                installed.UnionWith(["ping", "iperf3"]);
            }

            return new CommandResult(0, "", "");
        });

        Assert.Null(problem);
        Assert.Equal(
            [
                "env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 update",
                "env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends iputils-ping iperf3",
            ],
            commands);
        Assert.Equal(
            "fabric lab: installing the Debian packages the lab needs: iputils-ping iperf3 (apt-get update, then apt-get install)\nfabric lab: installed iputils-ping iperf3\n",
            output.ToString());
    }

    [Fact]
    public void Ensure_AptGetFails_SaysWhichStepAndItsLastLine()
    {
        var plan = LabPrerequisites.Plan(Having(Everything.Except(["curl"]).ToArray()), root: true, apt: true);

        var problem = LabPrerequisites.Ensure(plan, Having(), TextWriter.Null, (_, arguments) =>
            arguments.Contains("update") ? new CommandResult(0, "", "") : new CommandResult(100, "", "Reading package lists...\nE: Unable to locate package curl\n"));

        Assert.Equal("apt-get install curl failed (exit 100): E: Unable to locate package curl", problem);
    }

    [Fact]
    public void Ensure_InstalledButProgramStillMissing_SaysWhich()
    {
        var plan = LabPrerequisites.Plan(Having(Everything.Except(["ping"]).ToArray()), root: true, apt: true);

        var problem = LabPrerequisites.Ensure(plan, Having(Everything.Except(["ping"]).ToArray()), TextWriter.Null, (_, _) => new CommandResult(0, "", ""));

        Assert.Equal("after apt-get install iputils-ping, still missing: iputils-ping", problem);
    }
}
