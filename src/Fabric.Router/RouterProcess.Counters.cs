using System.Buffers;
using System.Text;
using System.Text.Json;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;

namespace Fabric.Router;

/// <summary>
/// The counters the admin socket serves (<c>fabric router counters</c>, the lab's status): one JSON object, written field by field with a
/// <see cref="Utf8JsonWriter"/> (compact, the default escaping: <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c>, <c>'</c>,
/// <c>+</c> and non-ASCII as <c>\uXXXX</c>), snake_case names, in a fixed order. No serializer: a router loads none of
/// System.Text.Json's reflection machinery to answer (docs/benchmarks.md "Memory, 2026-12-06, JSON and regex").
/// </summary>
public sealed partial class RouterProcess
{
    /// <summary>The counters as the admin socket serves them.</summary>
    public string CountersJson()
    {
        // Every figure sums the workers (docs/dataplane.md "Workers").
        var workers = Engine.Workers;
        var counters = Engine.Counters();
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("node", Node);
            json.WriteString("router", RouterName);
            json.WriteNumber("version", Engine.AppliedVersion);
            WriteStrings(json, "devices", Devices());
            json.WriteNumber("workers", Workers);
            json.WriteNumber("workers_wanted", WorkersWanted);
            json.WriteNumber("received", Interlocked.Read(ref counters.Received));
            json.WriteNumber("forwarded", Interlocked.Read(ref counters.Forwarded));
            json.WriteNumber("dropped", Interlocked.Read(ref counters.Dropped));
            json.WriteNumber("generated", Interlocked.Read(ref counters.Generated));
            json.WriteNumber("super_packets", Interlocked.Read(ref counters.SuperPackets));
            json.WriteNumber("super_packets_cut", Interlocked.Read(ref counters.SuperPacketsCut));
            WriteNumbers(json, "kernel_drops", KernelDrops());
            json.WriteNumber("sessions", Engine.SessionCount);
            json.WriteNumber("handed_off", counters.HandedOff);
            json.WriteNumber("sessions_created", Interlocked.Read(ref counters.SessionsCreated));
            json.WriteNumber("sessions_moved", Interlocked.Read(ref counters.SessionsMoved));
            json.WriteNumber("sessions_revoked", Interlocked.Read(ref counters.SessionsRevoked));
            json.WriteNumber("redirects_sent", Interlocked.Read(ref counters.RedirectsSent));
            json.WriteNumber("redirects_without_packet", Interlocked.Read(ref counters.RedirectsWithoutPacket));
            json.WriteNumber("redirects_relayed", Interlocked.Read(ref counters.RedirectsRelayed));
            json.WriteNumber("redirects_followed", Interlocked.Read(ref counters.RedirectsFollowed));
            json.WriteNumber("redirected_packets_resent", Interlocked.Read(ref counters.RedirectedPacketsResent));
            json.WriteNumber("redirects_refused", Interlocked.Read(ref counters.RedirectsRefused));
            json.WriteNumber("sessions_made_local", Interlocked.Read(ref counters.SessionsMadeLocal));
            json.WriteNumber("sessions_made_remote", Interlocked.Read(ref counters.SessionsMadeRemote));
            json.WriteNumber("instance_pins_honoured", Interlocked.Read(ref counters.InstancePinsHonoured));
            json.WriteNumber("instance_pins_unmatched", Interlocked.Read(ref counters.InstancePinsUnmatched));
            json.WriteNumber("session_resets", Interlocked.Read(ref counters.SessionResets));
            WriteRevoked(json, Engine);
            json.WriteNumber("icmp_errors_sent", Interlocked.Read(ref counters.IcmpErrorsSent));
            json.WriteNumber("icmp_errors_suppressed", Interlocked.Read(ref counters.IcmpErrorsSuppressed));
            json.WriteNumber("metadata_announcements", Interlocked.Read(ref counters.MetadataAnnouncements));
            json.WriteNumber("metadata_acknowledgements", Interlocked.Read(ref counters.MetadataAcknowledgements));

            json.WriteStartObject("ha");
            json.WriteString("partner", Partner?.Name ?? "");
            json.WriteString("role", Partner is null ? "alone" : Engine.IsActive ? "active" : "standby");
            json.WriteNumber("takeovers", Interlocked.Read(ref counters.Takeovers));
            json.WriteNumber("announcements", Interlocked.Read(ref counters.Announcements));
            json.WriteNumber("standby_ignored", Interlocked.Read(ref counters.StandbyIgnored));
            json.WriteNumber("sessions_replicated_out", Interlocked.Read(ref counters.SessionsReplicatedOut));
            json.WriteNumber("sessions_replicated_in", Interlocked.Read(ref counters.SessionsReplicatedIn));
            json.WriteNumber("replicas_refused_version", Interlocked.Read(ref counters.ReplicasRefusedVersion));
            json.WriteNumber("replicas_refused_shape", Interlocked.Read(ref counters.ReplicasRefusedShape));
            json.WriteNumber("replicas_refused_table_full", Interlocked.Read(ref counters.ReplicasRefusedTableFull));
            WriteHeartbeats(json, _pairLink);
            json.WriteEndObject();

            json.WriteStartObject("control_plane");
            json.WriteNumber("configs_refused_unsigned", Refusals.UnsignedConfigs);
            json.WriteNumber("configs_refused_older", Refusals.OlderConfigs);
            json.WriteNumber("pair_messages_refused", Refusals.ForeignPairMessages);
            json.WriteNumber("entries_refused", Refusals.ForeignEntries);
            json.WriteEndObject();

            WritePeerPaths(json, Engine.Snapshot);
            WriteInstances(json, Engine.Snapshot);
            WriteTenantLimits(json, Engine.Snapshot);
            WriteTraffic(json, Fabric.Actors.Telemetry.EngineTelemetrySource.Traffic(Engine));

            json.WriteStartObject("drops");
            foreach (var reason in Enum.GetValues<DropReason>())
            {
                if (reason != DropReason.None)
                {
                    json.WriteNumber(reason.ToString(), Engine.DropTotal(reason));
                }
            }

            json.WriteEndObject();

            json.WriteStartObject("faults");
            json.WriteNumber("total", workers.Sum(w => w.Faults.Total));
            WriteNumbers(json, "by_stage", workers.SelectMany(w => w.Faults.ByStage()).GroupBy(s => s.Key).Select(g => KeyValuePair.Create(g.Key, g.Sum(s => s.Value))));
            json.WriteString("last", workers.Select(w => w.Faults.Last).LastOrDefault(f => f is not null) is { } fault ? $"{fault.Exception} in {fault.Stage}: {fault.Message}" : "");
            json.WriteEndObject();

            WriteStrings(json, "recent_drops", workers.SelectMany(w => w.Drops.Recent.Snapshot()).OrderBy(d => d.Time).TakeLast(8).Select(Describe));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static void WriteNumbers(Utf8JsonWriter json, string name, IEnumerable<KeyValuePair<string, long>> values)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in values)
        {
            json.WriteNumber(key, value);
        }

