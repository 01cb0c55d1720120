using Fabric.Actors.Security;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;

namespace Fabric.Actors.Services;

/// <summary>A forwarding engine's services: read from the snapshot in force and its runtimes' counters. Thread-safe as the engine is.</summary>
public sealed class EngineServiceDataplane(ForwardingEngine engine) : IServiceDataplane
{
    public IReadOnlyList<LocalService> Services()
    {
        if (engine.AppliedVersion == 0)
        {
            return [];
        }

        return [.. engine.Snapshot.Services.Select(Read)];
    }

    public LocalService? Service(string name)
    {
        if (engine.AppliedVersion == 0)
        {
            return null;
        }

        var snapshot = engine.Snapshot;
        var index = snapshot.ServiceIndex(name);
        return index < 0 ? null : Read(snapshot.Services[index]);
    }

    private static LocalService Read(ServiceEntry entry)
    {
        var load = entry.Runtime.Load;
        var instances = new List<LocalServiceInstance>(entry.Instances.Length);
        for (var i = 0; i < entry.Instances.Length; i++)
        {
            var instance = entry.Instances[i];
            instances.Add(new LocalServiceInstance(instance.Name, Container(instance.Name), Address(instance), load.Health(i).IsUp));
        }

        var sessions = new long[load.Count];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = load.LocalSessions(i);
        }

        return new LocalService(entry.Name, instances, entry.PeerRouters, sessions);
    }

    public bool TryRouterOf(string node, out string? router) => EngineNodeRouters.TryRouterOf(engine, node, out router);

    public void ReportClusterLoad(string service, int slot, long sessionsOfOthers)
    {
        if (engine.AppliedVersion == 0)
        {
            return;
        }

        var snapshot = engine.Snapshot;
        var index = snapshot.ServiceIndex(service);
        if (index >= 0 && (uint)slot < (uint)snapshot.Services[index].Runtime.Load.Count)
        {
            snapshot.Services[index].Runtime.Load.ReportRemoteLoad(slot, sessionsOfOthers);
        }
    }

    public void ReportPeerHealth(string service, int slot, string router, bool isUp)
    {
        if (engine.AppliedVersion == 0)
        {
            return;
        }

        var snapshot = engine.Snapshot;
        var index = snapshot.ServiceIndex(service);
        if (index >= 0 && snapshot.Services[index] is { Instances.Length: 0 } entry
            && (uint)slot < (uint)entry.PeerRouters.Length && entry.PeerRouters[slot] == router)
        {
            entry.Runtime.Load.SetUp(slot, isUp);
        }
    }

    /// <summary>An instance's name is its container's, or "router/address" for an address instance (Model.ServiceInstance.Name).</summary>
    private static string? Container(string instance) => instance.Contains('/', StringComparison.Ordinal) ? null : instance;

    private static string Address(LocalInstance instance)
    {
        var addresses = new List<string>(2);
        if (instance.HasIpv4)
        {
            addresses.Add(IpAddressConversions.ToIPAddress(instance.Ipv4).ToString());
        }

        if (instance.HasIpv6)
        {
            addresses.Add(IpAddressConversions.ToIPAddress(instance.Ipv6).ToString());
        }

        var joined = string.Join(", ", addresses);
        return instance.Port == 0 ? joined : $"{joined} port {instance.Port}";
    }
}
