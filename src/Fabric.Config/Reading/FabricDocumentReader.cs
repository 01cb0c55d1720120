using Fabric.Config.Hocon;
using Fabric.Model;
using Fabric.Model.Addressing;
using Fabric.Model.Collections;

namespace Fabric.Config.Reading;

/// <summary>
/// Reads the parsed document into the typed model. The keys and defaults here are the ones
/// <c>hocon/fabric.reference.conf</c> documents; a key this reader does not ask for is an error.
/// </summary>
internal static class FabricDocumentReader
{
    /// <summary>
    /// Akka's settings are refused in the document rather than ignored or passed on: the document is shared by
    /// every node and written through the conductor's API, so none of it may reach Akka's parser, and a setting
    /// that is silently dropped misleads. Each node takes its Akka overrides from its own environment.
    /// </summary>
    private const string AkkaRoot = "akka";

    public static FabricConfig Read(HoconObject root, ReadContext context)
    {
        var document = new ObjectReader(root, "", context);
        if (document.Has(AkkaRoot))
        {
            document.Error(
                AkkaRoot,
                "Akka settings are not read from the fabric document (it is shared by every node and never reaches Akka); " +
                "set them in each node's environment instead, such as akka__loglevel=INFO (docs/control-plane.md)");
        }

        var fabric = document.Object("fabric");
        if (fabric is null)
        {
            if (!document.Has("fabric"))
            {
                document.Error("the document has no \"fabric { ... }\" object");
            }

            document.Finish();
            return Empty;
        }

        document.Finish();
        var config = Fabric(fabric);
        fabric.Finish();
        return config;
    }

    private static FabricConfig Empty => new("", [], [], [], [], [], [], ConductorSettings.Default);

    private static FabricConfig Fabric(ObjectReader r) => new(
        r.String("name", "fabric"),
        Sorted(r.Named("tenants", "tenant", Tenant), t => t.Name),
        Sorted(r.Named("services", "service", Service), s => s.Name),
        Sorted(r.Named("service-policies", "service policy", ServicePolicy), p => p.Name),
        Sorted(r.Named("security-policies", "security policy", SecurityPolicy), p => p.Name),
        Sorted(r.Named("neighborhoods", "neighborhood", Neighborhood), n => n.Name),
        Sorted(r.Named("routers", "router", Router), x => x.Name),
        r.Object("conductor") is { } conductor ? Finished(conductor, Conductor(conductor)) : ConductorSettings.Default);

    private static Tenant Tenant(string name, ObjectReader r) =>
        new(name, r.Values("members", (node, path) => r.Prefix(node, path, network: true)));

    private static Service Service(string name, ObjectReader r) => new(
        name,
        r.Values("addresses", (node, path) => r.Prefix(node, path, network: true)),
        r.ObjectList("transports", Transport),
        r.StringList("access"),
        r.String("policy", Model.ServicePolicy.DefaultName),
        r.ObjectList("instances", Instance),
        r.StringList("offered-by"));

    private static Transport Transport(ObjectReader r) => new(
        r.Enum("protocol", TransportProtocol.Tcp),
        r.Values("ports", (node, path) => r.Ports(node, path)));

    private static ServiceInstance Instance(ObjectReader r) => new(
        r.OptionalString("container"),
        r.OptionalString("router"),
        r.OptionalAddress("address"),
        r.OptionalInt("port", 1, PortRange.MaxPort),
        r.Int("cost", 0, 0, 1_000_000),
        r.Int("capacity", 0, 0, 100_000_000));

    private static ServicePolicy ServicePolicy(string name, ObjectReader r)
    {
        var d = Model.ServicePolicy.Default;
        return new ServicePolicy(
            name,
            r.Enum("load-balancing", d.LoadBalancing),
            r.Enum("encryption", d.Encryption),
            r.String("security-policy", d.SecurityPolicy),
            RateLimit(r, "session-rate-limit"),
            RateLimit(r, "tenant-rate-limit"),
            RateLimit(r, "service-rate-limit"),
            r.Int("max-sessions", d.MaxSessions, 0, 100_000_000),
            r.Int("session-rate", d.SessionRate, 0, 100_000_000),
            r.Int("high-water-mark", d.HighWaterPercent, 1, 100),
            r.Int("low-water-mark", d.LowWaterPercent, 0, 100),
            IdleTimeouts(r),
            r.Enum("transport-state-enforcement", d.TransportStateEnforcement),
            r.Enum("session-resiliency", d.Resiliency))
        {
            PathQuality = PathQuality(r),
            PathChoice = r.Enum("path-choice", d.PathChoice),
            HealthCheck = HealthCheck(r),
        };
    }

