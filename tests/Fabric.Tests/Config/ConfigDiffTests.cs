using Fabric.Config.Diff;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

public class ConfigDiffTests
{
    private static readonly string Lab = Repository.Read("hocon/lab.conf");

    private static string Edit(string text, string find, string replace)
    {
        Assert.Contains(find, text, StringComparison.Ordinal);
        return text.Replace(find, replace, StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_SameDocument_NoChanges() =>
        Assert.Empty(ConfigDiff.Compare(Documents.LoadValid(Lab), Documents.LoadValid(Lab)));

    [Fact]
    public void Compare_TwoVersions_ListsExactlyTheChangedPaths()
    {
        var next = Lab;
        next = Edit(next, "    finance {}\n", "    finance {}\n    hr {}\n");
        next = Edit(next, "access = [engineering, guest, finance]", "access = [engineering, finance]");
        next = Edit(next, "      encryption = required\n", "");
        next = Edit(next, "web2 { addresses = [\"10.10.1.12\"] }", "web2 { addresses = [\"10.10.1.13\"] }");
        next = Edit(next, "  neighborhoods {\n    wan {}\n  }", "  neighborhoods {\n    wan {}\n    backup {}\n  }");

        var changes = ConfigDiff.Compare(Documents.LoadValid(Lab), Documents.LoadValid(next)).Select(c => c.ToString());

        Assert.Equal(
            [
                "+ fabric.neighborhoods.backup = { waypoint-ports = \"16384-65534\", max-waypoints = 50000, path-monitoring = { interval = 1s, multiplier = 3, hold-down = 5s, echo-interval = 10s, echo-burst = 10 } }",
                "~ fabric.routers.dc1.networks.svc.containers.web2.addresses: [\"10.10.1.12\"] -> [\"10.10.1.13\"]",
                "~ fabric.service-policies.secure.encryption: required -> none",
                "~ fabric.services.web.access: [engineering, guest, finance] -> [engineering, finance]",
                "+ fabric.tenants.hr = { members = [] }",
            ],
            changes);
    }

    [Fact]
    public void Compare_RemovedObject_IsOneChange()
    {
        var next = Edit(Lab, "  neighborhoods {\n    wan {}\n  }", "  neighborhoods {\n    wan {}\n    backup {}\n  }");
        var changes = ConfigDiff.Compare(Documents.LoadValid(next), Documents.LoadValid(Lab));
        var change = Assert.Single(changes);
        Assert.Equal(ChangeKind.Removed, change.Kind);
        Assert.Equal("fabric.neighborhoods.backup", change.Path);
    }
}
