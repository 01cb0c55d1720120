using System.Globalization;
using Akka.Configuration;
using Fabric.Config.Canonical;
using Microsoft.Extensions.Configuration;

namespace Fabric.Actors.Cluster;

/// <summary>
/// Where one node of the fabric's Akka cluster listens and whom it joins. Every node, router or
/// conductor, is an actor system named <see cref="SystemName"/> on the management network.
/// Immutable; thread-safe.
/// </summary>
/// <param name="Hostname">The address the node binds and is reached at (a management address).</param>
/// <param name="Port">The cluster port; 0 picks a free one (tests).</param>
/// <param name="Seeds">Cluster addresses of the seed nodes (the conductor first), such as <c>akka.tcp://fabric@10.99.0.2:4053</c>.</param>
/// <param name="Tls">Mutual TLS for the node's remoting; none: taken from the host configuration (<see cref="ClusterTls.FromConfiguration"/>).</param>
/// <param name="Insecure">
/// Run in plain TCP when no TLS is given (the <c>--insecure</c> of <c>fabric router</c> and <c>fabric conductor</c>):
/// anyone who reaches the cluster port may then join the cluster. Without it a node without TLS refuses to start.
/// </param>
public sealed record ClusterNodeSettings(string Hostname, int Port, IReadOnlyList<string> Seeds, ClusterTls? Tls = null, bool Insecure = false)
{
    public const string SystemName = "fabric";

    public const int DefaultPort = 4053;

    /// <summary>The section of the host configuration (environment, command line) holding Akka overrides: <c>akka__cluster__seed-nodes__0</c>.</summary>
    public const string AkkaSection = "akka";

    /// <summary>The scheme of cluster addresses over plain TCP.</summary>
    public const string TcpScheme = "akka.tcp://";

    /// <summary>The scheme of cluster addresses over TLS (Akka's DotNetty transport names it so).</summary>
    public const string TlsScheme = "akka.ssl.tcp://";

    /// <summary>The cluster address of a node listening on <paramref name="hostname"/>:<paramref name="port"/>.</summary>
    public static string AddressOf(string hostname, int port) => $"{TcpScheme}{SystemName}@{hostname}:{port}";

    /// <summary>
    /// <see cref="Seeds"/> as this node reaches them: with <see cref="Tls"/>, an <c>akka.tcp://</c> seed
    /// means the same node over TLS (<c>akka.ssl.tcp://</c>), so turning TLS on changes no seed list.
    /// </summary>
    public IReadOnlyList<string> SeedsFor(ClusterTls? tls) => tls is null
        ? Seeds
        : [.. Seeds.Select(s => s.StartsWith(TcpScheme, StringComparison.Ordinal) ? TlsScheme + s[TcpScheme.Length..] : s)];

    /// <summary>
    /// These settings with <see cref="Tls"/> from the host configuration when not given; throws
    /// <see cref="ClusterTlsException"/> with one sentence when there is none and the node is not <see cref="Insecure"/>,
    /// or when the configured files cannot be used.
    /// </summary>
    public ClusterNodeSettings Resolve(IConfiguration? hostConfiguration)
    {
        var tls = Tls ?? ClusterTls.FromConfiguration(hostConfiguration);
        if (tls is null && !Insecure)
        {
            throw new ClusterTlsException(
                $"cluster TLS is off: a node joins the cluster only with a certificate of the fabric's CA ({ClusterTls.CertificateKey} and " +
                $"{ClusterTls.AuthorityKey}, written by fabric certs), or when started with --insecure (plain TCP: anyone who reaches the cluster port may join)");
        }

        return this with { Tls = tls };
    }

    /// <summary>
    /// The Akka section of a host configuration as Akka settings, if it has one (environment variables <c>akka__...</c>),
    /// read as Akka.Hosting's adapter read them: each key lower-cased with <c>_</c> read as <c>-</c> and a dot in it
    /// splitting it, a section whose keys are all integers a list in their order (<c>akka__cluster__seed-nodes__0</c>),
    /// else an object when it has no value of its own, every value a string (<c>True</c> and <c>False</c> as <c>on</c> and
    /// <c>off</c>, as the configuration binder writes them). Keys and values are quoted: an environment's text reaches
    /// Akka's parser only as quoted strings, never as HOCON.
    /// </summary>
    public static Akka.Configuration.Config? AkkaOverrides(IConfiguration? configuration) =>
        configuration?.GetSection(AkkaSection) is { } section && section.Exists()
            ? ConfigurationFactory.ParseString($"{OverrideKey(section.Key)} = {OverrideValue(section)}")
            : null;

    private static string OverrideValue(IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count > 0 && children.TrueForAll(c => int.TryParse(c.Key, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)))
        {
            return $"[{string.Join(", ", children.OrderBy(c => int.Parse(c.Key, NumberStyles.Integer, CultureInfo.InvariantCulture)).Select(OverrideValue))}]";
        }

        return children.Count > 0 && section.Value is null
            ? $"{{\n{string.Join("\n", children.Select(c => $"{OverrideKey(c.Key)} = {OverrideValue(c)}"))}\n}}"
            : HoconWriter.Quote(section.Value switch { "True" => "on", "False" => "off", var value => value ?? "" });
    }

    private static string OverrideKey(string key) =>
        string.Join('.', key.ToLowerInvariant().Replace('_', '-').Split('.').Select(HoconWriter.Quote));
}
