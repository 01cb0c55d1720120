using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Fabric.Actors.Cluster;

/// <summary>
/// The fabric's own certificate authority for cluster TLS (<c>fabric certs</c>): a CA directory holds
/// <c>ca.crt</c> (PEM, public) and <c>ca.key</c> (PKCS#8 PEM, mode 0600); a node's directory holds
/// <c>NAME.pfx</c> (certificate and private key, no password, mode 0600) and <c>NAME.crt</c>. Keys are
/// ECDSA P-256. Node certificates are valid for both ends of a TLS connection (server and client
/// authentication), since every cluster node is both.
/// </summary>
public static class ClusterCertificates
{
    public const string AuthorityCertificateFile = "ca.crt";

    public const string AuthorityKeyFile = "ca.key";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    /// <summary>Creates a CA valid for <paramref name="validity"/> in <paramref name="directory"/>; refuses to replace an existing one.</summary>
    /// <returns>The path of <c>ca.crt</c>.</returns>
    public static string CreateAuthority(string directory, string name, TimeSpan validity)
    {
        var certificatePath = Path.Combine(directory, AuthorityCertificateFile);
        var keyPath = Path.Combine(directory, AuthorityKeyFile);
        RefuseExisting(certificatePath);
        RefuseExisting(keyPath);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(name)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now + validity);
        Directory.CreateDirectory(directory);
        WritePrivate(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()));
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        return certificatePath;
    }

    /// <summary>Issues a certificate for node <paramref name="node"/> signed by the CA in <paramref name="authorityDirectory"/>.</summary>
    /// <param name="addresses">IP addresses the certificate also names (for an HTTPS endpoint reached by address, such as the conductor's API).</param>
    /// <returns>The path of <c>NAME.pfx</c>.</returns>
    public static string IssueNode(string authorityDirectory, string node, string outputDirectory, TimeSpan validity, IReadOnlyList<System.Net.IPAddress>? addresses = null)
    {
        if (string.IsNullOrWhiteSpace(node) || node.IndexOfAny(['/', '\\', '\0']) >= 0 || node is "." or "..")
        {
            throw new ClusterTlsException($"'{node}' is not a node name (letters, digits, '-', '.', no '/')");
        }

        var pfxPath = Path.Combine(outputDirectory, node + ".pfx");
        var certificatePath = Path.Combine(outputDirectory, node + ".crt");
        RefuseExisting(pfxPath);
        using var authority = LoadAuthority(authorityDirectory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(node)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthentication, ClientAuthentication], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(node);
        foreach (var address in addresses ?? [])
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + validity < authority.NotAfter ? now + validity : new DateTimeOffset(authority.NotAfter.ToUniversalTime());
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(authority, now.AddMinutes(-5), notAfter, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        Directory.CreateDirectory(outputDirectory);
        WritePrivate(pfxPath, withKey.Export(X509ContentType.Pkcs12));
        File.WriteAllText(certificatePath, issued.ExportCertificatePem() + "\n");
        return pfxPath;
    }

    private static X509Certificate2 LoadAuthority(string directory)
    {
        var certificatePath = Path.Combine(directory, AuthorityCertificateFile);
        var keyPath = Path.Combine(directory, AuthorityKeyFile);
        try
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(keyPath) & ~OwnerOnly & ~UnixFileMode.UserExecute) != 0)
            {
                throw new ClusterTlsException($"{keyPath} may be read by others (mode must be 0600); fix it with chmod 600 before issuing certificates");
            }

            return X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new ClusterTlsException($"cannot read the CA in {directory} ({AuthorityCertificateFile} and {AuthorityKeyFile}, from `fabric certs ca`): {e.Message}", e);
        }
    }

    private static void RefuseExisting(string path)
    {
        if (File.Exists(path))
        {
            throw new ClusterTlsException($"{path} exists; refusing to replace it");
        }
    }

    private static void WritePrivate(string path, byte[] content) => Security.PrivateFile.Write(path, content, replace: false);

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal)
        .Replace("+", "\\+", StringComparison.Ordinal).Replace("=", "\\=", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
