using System.Diagnostics.Metrics;
using Fabric.Actors.Telemetry;

namespace Fabric.Http.Metrics;

/// <summary>
/// The fabric's counters as <see cref="System.Diagnostics.Metrics"/> observable instruments, named so that the
/// Prometheus rendering (<see cref="PrometheusExposition"/>) writes them by Prometheus conventions (<c>fabric_packets_forwarded_total</c>,
/// <c>fabric_drops_total{reason}</c>, <c>fabric_sessions_active</c>, <c>fabric_peer_path_rtt_seconds</c>, ...).
/// Every instrument reads the router nodes' counter samples (<see cref="CounterSample"/>, the one typed snapshot
/// the telemetry already ships): a router renders its own live sample, the conductor every node's latest. Nothing
/// is counted here and nothing touches the packet path: a scrape reads the samples once (see
/// <see cref="SampleCache"/>) and each instrument picks its family. Labels are bounded by the configuration:
/// <c>router</c>, <c>node</c>, <c>reason</c> (the drop reasons), <c>tenant</c>, <c>service</c>, <c>peer</c>,
/// <c>neighborhood</c>. Each instance owns its <see cref="Meter"/>, so several hosts in one process never mix
/// their instruments, and renders them itself (<see cref="Scrape"/>, the one Prometheus rendering of every node). Thread-safe.
/// </summary>
public sealed class FabricMetrics : IDisposable
{
    /// <summary>The meter's name (every instance's; instances are told apart by object, not name).</summary>
    public const string MeterName = "Fabric";

    private readonly SampleCache _samples;
    private readonly PrometheusExposition _exposition;

    /// <param name="samples">The samples to render, read at most once per scrape.</param>
    /// <param name="time">The clock that says when a reading is stale (default: the system's).</param>
    public FabricMetrics(Func<IReadOnlyCollection<CounterSample>> samples, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        _samples = new SampleCache(samples, time);
        Meter = new Meter(MeterName);
        foreach (var family in CounterFamilies.All)
        {
            Register(family);
        }

        _exposition = new PrometheusExposition(Meter);
    }

    /// <summary>One scrape of every observable instrument on <see cref="Meter"/> (added later ones too) in the Prometheus text format (<see cref="PrometheusExposition.ContentType"/>).</summary>
    public byte[] Scrape() => _exposition.Scrape();

    /// <summary>
    /// The meter every instrument of this instance lives on; a host may add observable counters and observable gauges of its
    /// own to it (the only kinds <see cref="PrometheusExposition"/> writes: another kind is not scraped).
    /// </summary>
    public Meter Meter { get; }

    private void Register(CounterFamily family)
    {
        IEnumerable<Measurement<long>> Longs() => _samples.Read().Measurements(family);
        IEnumerable<Measurement<double>> Doubles() => _samples.Read().Measurements(family).Select(m => new Measurement<double>(m.Value * family.Scale, m.Tags));
        _ = family.Kind switch
        {
            InstrumentKind.Counter => (Instrument)Meter.CreateObservableCounter(family.Instrument, Longs, family.Unit, family.Description),
            InstrumentKind.Gauge when family.Scale == 1 => Meter.CreateObservableGauge(family.Instrument, Longs, family.Unit, family.Description),
            _ => Meter.CreateObservableGauge(family.Instrument, Doubles, family.Unit, family.Description),
        };
    }

    public void Dispose()
    {
        _exposition.Dispose();
        Meter.Dispose();
    }

    /// <summary>
    /// The samples of one scrape: a scrape calls every instrument's callback in turn during one collection, so
    /// the samples are read once and kept for a second, then read again. Thread-safe.
    /// </summary>
    private sealed class SampleCache(Func<IReadOnlyCollection<CounterSample>> read, TimeProvider time)
    {
        private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);
        private readonly Lock _gate = new();
        private MeasuredSamples? _current;
        private long _readAt;

        public MeasuredSamples Read()
        {
            lock (_gate)
            {
                if (_current is null || time.GetElapsedTime(_readAt) > Fresh)
                {
                    _current = new MeasuredSamples(read());
                    _readAt = time.GetTimestamp();
                }

                return _current;
            }
        }
    }
}