    private static PathQuality PathQuality(ObjectReader parent)
    {
        if (parent.Object("path-quality") is not { } r)
        {
            return Model.PathQuality.Any;
        }

        var quality = new PathQuality(
            r.Has("max-latency") ? r.Duration("max-latency", TimeSpan.Zero, TimeSpan.FromMicroseconds(1)) : null,
            r.Has("max-jitter") ? r.Duration("max-jitter", TimeSpan.Zero, TimeSpan.FromMicroseconds(1)) : null,
            r.OptionalInt("max-loss", 0, 100));
        r.Finish();
        return quality;
    }

    private static HealthCheck HealthCheck(ObjectReader parent)
    {
        var d = Model.HealthCheck.Default;
        if (parent.Object("health-check") is not { } r)
        {
            return Model.HealthCheck.Off;
        }

        var check = new HealthCheck(
            r.Bool("enabled", d.Enabled),
            r.Duration("interval", d.Interval, TimeSpan.FromMilliseconds(100)),
            r.Duration("timeout", d.Timeout, TimeSpan.FromMilliseconds(10)),
            r.Int("healthy-threshold", d.HealthyThreshold, 1, 100),
            r.Int("unhealthy-threshold", d.UnhealthyThreshold, 1, 100));
        r.Finish();

        // A check turned off is no check, whatever else the block says (one form, so documents compare equal).
        return check.Enabled ? check : Model.HealthCheck.Off;
    }

    private static RateLimit RateLimit(ObjectReader parent, string key)
    {
        if (parent.Object(key) is not { } r)
        {
            return Model.RateLimit.Unlimited;
        }

        var rate = r.Long("bytes-per-second", 0, 0, 1L << 40);
        var burst = r.Long("burst-bytes", rate, 0, 1L << 40);
        r.Finish();
        return new RateLimit(rate, burst);
    }

    private static IdleTimeouts IdleTimeouts(ObjectReader parent)
    {
        var d = Model.IdleTimeouts.Default;
        if (parent.Object("idle-timeout") is not { } r)
        {
            return d;
        }

        var minimum = TimeSpan.FromSeconds(1);
        var timeouts = new IdleTimeouts(
            r.Duration("tcp", d.Tcp, minimum),
            r.Duration("udp", d.Udp, minimum),
            r.Duration("icmp", d.Icmp, minimum),
            r.Duration("half-open", d.HalfOpen, minimum));
        r.Finish();
        return timeouts;
    }

    private static SecurityPolicy SecurityPolicy(string name, ObjectReader r)
    {
        var d = Model.SecurityPolicy.Default;
        return new SecurityPolicy(
            name,
            r.Enum("cipher", d.Cipher),
            r.Duration("rekey-interval", d.RekeyInterval, TimeSpan.FromSeconds(10)),
            r.Long("rekey-after-packets", d.RekeyAfterPackets, 1024, 1L << 48));
    }

    private static Neighborhood Neighborhood(string name, ObjectReader r) => new(
        name,
        r.PortRangeOf("waypoint-ports", Model.Neighborhood.DefaultWaypointPorts),
        r.Int("max-waypoints", Model.Neighborhood.DefaultMaxWaypoints, 1, PortRange.MaxPort))
    {
        Monitoring = PathMonitoring(r),
        AllowUnauthenticatedMetadata = r.Bool("allow-unauthenticated-metadata", false),
    };

    private static PathMonitoring PathMonitoring(ObjectReader parent)
    {
        var d = Model.PathMonitoring.Default;
        if (parent.Object("path-monitoring") is not { } r)
        {
            return d;
        }

        var monitoring = new PathMonitoring(
            r.Duration("interval", d.Interval, TimeSpan.FromMilliseconds(10)),
            r.Int("multiplier", d.Multiplier, 1, 255),
            r.Duration("hold-down", d.HoldDown, TimeSpan.Zero),
            r.Duration("echo-interval", d.EchoInterval, TimeSpan.FromMilliseconds(100)),
            r.Int("echo-burst", d.EchoBurst, 1, 100));
        r.Finish();
        return monitoring;
    }

