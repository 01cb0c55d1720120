using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Tenants;

/// <summary>
/// One router node's measured demand for each limited (service, tenant) bucket it polices, as it publishes
/// it to the others every exchange interval.
/// </summary>
/// <param name="Node">The router node (a router has one node, or two as an HA pair).</param>
/// <param name="Sequence">Grows with every report the node publishes: a reader takes a report whose sequence moved as a sign of life, by its own clock (no wall clocks are compared across nodes).</param>
/// <param name="Demands">Bytes per second offered to each bucket (admitted or not), by <see cref="TenantBudgetDistribution.KeyOf"/>.</param>
[WireMessage("fabric.tenants.demand-report.v1")]
public sealed record TenantDemandReport(string Node, string Router, long Sequence, IReadOnlyDictionary<string, long> Demands);

/// <summary>
/// A node's report as it publishes it: <paramref name="Member"/> is the node's cluster incarnation (<c>address#uid</c>),
/// whose reports' sequence only grows, so a reader refuses an earlier report of the same run replayed; with the node's
/// seal (<see cref="NodeSigner"/>), null when the cluster runs without TLS. A reader believes it only under its node's
/// name, sealed by that node, for the router that node is part of (<see cref="NodeEntries"/>).
/// </summary>
[WireMessage("fabric.tenants.sealed-demand-report.v1")]
public sealed record SealedDemandReport(TenantDemandReport Report, string Member, NodeSeal? Seal)
{
    /// <summary>What the node signs: every field of the report, and its incarnation.</summary>
    public static NodeStatement Statement(TenantDemandReport report, string member)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new NodeStatement("fabric.tenants.demand-report.v1")
            .Add(report.Node).Add(report.Router).Add(member).Add(report.Sequence).Add(report.Demands);
    }

    public NodeStatement Statement() => Statement(Report, Member);

    /// <summary>The reports a reader believes (<see cref="NodeEntries"/>).</summary>
    public static List<TenantDemandReport> Believed(IEnumerable<KeyValuePair<string, SealedDemandReport>> entries, NodeEntries reader, INodeRouters? routers)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(reader);
        var believed = new List<TenantDemandReport>();
        foreach (var (key, entry) in entries)
        {
            var report = entry.Report;
            if (reader.Believe(key, entry, report.Node, report.Node, e => e.Statement(), entry.Seal, NodeRouters.NotAllowed(routers, report.Node, report.Router), (entry.Member, report.Sequence)))
            {
                believed.Add(report);
            }
        }

        return believed;
    }
}

/// <summary>The Distributed Data key the budget exchange travels under, and how a (service, tenant) bucket is named in it.</summary>
public static class TenantBudgetDistribution
{
    /// <summary>Each router node's latest report under its node name.</summary>
    public static readonly LWWDictionaryKey<EntryName, SealedDemandReport> Demands = new("fabric-tenant-demands-v3");

    /// <summary>A bucket's name in a report: <c>service/tenant</c> (neither name may hold a '/').</summary>
    public static string KeyOf(string service, string tenant) => $"{service}/{tenant}";
}

/// <summary>The budget exchange's tunables; the defaults are what a router runs with.</summary>
/// <param name="Interval">How often a node measures, publishes its demands and sets its shares.</param>
/// <param name="DemandWindow">The span a demand is measured over (a rate over the last samples in it): longer is steadier, shorter follows a change sooner.</param>
/// <param name="StaleAfter">A node whose report has not moved for this long (by the reader's clock) no longer takes a share: a dead or partitioned router's demand ages out.</param>
/// <param name="Headroom">See <see cref="TenantBudgetShares.Divide"/>.</param>
/// <param name="IdleFloor">See <see cref="TenantBudgetShares.Divide"/>.</param>
public sealed record TenantBudgetSettings(
    TimeSpan Interval, TimeSpan DemandWindow, TimeSpan StaleAfter, double Headroom, double IdleFloor)
{
    public static TenantBudgetSettings Default { get; } = new(
        Interval: TimeSpan.FromMilliseconds(250),
        DemandWindow: TimeSpan.FromSeconds(1),
        StaleAfter: TimeSpan.FromSeconds(3),
        Headroom: 0.1,
        IdleFloor: 0.05);
}
