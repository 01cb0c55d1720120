using System.Net;
using Fabric.Model;
using Fabric.Model.Addressing;
using Fabric.Model.Collections;

namespace Fabric.Tests.Config;

/// <summary>
/// Builds a random but valid fabric model from a seed: every reference resolves, names and
/// addresses are unique, services do not overlap. Used to check that what Fabric writes it reads back.
/// </summary>
public static class RandomFabric
{
    private static readonly string[] TenantPool = ["engineering", "guest", "finance", "hr", "ops"];

    public static FabricConfig Create(int seed)
    {
        var random = new Random(seed);
        var tenants = TenantPool.Where(_ => random.Next(3) > 0).ToList();
        var tenantModels = tenants.Select((name, i) => new Tenant(name, List(random.Next(3), j => Prefix($"10.{i}.{j}.0", 24)))).ToList();
        if (tenants.Count > 0 && random.Next(2) == 0)
        {
            var child = "dev." + tenants[0];
            tenants.Add(child);
            tenantModels.Add(new Tenant(child, List(random.Next(2), j => Prefix($"fd00:{tenants.Count}:{j}::", 48))));
        }

        var securityPolicies = List(random.Next(3), i => new SecurityPolicy(
            $"sec{i}", Pick(random, Enum.GetValues<Cipher>()), TimeSpan.FromSeconds(random.Next(10, 100_000)), random.Next(1024, int.MaxValue)));
        var securityNames = securityPolicies.Select(p => p.Name).Append(SecurityPolicy.DefaultName).ToArray();
        var servicePolicies = List(random.Next(3), i =>
        {
            var high = random.Next(1, 101);
            return new ServicePolicy(
                $"pol{i}",
                Pick(random, Enum.GetValues<LoadBalancingStrategy>()),
                Pick(random, Enum.GetValues<EncryptionMode>()),
                Pick(random, securityNames),
                Rate(random), Rate(random), Rate(random),
                random.Next(0, 100_000), random.Next(0, 10_000), high, random.Next(0, high + 1),
                new IdleTimeouts(Seconds(random), Seconds(random), Seconds(random), Seconds(random)),
                Pick(random, Enum.GetValues<TransportStateEnforcement>()),
                Pick(random, Enum.GetValues<SessionResiliency>()))
            {
                PathQuality = random.Next(2) == 0 ? PathQuality.Any : new PathQuality(
                    random.Next(2) == 0 ? null : TimeSpan.FromMilliseconds(random.Next(1, 1000)),
                    random.Next(2) == 0 ? null : TimeSpan.FromMilliseconds(random.Next(1, 1000)),
                    random.Next(2) == 0 ? null : random.Next(0, 101)),
                PathChoice = Pick(random, Enum.GetValues<PathChoice>()),
            };
        });
        var policyNames = servicePolicies.Select(p => p.Name).Append(ServicePolicy.DefaultName).ToArray();
        var neighborhoods = List(random.Next(3), i =>
        {
            var low = random.Next(4096, 60_000); // above the path monitoring ports (1280, 3785)
            return new Neighborhood($"hood{i}", new PortRange(low, random.Next(low + 1, 65536)), random.Next(1, 65536));
        });

        var routers = List(random.Next(1, 4), r => new Model.Router(
            $"router{r}",
            List(random.Next(1, 3), n => new RouterNode($"r{r}n{n}", Address($"10.99.{r}.{n + 1}"))),
            List(random.Next(3), i => new ForwardingInterface(
                $"if{i}", $"if{i}", List(random.Next(1, 3), a => Prefix($"172.{16 + r}.{i}.{a + 1}", 24)),
                Subset(random, neighborhoods.Select(h => h.Name)), random.Next(3) == 0 && tenants.Count > 0 ? Pick(random, tenants) : null,
                random.Next(576, 9001))),
            List(random.Next(3), n =>
            {
                var model = Pick(random, Enum.GetValues<NetworkModel>());
                return new Network(
                    $"net{n}", model, $"net{n}",
                    List(1, _ => Prefix($"10.{100 + r}.{n}.1", 24)),
                    random.Next(2) == 0 && tenants.Count > 0 ? Pick(random, tenants) : null,
                    List(random.Next(4), c => new Container($"c{r}x{n}x{c}", List(1, _ => Address($"10.{100 + r}.{n}.{10 + c}")),
                        random.Next(2) == 0 && tenants.Count > 0 ? Pick(random, tenants) : null)),
                    random.Next(576, 9001));
            }))
        {
            Sessions = new SessionTableSettings(random.Next(16, 1 << 20), random.Next(1, 101)),
            Dataplane = new DataplaneSettings(random.Next(2) == 0 ? null : random.Next(1, DataplaneSettings.MaximumWorkers + 1), TimeSpan.FromMicroseconds(random.Next(101)), (PacketIo)random.Next(2)),
        });
        // An HA pair runs one worker per node: a valid model gives it at most one.
        routers = [.. routers.Select(r => r.Nodes.Count == 2 && r.Dataplane.Workers > 1 ? r with { Dataplane = r.Dataplane with { Workers = 1 } } : r)];
        var containers = routers.SelectMany(r => r.Networks).SelectMany(n => n.Containers).Select(c => c.Name).ToArray();

        var services = List(random.Next(4), s =>
        {
            var instances = Subset(random, containers).Select(c => new ServiceInstance(c, null, null, random.Next(2) == 0 ? null : random.Next(1, 65536), random.Next(100), random.Next(1000))).ToList();
            if (random.Next(2) == 0)
            {
                instances.Add(new ServiceInstance(null, Pick(random, routers).Name, Address($"192.0.2.{s + 1}"), null, random.Next(100), 0));
            }

            var offeredBy = Subset(random, routers.Select(r => r.Name));
            if (instances.Count == 0 && offeredBy.Count == 0)
            {
                offeredBy = [routers[0].Name];
            }

            return new Service(
                $"svc{s}",
                List(random.Next(1, 3), a => a == 0 ? Prefix($"10.200.{s}.0", 24) : Prefix($"fd00:200:{s}::", 64)),
                List(random.Next(1, 3), t =>
                {
                    var protocol = Pick(random, Enum.GetValues<TransportProtocol>());
                    return new Transport(protocol, protocol == TransportProtocol.Icmp ? [] : List(random.Next(3), p =>
                    {
                        var low = random.Next(0, 65536);
                        return new PortRange(low, random.Next(low, 65536));
                    }));
                }),
                Subset(random, tenants),
                Pick(random, policyNames),
                instances,
                offeredBy);
        });

        var storage = random.Next(2) == 0
            ? new StorageSettings(StorageProvider.Sqlite, $"db{random.Next(100)}.sqlite", null)
            : new StorageSettings(StorageProvider.Postgresql, "fabric-conductor.db", "Host=localhost;Database=fabric");
        return new FabricConfig(
            $"fabric{random.Next(100)}",
            Sorted(tenantModels, t => t.Name),
            Sorted(services, s => s.Name),
            Sorted(servicePolicies, p => p.Name),
            Sorted(securityPolicies, p => p.Name),
            Sorted(neighborhoods, n => n.Name),
            Sorted(routers, r => r.Name),
            new ConductorSettings(List(random.Next(3), i => Address($"10.98.0.{i + 1}")), random.Next(1, 65536), storage));
    }

    private static RateLimit Rate(Random random) =>
        random.Next(2) == 0 ? RateLimit.Unlimited : new RateLimit(random.Next(1, int.MaxValue), random.Next(1500, int.MaxValue));

    private static TimeSpan Seconds(Random random) => TimeSpan.FromSeconds(random.Next(1, 1_000_000));

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static List<T> Subset<T>(Random random, IEnumerable<T> items) => [.. items.Where(_ => random.Next(2) == 0)];

    private static List<T> List<T>(int count, Func<int, T> item) => [.. Enumerable.Range(0, count).Select(item)];

    private static ValueList<T> Sorted<T>(IEnumerable<T> items, Func<T, string> name) => new(items.OrderBy(name, StringComparer.Ordinal));

    private static IpPrefix Prefix(string address, int length) => new(IPAddress.Parse(address), length);

    private static IPAddress Address(string address) => IPAddress.Parse(address);
}
