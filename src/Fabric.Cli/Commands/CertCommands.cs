using System.CommandLine;
using Fabric.Actors.Cluster;

namespace Fabric.Cli.Commands;

/// <summary><c>fabric certs</c>: the fabric's own CA and node certificates for mutual TLS between cluster nodes.</summary>
public static class CertCommands
{
    private static readonly TimeSpan AuthorityValidity = TimeSpan.FromDays(3650);

    private static readonly TimeSpan NodeValidity = TimeSpan.FromDays(825);

    public static Command Create()
    {
        var certs = new Command(
            "certs",
            $"Create the fabric's certificate authority and node certificates for mutual TLS on cluster traffic; a node uses them when {ClusterTls.CertificateKey} (its .pfx) and {ClusterTls.AuthorityKey} (ca.crt) are set.");
        certs.Subcommands.Add(Authority());
        certs.Subcommands.Add(Node());
        return certs;
    }

    private static Command Authority()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "The CA directory: ca.crt (public) and ca.key (mode 0600).", Required = true };
        var name = new Option<string>("--name") { Description = "The CA's common name.", DefaultValueFactory = _ => "fabric cluster CA" };
        var command = new Command("ca", "Create a certificate authority (ECDSA P-256, valid 10 years) for one fabric.") { output, name };
        command.SetAction(parse => Run(parse, "fabric certs ca", () =>
        {
            var path = ClusterCertificates.CreateAuthority(parse.GetValue(output)!.FullName, parse.GetValue(name)!, AuthorityValidity);
            return $"CA certificate {path}; its key {ClusterCertificates.AuthorityKeyFile} beside it (mode 0600) signs node certificates and stays off the nodes";
        }));
        return command;
    }

    private static Command Node()
    {
        var node = new Argument<string>("NAME") { Description = "The node's name (the certificate's subject and DNS name)." };
        var authority = new Option<DirectoryInfo>("--ca") { Description = "The CA directory written by `fabric certs ca`.", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "Where to write NAME.pfx (certificate and key, mode 0600) and NAME.crt.", Required = true };
        var addresses = new Option<System.Net.IPAddress[]>("--address")
        {
            Description = "An IP address the certificate also names, for an HTTPS endpoint reached by address (the conductor's API: FABRIC_API_CERTIFICATE).",
            AllowMultipleArgumentsPerToken = true,
            CustomParser = result => [.. result.Tokens.Select(t => System.Net.IPAddress.TryParse(t.Value, out var a) ? a : ParseError(result, t.Value))],
        };
        var command = new Command("node", "Issue a node certificate (valid 825 days, for both TLS client and server) signed by the CA.") { node, authority, output, addresses };
        command.SetAction(parse => Run(parse, "fabric certs node", () =>
        {
            var path = ClusterCertificates.IssueNode(parse.GetValue(authority)!.FullName, parse.GetValue(node)!, parse.GetValue(output)!.FullName, NodeValidity, parse.GetValue(addresses));
            return $"node certificate and key {path} (mode 0600); run the node with {ClusterTls.CertificateKey}={path} {ClusterTls.AuthorityKey}=<CA dir>/{ClusterCertificates.AuthorityCertificateFile}";
        }));
        return command;
    }

    private static System.Net.IPAddress ParseError(System.CommandLine.Parsing.ArgumentResult result, string value)
    {
        result.AddError($"--address {value} is not an IP address");
        return System.Net.IPAddress.None;
    }

    private static int Run(ParseResult parse, string verb, Func<string> action)
    {
        try
        {
            parse.InvocationConfiguration.Output.WriteLine(action());
            return 0;
        }
        catch (Exception e) when (e is ClusterTlsException or IOException or UnauthorizedAccessException)
        {
            parse.InvocationConfiguration.Error.WriteLine($"{verb}: {e.Message}");
            return 1;
        }
    }
}
