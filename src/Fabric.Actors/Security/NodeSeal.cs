using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Fabric.Actors.Cluster;

namespace Fabric.Actors.Security;

/// <summary>
/// A node's signature over a statement about itself (its configuration ack, its telemetry): the node's cluster
/// certificate (DER) and the signature its private key made over the statement's bytes. Distributed Data lets any
/// member write any entry; the seal is what says the entry came from the node it names.
/// </summary>
public sealed record NodeSeal(byte[] Certificate, byte[] Signature)
{
    /// <summary>Whether two seals carry the same signature, both none counting as the same (records compare arrays by reference).</summary>
    public static bool Same(NodeSeal? a, NodeSeal? b) => (a?.Signature ?? []).AsSpan().SequenceEqual(b?.Signature ?? []);
}

/// <summary>
/// The bytes a node signs: a label naming what kind of statement it is, then each field, length-prefixed, in a
/// fixed order, so no two different statements have the same bytes. Not thread-safe: built and used by one caller.
/// </summary>
public sealed class NodeStatement
{
    private readonly ArrayBufferWriter<byte> _bytes = new(256);

    public NodeStatement(string kind) => Add(kind);

    public ReadOnlySpan<byte> Bytes => _bytes.WrittenSpan;

    public NodeStatement Add(string? text)
    {
        if (text is null)
        {
            Add(-1L);
            return this;
        }

        var length = Encoding.UTF8.GetByteCount(text);
        Add(length);
        Encoding.UTF8.GetBytes(text, _bytes.GetSpan(length));
        _bytes.Advance(length);
        return this;
    }

    public NodeStatement Add(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_bytes.GetSpan(sizeof(long)), value);
        _bytes.Advance(sizeof(long));
        return this;
    }

    public NodeStatement Add(long? value) => value is { } v ? Add(1L).Add(v) : Add(0L);

    public NodeStatement Add(bool value) => Add(value ? 1L : 0L);

    public NodeStatement Add(ReadOnlySpan<byte> bytes)
    {
        Add(bytes.Length);
        bytes.CopyTo(_bytes.GetSpan(bytes.Length));
        _bytes.Advance(bytes.Length);
        return this;
    }

    /// <summary>Each pair of a dictionary in key order (ordinal), after its count: the same content gives the same bytes.</summary>
    public NodeStatement Add(IReadOnlyDictionary<string, long> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        Add(values.Count);
        foreach (var (key, value) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            Add(key).Add(value);
        }

        return this;
    }
}

/// <summary>
/// Seals a node's statements with the private key of its cluster certificate. The certificate names the node
/// (<c>fabric certs node NAME</c>): <see cref="Name"/>. Thread-safe: signing takes a lock around the key.
/// </summary>
public sealed class NodeSigner
{
    private readonly byte[] _certificate;
    private readonly ECDsa? _ecdsa;
    private readonly RSA? _rsa;
    private readonly Lock _gate = new();

    public NodeSigner(ClusterTls tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        _certificate = tls.NodeCertificate.RawData;
        _ecdsa = tls.NodeCertificate.GetECDsaPrivateKey();
        _rsa = _ecdsa is null ? tls.NodeCertificate.GetRSAPrivateKey() : null;
        if (_ecdsa is null && _rsa is null)
        {
            throw new ClusterTlsException($"the cluster certificate {tls.NodeCertificate.Subject} has neither an ECDSA nor an RSA key (fabric certs issues ECDSA P-256)");
        }

        Name = NameOf(tls.NodeCertificate);
        Tls = tls;
    }

    /// <summary>The cluster TLS whose certificate seals: its CA is also what the node checks others' seals against.</summary>
    public ClusterTls Tls { get; }

    /// <summary>The node the certificate was issued to (its common name).</summary>
    public string Name { get; }

    /// <summary>The node name a cluster certificate was issued to: its subject's common name.</summary>
    public static string NameOf(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
    }

    public NodeSeal Seal(NodeStatement statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        lock (_gate)
        {
            var signature = _ecdsa is not null
                ? _ecdsa.SignData(statement.Bytes, HashAlgorithmName.SHA256)
                : _rsa!.SignData(statement.Bytes, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            return new NodeSeal(_certificate, signature);
        }
    }
}

/// <summary>
/// Checks that a statement was sealed by the node it names: the seal's certificate chains to the fabric's CA (valid
/// now), was issued to that node, and its key signed the statement's bytes. Certificates already checked are kept
/// (by their bytes' hash) until they expire, so a chain is built once per certificate, not once per statement.
/// Not thread-safe: one per actor.
/// </summary>
public sealed class NodeVerifier(ClusterTls tls, TimeProvider? time = null)
{
    private const int MaxRemembered = 4096;
    private readonly Dictionary<string, Checked?> _checked = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Null when <paramref name="seal"/> is <paramref name="node"/>'s over <paramref name="statement"/>, else why not (one phrase).</summary>
    public string? Problem(string node, NodeStatement statement, NodeSeal? seal)
    {
        ArgumentNullException.ThrowIfNull(statement);
        if (seal is null)
        {
            return "not sealed with a cluster certificate";
        }

        var key = Convert.ToHexString(SHA256.HashData(seal.Certificate ?? []));
        if (!_checked.TryGetValue(key, out var known) || (known is not null && known.NotAfter <= _time.GetUtcNow()))
        {
            known = Check(seal.Certificate ?? []);
            if (_checked.Count >= MaxRemembered)
            {
                _checked.Clear();
            }

            _checked[key] = known;
        }

        if (known is null)
        {
            return "sealed with a certificate the fabric's CA did not issue (or that expired)";
        }

        if (!string.Equals(known.Name, node, StringComparison.Ordinal))
        {
            return $"sealed with node {known.Name}'s certificate, not {node}'s";
        }

        return known.Verifies(statement.Bytes, seal.Signature ?? []) ? null : "its seal does not match what it says";
    }

    private Checked? Check(byte[] der)
    {
        try
        {
            using var certificate = X509CertificateLoader.LoadCertificate(der);
            if (!tls.IsIssuedByAuthority(certificate))
            {
                return null;
            }

            return new Checked(NodeSigner.NameOf(certificate), certificate.NotAfter.ToUniversalTime(), certificate.GetECDsaPublicKey(), certificate.GetRSAPublicKey());
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    private sealed record Checked(string Name, DateTimeOffset NotAfter, ECDsa? Ecdsa, RSA? Rsa)
    {
        public bool Verifies(ReadOnlySpan<byte> data, byte[] signature) =>
            Ecdsa?.VerifyData(data, signature, HashAlgorithmName.SHA256)
            ?? Rsa?.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
            ?? false;
    }
}
