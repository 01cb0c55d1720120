using System.Diagnostics.Metrics;
using Fabric.Actors.Telemetry;

namespace Fabric.Http.Metrics;

public enum InstrumentKind
{
    /// <summary>Cumulative since the router process started; Prometheus adds <c>_total</c>.</summary>
    Counter,

    /// <summary>A value now (sessions active, a path's round-trip time).</summary>
    Gauge,
}

/// <summary>
/// One metric family and the telemetry counters it is made of.
/// </summary>
/// <param name="Instrument">The instrument's name; <see cref="PrometheusExposition"/> writes dots as underscores and adds the unit and <c>_total</c>.</param>
/// <param name="Unit">UCUM unit (<c>By</c> bytes, <c>s</c> seconds); in braces, an annotation the name leaves out.</param>
/// <param name="Prefix">The telemetry counter's name starts with this ...</param>
/// <param name="Suffix">... and ends with this; what lies between is the family's label value(s).</param>
/// <param name="Labels">
/// The labels the middle part fills: none (the whole name is <paramref name="Prefix"/>), one, or several split at the
/// first separators, the last label taking the rest (a service name has no dot, a tenant name may:
/// <c>tenant-limit.web.eng.dev.rate</c>). A counter with fewer parts, or an empty one, is not of the family.
/// </param>
/// <param name="Scale">Multiplies the counter into the unit (microseconds into seconds).</param>
/// <param name="LastLabelOfOlderRouters">
/// When set, a middle part one label short is of the family too and takes this for its last label: a counter as a
/// router of an earlier release names it (peer paths were <c>path.P/N</c> while every path was IPv4, then
/// <c>path.P/N/F</c>), so a fabric in a rolling upgrade keeps every path's series.
/// </param>
public sealed record CounterFamily(
    string Instrument, InstrumentKind Kind, string Unit, string Description, string Prefix, string Suffix, string[] Labels, double Scale = 1, char Separator = '.',
    string? LastLabelOfOlderRouters = null)
{
    /// <summary>The label values of <paramref name="counter"/> when it belongs to this family, else null.</summary>
    public string[]? Match(string counter)
    {
        ArgumentNullException.ThrowIfNull(counter);
        if (Labels.Length == 0)
        {
            return counter == Prefix ? [] : null;
        }

        if (counter.Length <= Prefix.Length + Suffix.Length || !counter.StartsWith(Prefix, StringComparison.Ordinal) || !counter.EndsWith(Suffix, StringComparison.Ordinal))
        {
            return null;
        }

        var middle = counter[Prefix.Length..^Suffix.Length];
        if (Labels.Length == 1)
        {
            return [middle];
        }

        var values = middle.Split(Separator, Labels.Length);
        if (values.Contains(""))
        {
            return null;
        }

        return values.Length == Labels.Length ? values
            : values.Length == Labels.Length - 1 && LastLabelOfOlderRouters is { } last ? [.. values, last]
            : null;
    }
}

/// <summary>
/// Every metric family the fabric exposes, from the telemetry counters of <see cref="EngineTelemetrySource"/>.
/// The table is the one place where counter names become metric names; the conductor and the routers render it
/// alike. Immutable; thread-safe.
/// </summary>
public static class CounterFamilies
{
    private const string Packets = "{packet}";
    private const string Sessions = "{session}";

    /// <summary>A peer path's counters are named <c>path.{peer}/{neighborhood}/{family}.{metric}</c> (<see cref="EngineTelemetrySource"/>).</summary>
    private static readonly string[] PeerPathLabels = ["peer", "neighborhood", "family"];

    /// <summary>The family of a peer path a router of the previous release names without one: all its paths were IPv4.</summary>
    private const string PeerPathFamilyOfOlderRouters = "ipv4";

