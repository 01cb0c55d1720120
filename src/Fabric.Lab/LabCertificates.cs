using Fabric.Actors.Cluster;

namespace Fabric.Lab;

/// <summary>
/// Mutual TLS for a lab's cluster: <c>lab up</c> creates a certificate authority of its own in the lab's state
/// directory and one node certificate per process that joins the cluster (the conductor and every router
/// node), and starts each process with <see cref="ClusterTls.CertificateKey"/> and
/// <see cref="ClusterTls.AuthorityKey"/> set, as an operator would with <c>fabric certs</c>. Every lab gets a
/// fresh authority, so a process of one lab can never join another's cluster. Private keys are mode 0600.
/// Thread-safe: stateless.
/// </summary>
public static class LabCertificates
{
    private static readonly TimeSpan Validity = TimeSpan.FromDays(30);

    /// <summary>The lab's certificate directory: the CA in <c>ca/</c>, the node certificates beside it.</summary>
    public static string DirectoryOf(LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(layout.StateDirectory, "certs");
    }

    /// <summary>Replaces the lab's certificates with a fresh authority and one certificate per member.</summary>
    public static void Provision(LabLayout layout, IEnumerable<string> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var directory = DirectoryOf(layout);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        var authority = AuthorityOf(layout);
        ClusterCertificates.CreateAuthority(authority, $"fabric lab {layout.Name} CA", Validity);
        foreach (var member in members)
        {
            ClusterCertificates.IssueNode(authority, member, directory, Validity);
        }
    }

    /// <summary>
    /// The <c>env</c> prefix that starts <paramref name="member"/>'s process with its certificate and the lab's
    /// authority (a command line for <see cref="LabProcesses.StartDetached"/>).
    /// </summary>
    public static IReadOnlyList<string> Environment(LabLayout layout, string member) =>
    [
        "env",
        $"{ClusterTls.CertificateKey}={Path.Combine(DirectoryOf(layout), member + ".pfx")}",
        $"{ClusterTls.AuthorityKey}={Path.Combine(AuthorityOf(layout), ClusterCertificates.AuthorityCertificateFile)}",
    ];

    /// <summary>The lab CA's certificate (PEM): what the CLI trusts the lab conductor's HTTPS certificate by.</summary>
    public static string AuthorityCertificateOf(LabLayout layout) => Path.Combine(AuthorityOf(layout), ClusterCertificates.AuthorityCertificateFile);

    /// <summary>The conductor API's HTTPS certificate (with its key, mode 0600).</summary>
    public static string ApiCertificateOf(LabLayout layout) => Path.Combine(DirectoryOf(layout), ApiMember + ".pfx");

    /// <summary>Issues the conductor API's HTTPS certificate from the lab's CA, naming the conductor's addresses.</summary>
    public static void IssueApi(LabLayout layout, IReadOnlyList<System.Net.IPAddress> addresses) =>
        ClusterCertificates.IssueNode(AuthorityOf(layout), ApiMember, DirectoryOf(layout), Validity, addresses);

    private const string ApiMember = "conductor-api";

    private static string AuthorityOf(LabLayout layout) => Path.Combine(DirectoryOf(layout), "ca");
}
