using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;

namespace Fabric.Conductor.Api;

/// <summary>
/// The API's HTTPS certificate, named in the conductor's environment as cluster TLS is (a certificate is a file of one
/// node, not part of the shared document): <see cref="CertificateKey"/> is a PKCS#12 file with the private key, such
/// as <c>fabric certs node NAME --address IP</c> writes with the cluster's CA. Absent: the API speaks plain HTTP.
/// Thread-safe: stateless.
/// </summary>
public static class ApiCertificate
{
    public const string CertificateKey = "FABRIC_API_CERTIFICATE";

    public const string PasswordKey = "FABRIC_API_CERTIFICATE_PASSWORD";

    /// <summary>The certificate the configuration names, or null; throws <see cref="InvalidOperationException"/> saying why a named one cannot be used.</summary>
    public static X509Certificate2? FromConfiguration(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration[CertificateKey] is not { Length: > 0 } path)
        {
            return null;
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, configuration[PasswordKey]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new InvalidOperationException($"cannot read the API certificate {path} ({CertificateKey}): {e.Message}", e);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"the API certificate {path} ({CertificateKey}) has no private key; use the .pfx that `fabric certs node` wrote");
        }

        return certificate;
    }
}