    /// <summary>Whether each peer path is up: the family that names a router node's peer paths (peer, neighborhood, family).</summary>
    public static CounterFamily PeerPathUp { get; } =
        new("fabric.peer_path.up", InstrumentKind.Gauge, "", "1 while the peer path's monitoring sees it up, else 0.", "path.", ".up", PeerPathLabels, Separator: '/', LastLabelOfOlderRouters: PeerPathFamilyOfOlderRouters);

    public static IReadOnlyList<CounterFamily> All { get; } =
    [
        new("fabric.packets.received", InstrumentKind.Counter, Packets, "Packets the router received on its forwarding interfaces.", "received", "", []),
        new("fabric.packets.forwarded", InstrumentKind.Counter, Packets, "Packets the router forwarded.", "forwarded", "", []),
        new("fabric.packets.dropped", InstrumentKind.Counter, Packets, "Packets the router dropped, whatever the reason (fabric_drops_total has them by reason).", "dropped", "", []),
        new("fabric.packets.generated", InstrumentKind.Counter, Packets, "Packets the router sent of its own (ARP and ND answers, ICMP errors, probes).", "generated", "", []),
        new("fabric.sessions.active", InstrumentKind.Gauge, Sessions, "Sessions in the router's session table now.", "sessions", "", []),
        new("fabric.sessions.created", InstrumentKind.Counter, Sessions, "Sessions the router opened.", "sessions.created", "", []),
        new("fabric.sessions.expired", InstrumentKind.Counter, Sessions, "Sessions the router closed when they went idle.", "sessions.expired", "", []),
        new("fabric.sessions.evicted", InstrumentKind.Counter, Sessions, "Half-open sessions the router removed, oldest first, to make room for a new session.", "sessions.evicted", "", []),
        new("fabric.sessions.superseded", InstrumentKind.Counter, Sessions, "Egress and transit sessions removed because the peer opened a new session on their waypoint tuple.", "sessions.superseded", "", []),
        new("fabric.sessions.revoked", InstrumentKind.Counter, Sessions, "Live sessions a committed configuration no longer allowed, ended (TCP reset toward the ends this router holds).", "sessions.revoked", "", []),
        new("fabric.drops", InstrumentKind.Counter, Packets, "Packets dropped, by reason.", "drop.", "", ["reason"]),
        new("fabric.tenant.packets", InstrumentKind.Counter, Packets, "Packets forwarded for each tenant (both directions of its sessions).", "tenant.", ".packets", ["tenant"]),
        new("fabric.tenant.bytes", InstrumentKind.Counter, "By", "IP bytes forwarded for each tenant.", "tenant.", ".bytes", ["tenant"]),
        new("fabric.tenant.sessions.opened", InstrumentKind.Counter, Sessions, "Sessions opened by each tenant.", "tenant.", ".sessions.opened", ["tenant"]),
        new("fabric.tenant.sessions.active", InstrumentKind.Gauge, Sessions, "Sessions of each tenant open now.", "tenant.", ".sessions.active", ["tenant"]),
        new("fabric.tenant.drops", InstrumentKind.Counter, Packets, "Packets of each tenant dropped, whatever the reason.", "tenant.", ".drops", ["tenant"]),
        new("fabric.service.packets", InstrumentKind.Counter, Packets, "Packets forwarded for each service.", "service.", ".packets", ["service"]),
        new("fabric.service.bytes", InstrumentKind.Counter, "By", "IP bytes forwarded for each service.", "service.", ".bytes", ["service"]),
        new("fabric.service.sessions.opened", InstrumentKind.Counter, Sessions, "Sessions opened to each service.", "service.", ".sessions.opened", ["service"]),
        new("fabric.service.sessions.active", InstrumentKind.Gauge, Sessions, "Sessions to each service open now.", "service.", ".sessions.active", ["service"]),
        new("fabric.service.sessions.placed", InstrumentKind.Gauge, Sessions, "Sessions this router placed on the service's instances, now.", "service.", ".sessions", ["service"]),
        new("fabric.service.drops", InstrumentKind.Counter, Packets, "Packets to each service dropped, whatever the reason.", "service.", ".drops", ["service"]),
        new("fabric.peer_path.sessions", InstrumentKind.Gauge, Sessions, "Waypoint pairs in use on each peer path.", "path.", ".sessions", PeerPathLabels, Separator: '/', LastLabelOfOlderRouters: PeerPathFamilyOfOlderRouters),
        PeerPathUp,
        new("fabric.peer_path.rtt", InstrumentKind.Gauge, "s", "The peer path's round-trip time as its probes measure it.", "path.", ".rtt-us", PeerPathLabels, 1e-6, '/', PeerPathFamilyOfOlderRouters),
        new("fabric.peer_path.jitter", InstrumentKind.Gauge, "s", "The peer path's jitter as its probes measure it.", "path.", ".jitter-us", PeerPathLabels, 1e-6, '/', PeerPathFamilyOfOlderRouters),
        new("fabric.peer_path.loss_ratio", InstrumentKind.Gauge, "", "The share of the peer path's probes lost (0 to 1).", "path.", ".loss-bp", PeerPathLabels, 1e-4, '/', PeerPathFamilyOfOlderRouters),
        new("fabric.tenant_limit.configured", InstrumentKind.Gauge, "By/s", "A limited tenant's configured rate on a service, fabric-wide.", "tenant-limit.", ".configured", ["service", "tenant"]),
        new("fabric.tenant_limit.rate", InstrumentKind.Gauge, "By/s", "The rate in force at this router: its share of the tenant's limit.", "tenant-limit.", ".rate", ["service", "tenant"]),
        new("fabric.tenant_limit.offered.bytes", InstrumentKind.Counter, "By", "Bytes a limited tenant offered to a service at this router.", "tenant-limit.", ".offered-bytes", ["service", "tenant"]),
        new("fabric.tenant_limit.refused.bytes", InstrumentKind.Counter, "By", "Bytes over a limited tenant's rate, refused at this router.", "tenant-limit.", ".refused-bytes", ["service", "tenant"]),
        new("fabric.ha.active", InstrumentKind.Gauge, "", "1 while the node forwards (alone, or the active node of an HA pair), 0 while it stands by.", "ha.active", "", []),
    ];
}

