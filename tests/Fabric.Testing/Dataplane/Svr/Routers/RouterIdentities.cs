using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Svr.Security;
using Fabric.Tests.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// Seeded identities for the lab's routers (dc1, br1, br2): pins their public keys in lab.conf's text and hands two
/// routers a key epoch as the key exchange would derive it.
/// </summary>
public sealed class RouterIdentities
{
    private readonly Dictionary<string, RouterIdentity> _identities = [];

    /// <summary>lab.conf's text with each router node's identity pinned.</summary>
    public string Pin(string labConf)
    {
        foreach (var (router, node, address) in new[] { ("dc1", "dc1a", "10.99.0.11"), ("br1", "br1a", "10.99.0.12"), ("br2", "br2a", "10.99.0.13") })
        {
            labConf = labConf.Replace(
                $"{node} {{ management-address = \"{address}\" }}",
                $"{node} {{ management-address = \"{address}\", identity = \"{Of(router).PublicKeyBase64}\" }}");
        }

        return labConf;
    }

    /// <summary>
    /// Derives epoch <paramref name="epoch"/> between two routers from their (seeded) identities, as the key
    /// exchange would, and hands each its side; each router installs it before its next batch.
    /// </summary>
    public void Share(ForwardingEngine a, ForwardingEngine b, uint epoch)
    {
        var nonceA = SecurityFixtures.Nonce((byte)epoch);
        var nonceB = SecurityFixtures.Nonce((byte)(epoch + 100));
        Assert.Equal(KeyAgreementResult.Ok, a.AgreePeerKeys(Of(a.Name), b.Name, Of(b.Name).PublicKey, epoch, nonceA, nonceB));
        Assert.Equal(KeyAgreementResult.Ok, b.AgreePeerKeys(Of(b.Name), a.Name, Of(a.Name).PublicKey, epoch, nonceB, nonceA));
    }

    /// <summary>A router's seeded identity, whose public key <see cref="Pin"/> puts in the configuration.</summary>
    public RouterIdentity Of(string router)
    {
        if (!_identities.TryGetValue(router, out var identity))
        {
            _identities[router] = identity = SecurityFixtures.Identity(router, router.Sum(c => c));
        }

        return identity;
    }
}