        json.WriteEndObject();
    }

    /// <summary><c>revoked</c>: sessions a committed configuration ended, per service and tenant of the running snapshot (those with any).</summary>
    private static void WriteRevoked(Utf8JsonWriter json, ForwardingEngine engine)
    {
        json.WriteStartObject("revoked");
        if (engine.AppliedVersion != 0)
        {
            var snapshot = engine.Snapshot;
            for (var s = 0; s < snapshot.Services.Length; s++)
            {
                var open = false;
                for (var t = 0; t < snapshot.Tenants.Length; t++)
                {
                    var count = engine.DropCount(DropReason.Revoked, t, s);
                    if (count > 0)
                    {
                        if (!open)
                        {
                            json.WriteStartObject(snapshot.Services[s].Name);
                            open = true;
                        }

                        json.WriteNumber(snapshot.Tenants[t], count);
                    }
                }

                if (open)
                {
                    json.WriteEndObject();
                }
            }
        }

        json.WriteEndObject();
    }

    /// <summary><c>heartbeats</c>: the heartbeat link's counters (docs/high-availability.md); empty for a node alone.</summary>
    private static void WriteHeartbeats(Utf8JsonWriter json, Fabric.Actors.HighAvailability.PairLink? link)
    {
        json.WriteStartObject("heartbeats");
        if (link is not null)
        {
            var c = link.Counters;
            json.WriteNumber("sent", c.Sent);
            json.WriteNumber("heard", c.Heard);
            json.WriteNumber("refused_forged", c.RefusedForged);
            json.WriteNumber("refused_stale", c.RefusedStale);
            json.WriteNumber("unbound", c.Unbound);
            json.WriteNumber("send_errors", c.SendErrors);
            json.WriteNumber("late", c.Late);
            json.WriteNumber("longest_gap_ms", (long)c.LongestGap.TotalMilliseconds);
        }

        json.WriteEndObject();
    }

    /// <summary>
    /// <c>tenant_limits</c>: each limited tenant bucket: the configured (fabric-wide) limit, the rate in force (this node's
    /// share of it while the budget exchange runs) and the bytes offered and refused since the bucket was made.
    /// </summary>
    private static void WriteTenantLimits(Utf8JsonWriter json, ForwardingSnapshot snapshot)
    {
        json.WriteStartArray("tenant_limits");
        foreach (var b in snapshot.LimitedTenantBuckets())
        {
            json.WriteStartObject();
            json.WriteString("service", b.Service);
            json.WriteString("tenant", b.Tenant);
            json.WriteNumber("configured_bytes_per_second", b.Bucket.ConfiguredBytesPerSecond);
            json.WriteNumber("share_bytes_per_second", b.Bucket.BytesPerSecond);
            json.WriteNumber("offered_bytes", b.Bucket.OfferedBytes);
            json.WriteNumber("refused_bytes", b.Bucket.RefusedBytes);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary><c>peer_paths</c>: each peer path's monitoring figures (read while the worker writes them: telemetry, not a snapshot).</summary>
    private static void WritePeerPaths(Utf8JsonWriter json, ForwardingSnapshot snapshot)
    {
        json.WriteStartArray("peer_paths");
        foreach (var p in snapshot.PeerPaths)
        {
            json.WriteStartObject();
            json.WriteString("peer", p.PeerRouter);
            json.WriteString("neighborhood", p.Neighborhood);
            json.WriteString("family", p.Family);
            json.WriteString("local", p.LocalIPAddress.ToString());
            json.WriteString("remote", p.PeerIPAddress.ToString());
            json.WriteString("state", p.Health.State.ToString().ToLowerInvariant());
            json.WriteNumber("downs", p.Health.Downs);
            json.WriteNumber("probes_sent", p.Health.ProbesSent);
            json.WriteNumber("probes_received", p.Health.ProbesReceived);
            json.WriteNumber("latency_us", p.Health.LatencyMicroseconds);
            json.WriteNumber("jitter_us", p.Health.JitterMicroseconds);
            json.WriteNumber("loss_basis_points", p.Health.LossBasisPoints);
            json.WriteNumber("quality_breaks", p.Health.QualityBreaks);
            json.WriteNumber("sessions", p.Waypoints.InUse);
            json.WriteNumber("sessions_opened", p.Health.SessionsOpened);
            json.WriteNumber("sessions_moved_in", p.Health.SessionsMovedIn);
            json.WriteNumber("sessions_moved_out", p.Health.SessionsMovedOut);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>
    /// <c>instances</c>: each instance behind this router, per service: its health ("up", "down", or "unchecked" when the
    /// policy checks nothing) and its health check's figures (read while the workers write them: telemetry, not a snapshot).
    /// </summary>
    private static void WriteInstances(Utf8JsonWriter json, ForwardingSnapshot snapshot)
    {
        json.WriteStartArray("instances");
        foreach (var entry in snapshot.Services)
        {
            var checks = entry.Runtime.HealthChecks;
            for (var i = 0; i < entry.Instances.Length; i++)
            {
                var check = checks is not null && i < checks.Length ? checks[i] : null;
                json.WriteStartObject();
                json.WriteString("service", entry.Name);
                json.WriteString("instance", entry.Instances[i].Name);
                json.WriteString("state", check is null ? "unchecked" : entry.Runtime.Load.Health(i).IsUp ? "up" : "down");
                json.WriteNumber("sessions", entry.Runtime.Load.LocalSessions(i));
                json.WriteNumber("probes_sent", check?.ProbesSent ?? 0);
                json.WriteNumber("probes_succeeded", check?.Successes ?? 0);
                json.WriteNumber("probes_failed", check?.Failures ?? 0);
                json.WriteString("last_failure", check?.LastFailure is { } failure and not Dataplane.LoadBalancing.ProbeFailure.None ? failure.ToString().ToLowerInvariant() : "");
                json.WriteNumber("downs", check?.Downs ?? 0);
                json.WriteEndObject();
            }
        }

        json.WriteEndArray();
    }

    /// <summary><c>traffic</c>: forwarded traffic per tenant and per service.</summary>
    private static void WriteTraffic(Utf8JsonWriter json, Fabric.Actors.Telemetry.TrafficByName traffic)
    {
        json.WriteStartObject("traffic");
        WriteTotals(json, "tenants", traffic.Tenants);
        WriteTotals(json, "services", traffic.Services);
        json.WriteEndObject();

        static void WriteTotals(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, Fabric.Actors.Telemetry.TrafficTotals> byName)
        {
            json.WriteStartObject(name);
            foreach (var (key, totals) in byName)
            {
                json.WriteStartObject(key);
                json.WriteNumber("packets", totals.Packets);
                json.WriteNumber("bytes", totals.Bytes);
                json.WriteNumber("sessions_opened", totals.SessionsOpened);
                json.WriteNumber("sessions_active", totals.ActiveSessions);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }
    }

    /// <summary>Frames each device's socket lost in the kernel (receive buffer full) since the router started.</summary>
    private IEnumerable<KeyValuePair<string, long>> KernelDrops()
    {
        lock (_ports)
        {
            return [.. _ports.GroupBy(p => p.Name).Select(g => KeyValuePair.Create(g.Key, g.Sum(p => p.ReadKernelDrops())))];
        }
    }
}
