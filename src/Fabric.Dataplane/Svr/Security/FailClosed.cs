using Fabric.Model;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>What may happen to a packet of a session about to leave over a peer path.</summary>
public enum SealDecision
{
    /// <summary>Encrypt the payload with the peer path's current epoch.</summary>
    Seal,

    /// <summary>The service does not require encryption: the payload leaves unencrypted (the metadata is still authenticated once keys exist).</summary>
    SendPlain,

    /// <summary>Encryption is required and no keys exist yet: queue the packet until they do, or drop it.</summary>
    HoldOrRefuse,
}

/// <summary>The fail-closed rule: a service that requires encryption never leaves a router in clear, not even before keys exist.</summary>
public static class FailClosed
{
    public static SealDecision Decide(EncryptionMode mode, bool keysReady) => mode switch
    {
        EncryptionMode.None => SealDecision.SendPlain,
        EncryptionMode.Required when keysReady => SealDecision.Seal,
        _ => SealDecision.HoldOrRefuse,
    };
}
