using System.Diagnostics;
using System.Text.Json;

namespace Fabric.Tests.Support;

/// <summary>
/// Parses Prometheus text exposition with the Prometheus client library's own parser (Debian's python3-prometheus-client for Debian's /usr/bin/python3,
/// which scripts/test.sh installs), so a test checks the format with a reader it did not write.
/// </summary>
public static class PrometheusText
{
    private const string Parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = []
        for family in text_string_to_metric_families(sys.stdin.read()):
            for s in family.samples:
                out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
        print(json.dumps(out))
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>One sample as the parser read it: its family's name and type, its own name, labels and value.</summary>
    public sealed record Sample(string Family, string Type, string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>Every sample of <paramref name="text"/>; fails the test when the parser refuses it.</summary>
    public static IReadOnlyList<Sample> Parse(string text)
    {
        var info = new ProcessStartInfo("/usr/bin/python3", ["-c", Parser]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        process.StandardInput.Write(text);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"the Prometheus parser refused the text: {error}\n{text}");
        return JsonSerializer.Deserialize<List<Sample>>(output, Json)!;
    }

    /// <summary>The value of sample <paramref name="name"/> with these labels (among others), or null.</summary>
    public static double? Value(IReadOnlyList<Sample> samples, string name, params (string Label, string Value)[] labels) =>
        samples.FirstOrDefault(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Label, out var v) && v == l.Value))?.Value;
}
