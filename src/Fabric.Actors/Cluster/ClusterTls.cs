using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace Fabric.Actors.Cluster;

/// <summary>A cluster TLS setting that cannot be used, with one sentence saying why.</summary>
public sealed class ClusterTlsException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Mutual TLS for the cluster's Akka remoting: this node's certificate (with its private key) and the
/// fabric's certificate authority. Every connection, in either direction, presents the node's
/// certificate and accepts the peer only if the peer's certificate chains to <see cref="Authority"/>
/// (and to no other root: the system's trust store plays no part). Host names are not checked: the
/// authority is the fabric's own, and every certificate it signed is a fabric node. Immutable; the
/// peer check is thread-safe.
/// </summary>
public sealed class ClusterTls
{
    /// <summary>Host configuration (environment) key of the node's PKCS#12 file: certificate and private key.</summary>
    public const string CertificateKey = "FABRIC_CLUSTER_CERTIFICATE";

    /// <summary>Host configuration key of that file's password; absent: the file has none.</summary>
    public const string PasswordKey = "FABRIC_CLUSTER_CERTIFICATE_PASSWORD";

    /// <summary>Host configuration key of the fabric CA's certificate (PEM).</summary>
    public const string AuthorityKey = "FABRIC_CLUSTER_CA";

    public ClusterTls(X509Certificate2 nodeCertificate, X509Certificate2 authority)
    {
        ArgumentNullException.ThrowIfNull(nodeCertificate);
        ArgumentNullException.ThrowIfNull(authority);
        if (!nodeCertificate.HasPrivateKey)
        {
            throw new ClusterTlsException($"the node certificate {nodeCertificate.Subject} has no private key; use the .pfx that `fabric certs node` wrote");
        }

        NodeCertificate = nodeCertificate;
        Authority = authority;
        if (!IsIssuedByAuthority(nodeCertificate))
        {
            throw new ClusterTlsException($"the node certificate {nodeCertificate.Subject} is not signed by the cluster CA {authority.Subject} (or has expired)");
        }
    }

    public X509Certificate2 NodeCertificate { get; }

    public X509Certificate2 Authority { get; }

    /// <summary>
    /// Reads the node's PKCS#12 file and the CA certificate. Throws <see cref="ClusterTlsException"/>
    /// naming the file when one is missing, unreadable, or the certificate is not the CA's.
    /// </summary>
    public static ClusterTls Load(string certificatePath, string? password, string authorityPath)
    {
        X509Certificate2 node;
        try
        {
            node = X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ClusterTlsException($"cannot read the node certificate {certificatePath}: {e.Message}", e);
        }

        X509Certificate2 authority;
        try
        {
            authority = X509Certificate2.CreateFromPem(File.ReadAllText(authorityPath));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ClusterTlsException($"cannot read the cluster CA certificate {authorityPath}: {e.Message}", e);
        }

        return new ClusterTls(node, authority);
    }

    /// <summary>
    /// The TLS settings in a host configuration (the environment of <c>fabric router run</c> and
    /// <c>fabric conductor run</c>): none when <see cref="CertificateKey"/> and <see cref="AuthorityKey"/>
    /// are both absent; a <see cref="ClusterTlsException"/> when only one is set.
    /// </summary>
    public static ClusterTls? FromConfiguration(IConfiguration? configuration)
    {
        var certificate = configuration?[CertificateKey];
        var authority = configuration?[AuthorityKey];
        if (string.IsNullOrEmpty(certificate) && string.IsNullOrEmpty(authority))
        {
            return null;
        }

        if (string.IsNullOrEmpty(certificate) || string.IsNullOrEmpty(authority))
        {
            throw new ClusterTlsException($"cluster TLS needs both {CertificateKey} (the node's .pfx) and {AuthorityKey} (the fabric CA's certificate); only one is set");
        }

        return Load(certificate, configuration?[PasswordKey], authority);
    }

    /// <summary>Whether <paramref name="peer"/> chains to <see cref="Authority"/> as its only trusted root, and is valid now.</summary>
    public bool IsIssuedByAuthority(X509Certificate2? peer)
    {
        if (peer is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // the fabric CA publishes no revocation list
        chain.ChainPolicy.DisableCertificateDownloads = true;
        return chain.Build(peer)
            && chain.ChainElements.Count >= 2
            && chain.ChainElements[^1].Certificate.RawDataMemory.Span.SequenceEqual(Authority.RawDataMemory.Span);
    }
}
