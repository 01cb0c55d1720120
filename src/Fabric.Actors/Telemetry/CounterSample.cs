using Fabric.Actors.Security;
using Fabric.Actors.Serialization;

namespace Fabric.Actors.Telemetry;

/// <summary>
/// One router node's counters at one moment, as it ships them to the conductor. Counters are cumulative
/// since the node started (packets, drops) or gauges (sessions now); names are flat and dotted:
/// <c>received</c>, <c>drop.AccessDenied</c>, <c>tenant.guest.drops</c>, <c>service.web.sessions</c>,
/// <c>path.dc1/wan/ipv4.sessions</c> (see <see cref="EngineTelemetrySource"/>).
/// </summary>
[WireMessage("fabric.telemetry.sample.v1")]
public sealed record CounterSample(string Node, string Router, long UnixMilliseconds, IReadOnlyDictionary<string, long> Counters)
{
    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeMilliseconds(UnixMilliseconds);
}

/// <summary>
/// A sample as its node publishes it: with the node's seal (<see cref="NodeSigner"/>), null when the cluster runs
/// without TLS. The conductor keeps a sample only when the seal is the named node's: any member can publish a report.
/// </summary>
[WireMessage("fabric.telemetry.report.v1")]
public sealed record TelemetryReport(CounterSample Sample, NodeSeal? Seal)
{
    /// <summary>What the node signs: node, router, time and every counter, by name in ordinal order.</summary>
    public static NodeStatement Statement(CounterSample sample)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var statement = new NodeStatement("fabric.telemetry.sample.v1").Add(sample.Node).Add(sample.Router).Add(sample.UnixMilliseconds).Add(sample.Counters.Count);
        foreach (var (name, value) in sample.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            statement.Add(name).Add(value);
        }

        return statement;
    }
}

/// <summary>
/// How telemetry travels: each router node publishes its sealed sample on a Distributed Pub-Sub topic that conductor
/// nodes subscribe to, one message per sample from the node to each subscriber. Not Distributed Data: a replicated
/// key of every node's latest sample would be gossiped and re-serialized by every member at each change of any
/// entry, the largest part of an idle fabric's control-plane work. A sample lost on the way is a missing point,
/// never a wrong total (the counters are cumulative).
/// </summary>
public static class TelemetryDistribution
{
    /// <summary>The Distributed Pub-Sub topic of <see cref="TelemetryReport"/>s: conductor nodes subscribe.</summary>
    public const string Topic = "fabric-telemetry";

    /// <summary>How often a router node samples its counters unless told otherwise.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(5);
}

/// <summary>Where a router node's counters come from; sampled on the sampler's thread, so it must read counters that workers write safely.</summary>
public interface ITelemetrySource
{
    /// <summary>Every counter now, by name.</summary>
    IReadOnlyDictionary<string, long> Sample();
}