    private static Router Router(string name, ObjectReader r) => new(
        name,
        Sorted(r.Named("nodes", "node", RouterNode), n => n.Name),
        Sorted(r.Named("interfaces", "interface", Interface), i => i.Name),
        Sorted(r.Named("networks", "network", Network), n => n.Name))
    {
        HighAvailability = PairLiveness(r),
        Sessions = r.Object("sessions") is { } sessions ? Finished(sessions, SessionTable(sessions)) : SessionTableSettings.Default,
        Dataplane = Dataplane(r),
    };

    private static SessionTableSettings SessionTable(ObjectReader r) => new(
        r.Int("capacity", SessionTableSettings.DefaultCapacity, 16, 1 << 24),
        r.Int("max-tenant-share", SessionTableSettings.DefaultMaxTenantSharePercent, 1, 100));

    private static DataplaneSettings Dataplane(ObjectReader parent)
    {
        if (parent.Object("dataplane") is not { } r)
        {
            return DataplaneSettings.Default;
        }

        var settings = new DataplaneSettings(
            r.OptionalInt("workers", 1, DataplaneSettings.MaximumWorkers),
            r.Duration("busy-poll", TimeSpan.Zero, TimeSpan.Zero),
            r.Enum("io", PacketIo.Recvmmsg));
        r.Finish();
        return settings;
    }

    private static PairLiveness PairLiveness(ObjectReader parent)
    {
        var d = Model.PairLiveness.Default;
        if (parent.Object("high-availability") is not { } r)
        {
            return d;
        }

        var liveness = new PairLiveness(
            r.Duration("heartbeat-interval", d.HeartbeatInterval, Model.PairLiveness.MinimumHeartbeatInterval),
            r.Duration("dead-interval", d.DeadInterval, Model.PairLiveness.MinimumHeartbeatInterval * Model.PairLiveness.MinimumHeartbeatsPerDeadInterval),
            r.Int("heartbeat-port", d.Port, 1, PortRange.MaxPort));
        r.Finish();
        return liveness;
    }

    private static RouterNode RouterNode(string name, ObjectReader r)
    {
        var address = r.OptionalAddress("management-address");
        if (address is null && !r.Has("management-address"))
        {
            r.Error("management-address", "required: the node's kernel address on the management network");
        }

        return new RouterNode(name, address ?? System.Net.IPAddress.None, r.OptionalString("identity"));
    }

    private static ForwardingInterface Interface(string name, ObjectReader r) => new(
        name,
        r.String("device", name),
        r.Values("addresses", (node, path) => r.Prefix(node, path, network: false)),
        r.StringList("neighborhoods"),
        r.OptionalString("tenant"),
        r.Int("mtu", ForwardingInterface.DefaultMtu, 576, 65535));

    private static Network Network(string name, ObjectReader r) => new(
        name,
        r.Enum("model", NetworkModel.Bridged),
        r.String("device", name),
        r.Values("gateways", (node, path) => r.Prefix(node, path, network: false)),
        r.OptionalString("tenant"),
        Sorted(r.Named("containers", "container", Container), c => c.Name),
        r.Int("mtu", ForwardingInterface.DefaultMtu, 576, 65535));

    private static Container Container(string name, ObjectReader r) => new(
        name,
        r.List("addresses", (node, path) => r.Address(node, path)),
        r.OptionalString("tenant"));

    private static ConductorSettings Conductor(ObjectReader r) => new(
        r.List("addresses", (node, path) => r.Address(node, path)),
        r.Int("api-port", ConductorSettings.DefaultApiPort, 1, PortRange.MaxPort),
        r.Object("storage") is { } storage ? Finished(storage, Storage(storage)) : StorageSettings.Default,
        r.Bool("open-reads", false));

    private static StorageSettings Storage(ObjectReader r) => new(
        r.Enum("provider", StorageSettings.Default.Provider),
        r.String("path", StorageSettings.DefaultSqlitePath),
        r.OptionalString("connection-string"),
        r.OptionalString("password-file"));

    private static T Finished<T>(ObjectReader reader, T value)
    {
        reader.Finish();
        return value;
    }

    private static ValueList<T> Sorted<T>(List<T> items, Func<T, string> name) =>
        new(items.OrderBy(name, StringComparer.Ordinal));
}
