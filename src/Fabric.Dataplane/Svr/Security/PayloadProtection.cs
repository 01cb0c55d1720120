namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// What a sealed packet's trailer protects. Both keep the associated data (the metadata) authenticated;
/// the receiver learns which one applies from the authenticated metadata, so it cannot be switched unseen.
/// </summary>
public enum PayloadProtection
{
    /// <summary>AES-GCM: the payload is encrypted in place and authenticated together with the associated data.</summary>
    Encrypt,

    /// <summary>GMAC: nothing is encrypted; associated data and payload are authenticated.</summary>
    IntegrityOnly,
}
