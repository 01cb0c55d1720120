using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Fabric.Http.Metrics;

/// <summary>
/// The observable instruments of one <see cref="Meter"/> in the Prometheus text exposition format 0.0.4, written as the
/// OpenTelemetry Prometheus exporter wrote them before (docs/operations.md "Metrics"; a test holds the two equal):
/// dots become underscores, the UCUM unit a suffix (<c>By</c> <c>_bytes</c>, <c>s</c> <c>_seconds</c>, <c>By/s</c>
/// <c>_bytes_per_second</c>, an annotation in braces nothing), counters end in <c>_total</c>; families in name order,
/// each with <c># TYPE</c> and <c># HELP</c> before its samples, labels in key order (<c>{}</c> for none), no timestamps
/// (the scraper stamps the scrape). Each scrape reads every instrument anew (<see cref="MeterListener.RecordObservableInstruments"/>):
/// a series that is no longer measured is no longer written; an instrument whose callback throws is left out of that scrape
/// and the rest is written. Only observable counters and observable gauges are written: other kinds (up-down counters,
/// histograms, synchronous instruments) are not.
/// Thread-safe: scrapes are serialized.
/// </summary>
public sealed class PrometheusExposition : IDisposable
{
    /// <summary>What a scrape's answer is: the Prometheus text format, the one every Prometheus-compatible scraper reads.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener;
    private readonly Lock _scrape = new();
    private readonly List<Family> _families = [];

    /// <param name="meter">The meter whose instruments are rendered (instruments created on it later are included).</param>
    public PrometheusExposition(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter != meter || !instrument.IsObservable || Family.Create(instrument) is not { } family)
                {
                    return;
                }

                lock (_families)
                {
                    _families.Add(family);
                }

                listener.EnableMeasurementEvents(instrument, family);
            },
            MeasurementsCompleted = (_, state) =>
            {
                lock (_families)
                {
                    _families.Remove((Family)state!);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Family)state!).Observe(Format(value), tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((Family)state!).Observe(Format(value), tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Family)state!).Observe(Format(value), tags));
        _listener.Start();
    }

    /// <summary>One scrape: every instrument read now, as UTF-8 text.</summary>
    public byte[] Scrape()
    {
        lock (_scrape)
        {
            Family[] families;
            lock (_families)
            {
                families = [.. _families];
            }

            Array.Sort(families, (a, b) => string.CompareOrdinal(a.Name, b.Name));

            foreach (var family in families)
            {
                family.Clear();
            }

            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException)
            {
                // An instrument whose callback threw has no samples this scrape; every other instrument was read (the
                // listener goes through all of them before it throws), and is written, as the OpenTelemetry SDK did.
            }

            var text = new StringBuilder();
            foreach (var family in families)
            {
                family.Write(text);
            }

            return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    public void Dispose() => _listener.Dispose();

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Format(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>The Prometheus name of an instrument: sanitized, with its unit's suffix and, for a counter, <c>_total</c>.</summary>
    internal static string MetricName(string instrument, string? unit, bool counter)
    {
        var name = Sanitize(instrument, allowColon: true);
        if (counter && name.EndsWith("_total", StringComparison.Ordinal))
        {
            name = name[..^"_total".Length];
        }

        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !name.EndsWith("_" + suffix, StringComparison.Ordinal))
        {
            name += "_" + suffix;
        }

        return counter ? name + "_total" : name;
    }

    /// <summary>The name suffix of a UCUM unit, as the OpenTelemetry specification maps it (the units the fabric uses and their kin).</summary>
    private static string UnitSuffix(string? unit)
    {
        if (string.IsNullOrEmpty(unit) || unit == "1" || (unit.StartsWith('{') && unit.EndsWith('}')))
        {
            return "";
        }

        var slash = unit.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? Sanitize(UnitWord(unit), allowColon: false) : Sanitize($"{UnitWord(unit[..slash])}_per_{PerWord(unit[(slash + 1)..])}", allowColon: false);
    }

    private static string UnitWord(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "bit" => "bits",
        "%" => "percent",
        "Hz" => "hertz",
        _ => unit,
    };

    private static string PerWord(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        _ => UnitWord(unit),
    };

    /// <summary>Every character outside <c>[a-zA-Z0-9_]</c> (and <c>:</c> in metric names) becomes one underscore; a leading digit gets one before it.</summary>
    private static string Sanitize(string name, bool allowColon)
    {
        var text = new StringBuilder(name.Length + 1);
        foreach (var c in name)
        {
            var valid = char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':');
            if (!valid && text.Length > 0 && text[^1] == '_')
            {
                continue;
            }

            text.Append(valid ? c : '_');
        }

        if (text.Length > 0 && char.IsAsciiDigit(text[0]))
        {
            text.Insert(0, '_');
        }

        return text.ToString();
    }

    private static void AppendEscaped(StringBuilder text, string value, bool quote)
    {
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append(@"\\"),
                '\n' => text.Append(@"\n"),
                '"' when quote => text.Append("\\\""),
                _ => text.Append(c),
            };
        }
    }

    /// <summary>One instrument's family and the samples of the scrape in progress. Used under the scrape's lock only.</summary>
    private sealed class Family
    {
        private readonly string _type;
        private readonly string? _help;
        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
        private readonly List<(string Labels, string Value)> _samples = [];

        private Family(string name, string type, string? help)
        {
            Name = name;
            _type = type;
            _help = help;
        }

        public string Name { get; }

        public static Family? Create(Instrument instrument)
        {
            var type = instrument.GetType().GetGenericTypeDefinition();
            var counter = type == typeof(ObservableCounter<>);
            if (!counter && type != typeof(ObservableGauge<>))
            {
                return null;
            }

            return new Family(MetricName(instrument.Name, instrument.Unit, counter), counter ? "counter" : "gauge", instrument.Description);
        }

        public void Clear()
        {
            _index.Clear();
            _samples.Clear();
        }

        /// <summary>A measurement of this scrape; a second one with the same labels replaces the first.</summary>
        public void Observe(string value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            if (_index.TryGetValue(labels, out var at))
            {
                _samples[at] = (labels, value);
                return;
            }

            _index[labels] = _samples.Count;
            _samples.Add((labels, value));
        }

        public void Write(StringBuilder text)
        {
            if (_samples.Count == 0)
            {
                return;
            }

            text.Append("# TYPE ").Append(Name).Append(' ').Append(_type).Append('\n');
            if (!string.IsNullOrEmpty(_help))
            {
                text.Append("# HELP ").Append(Name).Append(' ');
                AppendEscaped(text, _help, quote: false);
                text.Append('\n');
            }

            foreach (var (labels, value) in _samples)
            {
                text.Append(Name).Append(labels).Append(' ').Append(value).Append('\n');
            }
        }

        /// <summary><c>{a="x",b="y"}</c> in key order; <c>{}</c> for none.</summary>
        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var sorted = tags.ToArray();
            Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
            var text = new StringBuilder("{");
            for (var i = 0; i < sorted.Length; i++)
            {
                text.Append(i == 0 ? "" : ",").Append(Sanitize(sorted[i].Key, allowColon: false)).Append("=\"");
                AppendEscaped(text, Convert.ToString(sorted[i].Value, CultureInfo.InvariantCulture) ?? "", quote: true);
                text.Append('"');
            }

            return text.Append('}').ToString();
        }
    }
}
