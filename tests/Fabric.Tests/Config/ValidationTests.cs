using static Fabric.Tests.Config.Documents;

namespace Fabric.Tests.Config;

/// <summary>Every validation rule, each with the exact line a user reads.</summary>
public class ValidationTests
{
    private static void AssertOnlyError(string text, string expected) => Assert.Equal([expected], Errors(text));

    [Fact]
    public void Valid_Document_Loads()
    {
        var config = LoadValid(Valid);
        Assert.Equal(["dev.engineering", "engineering", "guest"], config.Tenants.Select(t => t.Name));
        Assert.Equal("standard", config.FindService("web")!.Policy);
    }

    [Fact]
    public void UnknownKey_Misspelled_SuggestsNearest() => AssertOnlyError(
        With("policy = standard", "polcy = standard"),
        "fabric.services.web.polcy: unknown key \"polcy\"; did you mean \"policy\"? (line 12)");

    [Fact]
    public void UnknownKey_NothingNear_ListsKnownKeys() => AssertOnlyError(
        With("guest {}", "guest { colour = blue }"),
        "fabric.tenants.guest.colour: unknown key \"colour\" (known keys: members) (line 5)");

    [Fact]
    public void DuplicateName_SameFile_IsErrorNotMerge() => AssertOnlyError(
        With("guest {}", "guest {}\n    guest {}"),
        "fabric.tenants.guest: defined twice (first at line 5); a name may be defined once (line 6)");

    [Fact]
    public void WrongType_ListWhereStringExpected() => AssertOnlyError(
        With("policy = standard", "policy = [standard]"),
        "fabric.services.web.policy: expected a string, got a list (line 12)");

    [Fact]
    public void WrongType_ObjectWhereListExpected() => AssertOnlyError(
        With("access = [engineering, guest]", "access { engineering {} }"),
        "fabric.services.web.access: expected a list [...], got an object (line 11)");

    [Fact]
    public void BadPrefix_LengthOutOfRange() => AssertOnlyError(
        With("10.1.0.0/16", "10.1.0.0/33"),
        "fabric.tenants.engineering.members[0]: \"10.1.0.0/33\" is not an IP prefix: expected an address and a length such as \"10.1.0.0/16\" or \"fd00:1::/48\" (line 3)");

    [Fact]
    public void BadPrefix_ShorthandAddress() => AssertOnlyError(
        With("10.1.0.0/16", "10.1/16"),
        "fabric.tenants.engineering.members[0]: \"10.1/16\" is not an IP prefix: expected an address and a length such as \"10.1.0.0/16\" or \"fd00:1::/48\" (line 3)");

    [Fact]
    public void BadPrefix_HostBitsSet_SuggestsNetwork() => AssertOnlyError(
        With("10.1.0.0/16", "10.1.2.3/16"),
        "fabric.tenants.engineering.members[0]: \"10.1.2.3/16\" has host bits set beyond /16; did you mean \"10.1.0.0/16\"? (line 3)");

    [Fact]
    public void BadPort_OutOfRange() => AssertOnlyError(
        With("ports = [\"80\"]", "ports = [\"80\", \"70000\"]"),
        "fabric.services.web.transports[0].ports[1]: \"70000\" is not a port or port range: expected 0 to 65535, such as \"443\" or \"8000-8080\" (low before high) (line 10)");

    [Fact]
    public void BadPortRange_LowAboveHigh() => AssertOnlyError(
        With("ports = [\"80\"]", "ports = [\"90-80\"]"),
        "fabric.services.web.transports[0].ports[0]: \"90-80\" is not a port or port range: expected 0 to 65535, such as \"443\" or \"8000-8080\" (low before high) (line 10)");

    [Fact]
    public void IcmpTransport_WithPorts_IsRefused() => AssertOnlyError(
        With("protocol = tcp, ports = [\"80\"]", "protocol = icmp, ports = [\"80\"]"),
        "fabric.services.web.transports[0].ports: icmp has no ports: leave \"ports\" out (line 10)");