/// <summary>Samples turned into measurements per family once, then handed out to each instrument. Immutable; thread-safe.</summary>
internal sealed class MeasuredSamples
{
    private readonly Dictionary<CounterFamily, List<Measurement<long>>> _byFamily = [];

    public MeasuredSamples(IReadOnlyCollection<CounterSample> samples)
    {
        foreach (var sample in samples)
        {
            foreach (var (counter, value) in sample.Counters)
            {
                if (Family(counter) is not ({ } family, { } labels))
                {
                    continue;
                }

                var tags = new KeyValuePair<string, object?>[2 + labels.Length];
                tags[0] = new("router", sample.Router);
                tags[1] = new("node", sample.Node);
                for (var i = 0; i < labels.Length; i++)
                {
                    tags[2 + i] = new(family.Labels[i], labels[i]);
                }

                if (!_byFamily.TryGetValue(family, out var list))
                {
                    _byFamily[family] = list = [];
                }

                list.Add(new Measurement<long>(value, tags));
            }
        }
    }

    public IReadOnlyList<Measurement<long>> Measurements(CounterFamily family) => _byFamily.TryGetValue(family, out var list) ? list : [];

    /// <summary>
    /// The family a counter belongs to. Suffixes are tried longest first, so <c>tenant.T.sessions.active</c> is never
    /// read as a family ending in <c>.active</c> of a tenant <c>T.sessions</c>.
    /// </summary>
    private static (CounterFamily?, string[]?) Family(string counter)
    {
        foreach (var family in BySuffixLength)
        {
            if (family.Match(counter) is { } labels)
            {
                return (family, labels);
            }
        }

        return (null, null);
    }

    private static readonly CounterFamily[] BySuffixLength = [.. CounterFamilies.All.OrderByDescending(f => f.Suffix.Length).ThenByDescending(f => f.Prefix.Length)];
}