    [Fact]
    public void UnknownEnumValue_ListsChoicesAndSuggests() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = proportionl"),
        "fabric.service-policies.standard.load-balancing: expected one of hunt, proportional, got \"proportionl\"; did you mean \"proportional\"? (line 17)");

    [Fact]
    public void AccessList_UnknownTenant_SuggestsNearest() => AssertOnlyError(
        With("access = [engineering, guest]", "access = [engineering, gust]"),
        "fabric.services.web.access[1]: unknown tenant \"gust\"; did you mean \"guest\"? (line 11)");

    [Fact]
    public void ServicePolicy_Missing() => AssertOnlyError(
        With("policy = standard", "policy = gold"),
        "fabric.services.web.policy: unknown service policy \"gold\" (line 12)");

    [Fact]
    public void SecurityPolicy_Missing() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = hunt, security-policy = strong"),
        "fabric.service-policies.standard.security-policy: unknown security policy \"strong\" (line 17)");

    [Fact]
    public void Service_NoPlaceToLive() => AssertOnlyError(
        With("instances = [{ container = web1 }]", ""),
        "fabric.services.web: service \"web\" has no place to live: give it instances, or routers in offered-by (line 8)");

    [Fact]
    public void Service_InstanceOfUnknownContainer() => AssertOnlyError(
        With("{ container = web1 }", "{ container = web9 }"),
        "fabric.services.web.instances[0].container: unknown container \"web9\"; did you mean \"web1\"? (line 13)");

    [Fact]
    public void Service_InstanceWithContainerAndAddress() => AssertOnlyError(
        With("{ container = web1 }", "{ container = web1, address = \"10.10.1.11\" }"),
        "fabric.services.web.instances[0]: an instance is either a container, or a router and an address, not both (line 13)");

    [Fact]
    public void Services_AmbiguousOverlap_SameSpecificity() => AssertOnlyError(
        With("    }\n  }\n  service-policies", "    }\n    www {\n      addresses = [\"10.200.0.80/32\"]\n      transports = [{ protocol = tcp, ports = [\"80\"] }]\n      instances = [{ container = web1 }]\n    }\n  }\n  service-policies"),
        "fabric.services.www: matches the same packets as service \"web\" with the same specificity (10.200.0.80/32 tcp/80): make one more specific (line 15)");

    [Fact]
    public void Services_OverlapWithNarrowerPort_IsNotAmbiguous()
    {
        var config = LoadValid(With("    }\n  }\n  service-policies", "    }\n    www {\n      addresses = [\"10.200.0.80/32\"]\n      transports = [{ protocol = tcp, ports = [\"1-1000\"] }]\n      instances = [{ container = web1 }]\n    }\n  }\n  service-policies"));
        Assert.Equal(2, config.Services.Count);
    }

    [Fact]
    public void TenantMembers_SamePrefixInTwoTenants() => AssertOnlyError(
        With("guest {}", "guest { members = [\"10.1.0.0/16\"] }"),
        "fabric.tenants.guest.members[0]: 10.1.0.0/16 is already a member of tenant \"engineering\": a prefix may belong to one tenant (line 5)");

    [Fact]
    public void Tenant_ChildWithoutParent() => AssertOnlyError(
        With("\"dev.engineering\" {}", "\"dev.marketing\" {}"),
        "fabric.tenants.\"dev.marketing\": tenant \"dev.marketing\" names parent \"marketing\", which is not defined (line 4)");

    [Fact]
    public void Tenant_BadName() => AssertOnlyError(
        With("guest {}", "guest {}\n    Guest_ {}"),
        "fabric.tenants.Guest_: \"Guest_\" is not a tenant name: use lower-case letters, digits, '-' and '_', with '.' between a child and its parent (\"dev.engineering\") (line 6)");

    [Fact]
    public void InterfaceAddresses_Collide() => AssertOnlyError(
        With("gateways = [\"10.10.1.1/24\"]", "gateways = [\"10.10.1.1/24\", \"172.16.0.1/24\"]"),
        "fabric.routers.dc1.networks.svc.gateways[1]: address 172.16.0.1 is already assigned at fabric.routers.dc1.interfaces.wan0.addresses[0] (line 26)");

    [Fact]
    public void Container_OutsideGatewayPrefix() => AssertOnlyError(
        With("addresses = [\"10.10.1.11\"]", "addresses = [\"10.10.2.11\"]"),
        "fabric.routers.dc1.networks.svc.containers.web1.addresses[0]: 10.10.2.11 is outside every gateway prefix of network \"svc\" (10.10.1.0/24) (line 27)");

    [Fact]
    public void HaPair_ThreeNodes() => AssertOnlyError(
        With("dc1a { management-address = \"10.99.0.11\" }", "dc1a { management-address = \"10.99.0.11\" }, dc1b { management-address = \"10.99.0.12\" }, dc1c { management-address = \"10.99.0.13\" }"),
        "fabric.routers.dc1.nodes: router \"dc1\" has 3 nodes: a router is one node or an HA pair of exactly two (line 22)");

    [Fact]
    public void HaPair_TwoNodes_IsValid() => Assert.Equal(2, LoadValid(
        With("dc1a { management-address = \"10.99.0.11\" }", "dc1a { management-address = \"10.99.0.11\" }, dc1b { management-address = \"10.99.0.12\" }"))
        .FindRouter("dc1")!.Nodes.Count);

    [Fact]
    public void Router_NoNodes() => AssertOnlyError(
        With("nodes { dc1a { management-address = \"10.99.0.11\" } }", "nodes {}"),
        "fabric.routers.dc1.nodes: router \"dc1\" has no nodes: give it one, or two for an HA pair (line 22)");

    [Fact]
    public void Node_MissingManagementAddress() => AssertOnlyError(
        With("dc1a { management-address = \"10.99.0.11\" }", "dc1a {}"),
        "fabric.routers.dc1.nodes.dc1a.management-address: required: the node's kernel address on the management network (line 22)");

    [Fact]
    public void Interface_UnknownNeighborhood() => AssertOnlyError(
        With("neighborhoods = [wan]", "neighborhoods = [lan]"),
        "fabric.routers.dc1.interfaces.wan0.neighborhoods[0]: unknown neighborhood \"lan\"; did you mean \"wan\"? (line 23)");

    [Fact]
    public void Device_NameTooLongForLinux() => AssertOnlyError(
        With("wan0 { addresses", "wan0 { device = \"a-very-long-device-name\", addresses"),
        "fabric.routers.dc1.interfaces.wan0.device: \"a-very-long-device-name\" is not a Linux interface name: at most 15 letters, digits, '.', '-' or '_' (line 23)");

    [Theory]
    [InlineData("all")]
    [InlineData("default")]
    [InlineData("lo")]
    [InlineData("..")]
    public void Device_NameLinuxRefusesOrTheLoopback(string device) => AssertOnlyError(
        With("wan0 { addresses", $"wan0 {{ device = \"{device}\", addresses"),
        $"fabric.routers.dc1.interfaces.wan0.device: \"{device}\" cannot be a router's interface: Linux refuses \".\", \"..\", \"all\" and \"default\" as interface names, and \"lo\" is the loopback (line 23)");

    [Fact]
    public void ValueOutOfRange_WaterMark() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = hunt, high-water-mark = 150"),
        "fabric.service-policies.standard.high-water-mark: 150 is out of range: expected 1 to 100 (line 17)");

    [Fact]
    public void WaterMarks_LowAboveHigh() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = hunt, high-water-mark = 50, low-water-mark = 60"),
        "fabric.service-policies.standard.low-water-mark: the low water mark (60) must not be above the high water mark (50) (line 17)");

    [Fact]
    public void Duration_WithoutUnit() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = hunt, idle-timeout { udp = 60 }"),
        "fabric.service-policies.standard.idle-timeout.udp: expected a duration such as \"30s\", \"5m\" or \"1h\", got \"60\" (line 17)");

    [Fact]
    public void RateLimit_BurstBelowOnePacket() => AssertOnlyError(
        With("load-balancing = hunt", "load-balancing = hunt, session-rate-limit { bytes-per-second = 100000, burst-bytes = 100 }"),
        "fabric.service-policies.standard.session-rate-limit.burst-bytes: a burst of 100 bytes cannot pass one full-size packet: use at least 1500 (line 17)");

    [Fact]
    public void Storage_PostgresqlWithoutConnectionString() => AssertOnlyError(
        With("  neighborhoods { wan {} }", "  neighborhoods { wan {} }\n  conductor { storage { provider = postgresql } }"),
        "fabric.conductor.storage: provider postgresql needs a connection-string (line 20)");

    [Fact]
    public void Storage_ConnectionStringWithPassword_RefusedWithWhereThePasswordGoes() => AssertOnlyError(
        With("  neighborhoods { wan {} }", "  neighborhoods { wan {} }\n  conductor { storage { provider = postgresql, connection-string = \"Host=db;Username=fabric;Password=s3cret\" } }"),
        "fabric.conductor.storage.connection-string: holds a password, which every version of the history and every router would carry: " +
        "name a file holding it with password-file (mode 0600 on the conductor's host), or set FABRIC_POSTGRES_PASSWORD in the conductor's environment (line 20)");

    [Fact]
    public void Storage_PasswordFileWithoutPostgresql_Refused() => AssertOnlyError(
        With("  neighborhoods { wan {} }", "  neighborhoods { wan {} }\n  conductor { storage { password-file = \"/etc/fabric/pg\" } }"),
        "fabric.conductor.storage.password-file: a password file is for provider postgresql only (line 20)");

    [Fact]
    public void Storage_PostgresqlWithPasswordFile_LoadsAndShowsTheFileNotAPassword()
    {
        var config = LoadValid(With("  neighborhoods { wan {} }", "  neighborhoods { wan {} }\n  conductor { storage { provider = postgresql, connection-string = \"Host=db;Username=fabric\", password-file = \"/etc/fabric/pg\" } }"));
        Assert.Equal("/etc/fabric/pg", config.Conductor.Storage.PasswordFile);
        var shown = Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(config));
        Assert.Contains("password-file = \"/etc/fabric/pg\"", shown, StringComparison.Ordinal);
        Assert.Equal(config, LoadValid(shown));
    }

    [Fact]
    public void Document_WithoutFabricRoot() => AssertOnlyError(
        "",
        "line 1: the document has no \"fabric { ... }\" object");

    [Fact]
    public void Document_AkkaSectionBesideFabric_RefusedWithWhereAkkaSettingsGo()
    {
        var lines = Valid.Split('\n').Length;
        AssertOnlyError(
            Valid + "\nakka { loglevel = INFO }\n",
            "akka: Akka settings are not read from the fabric document (it is shared by every node and never reaches Akka); " +
            $"set them in each node's environment instead, such as akka__loglevel=INFO (docs/control-plane.md) (line {lines + 1})");
    }

    [Theory]
    [InlineData("instances = [{ container = web1 }]", "instances = [{ router = dc9, address = \"10.0.0.1\" }]",
        "fabric.services.web.instances[0].router: unknown router \"dc9\"; did you mean \"dc1\"? (line 13)")]
    [InlineData("instances = [{ container = web1 }]", "instances = [{ router = dc1 }]",
        "fabric.services.web.instances[0]: an instance needs a container, or both a router and an address (line 13)")]
    [InlineData("instances = [{ container = web1 }]", "instances = [{ container = web1 }, { container = web1 }]",
        "fabric.services.web.instances[1]: instance \"web1\" is listed twice (line 13)")]
    [InlineData("instances = [{ container = web1 }]", "offered-by = [br7]",
        "fabric.services.web.offered-by[0]: unknown router \"br7\" (line 13)")]
    [InlineData("addresses = [\"10.200.0.80/32\"]", "addresses = []",
        "fabric.services.web.addresses: service \"web\" has no addresses to match (line 9)")]
    [InlineData("transports = [{ protocol = tcp, ports = [\"80\"] }]", "transports = []",
        "fabric.services.web.transports: service \"web\" has no transports: list at least one, such as { protocol = tcp, ports = [\"443\"] } (line 10)")]
    [InlineData("wan0 { addresses", "wan0 { tenant = guests, addresses",
        "fabric.routers.dc1.interfaces.wan0.tenant: unknown tenant \"guests\"; did you mean \"guest\"? (line 23)")]
    [InlineData("web1 { addresses = [\"10.10.1.11\"] }", "web1 { addresses = [\"10.10.1.11\"], tenant = finance }",
        "fabric.routers.dc1.networks.svc.containers.web1.tenant: unknown tenant \"finance\" (line 27)")]
    [InlineData("web1 { addresses = [\"10.10.1.11\"] }", "web1 {}",
        "fabric.routers.dc1.networks.svc.containers.web1.addresses: container \"web1\" has no address (line 27)")]
    [InlineData("gateways = [\"10.10.1.1/24\"]\n", "",
        "fabric.routers.dc1.networks.svc.gateways: network \"svc\" has no gateway address: the router is its L3 gateway (line 25)")]
    [InlineData("svc {\n", "svc {\n          device = wan0\n",
        "fabric.routers.dc1.networks.svc.device: device \"wan0\" is already used by fabric.routers.dc1.interfaces.wan0.device (line 26)")]
    [InlineData("neighborhoods { wan {} }", "neighborhoods { wan { waypoint-ports = \"80-90\" } }",
        "fabric.neighborhoods.wan.waypoint-ports: waypoint ports 80-90 reach below 1024, into well-known service ports (line 19)")]
    [InlineData("neighborhoods { wan {} }", "neighborhoods { wan { waypoint-ports = \"20000\" } }",
        "fabric.neighborhoods.wan.waypoint-ports: waypoint ports need at least two ports: an even one for the sender and an odd one for its peer (line 19)")]
    [InlineData("neighborhoods { wan {} }", "neighborhoods { wan {} }\n  conductor { storage { path = \"\" } }",
        "fabric.conductor.storage.path: provider sqlite needs a file path (line 20)")]
    [InlineData("neighborhoods { wan {} }", "neighborhoods { wan {} }\n  conductor { addresses = [\"10.99.0.11\"] }",
        "fabric.conductor.addresses[0]: address 10.99.0.11 is already assigned at fabric.routers.dc1.nodes.dc1a.management-address (line 20)")]
    [InlineData("guest {}", "guest {}\n    \"bad name\" {}",
        "fabric.tenants.\"bad name\": \"bad name\" is not a tenant name: use lower-case letters, digits, '-' and '_', with '.' between a child and its parent (\"dev.engineering\") (line 6)")]
    [InlineData("standard { load-balancing = hunt }", "standard { load-balancing = hunt }, \"standard!\" {}",
        "fabric.service-policies.\"standard!\": \"standard!\" is not a service policy name: use letters, digits, '-' and '_' (at most 63), starting with a letter or digit (line 17)")]
    [InlineData("load-balancing = hunt", "load-balancing = hunt, max-sessions = -1",
        "fabric.service-policies.standard.max-sessions: -1 is out of range: expected 0 to 100000000 (line 17)")]
    [InlineData("load-balancing = hunt", "load-balancing = hunt, max-sessions = lots",
        "fabric.service-policies.standard.max-sessions: expected a whole number, got \"lots\" (line 17)")]
    [InlineData("management-address = \"10.99.0.11\"", "management-address = \"10.99.0\"",
        "fabric.routers.dc1.nodes.dc1a.management-address: \"10.99.0\" is not an IP address (line 22)")]
    public void Rule_BrokenOnce_ExactlyOneClearError(string find, string replace, string expected) =>
        AssertOnlyError(With(find, replace), expected);

    [Fact]
    public void Names_UniqueAcrossRouters()
    {
        var text = With("  }\n}", "    dc2 {\n      nodes { dc1a { management-address = \"10.99.0.12\" } }\n      networks { n { gateways = [\"10.11.1.1/24\"], containers { web1 { addresses = [\"10.11.1.11\"] } } } }\n    }\n  }\n}");
        Assert.Equal(
            [
                "fabric.routers.dc2.nodes.dc1a: node name \"dc1a\" is already used by router \"dc1\": node names are unique in the fabric (line 32)",
                "fabric.routers.dc2.networks.n.containers.web1: container name \"web1\" is already used on router \"dc1\": container names are unique in the fabric (line 33)",
            ],
            Errors(text));
    }
}
