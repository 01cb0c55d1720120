namespace Fabric.Dataplane.Svr.Security;

/// <summary>The outcome of deriving a peer path's keys; anything but <see cref="Ok"/> installs nothing.</summary>
public enum KeyAgreementResult
{
    Ok,

    /// <summary>The key the peer presented is not the one configuration pins for it.</summary>
    PeerKeyMismatch,

    /// <summary>The peer key is malformed or of low order (the X25519 result is all zeros, RFC 7748 §6.1).</summary>
    InvalidPeerKey,

    /// <summary>A per-epoch nonce is not <see cref="PeerKeyAgreement.EpochNonceLength"/> bytes.</summary>
    InvalidNonce,

    /// <summary>Epoch 0 means "no keys" and is never derived.</summary>
    InvalidEpoch,

    /// <summary>Both ends carry the same router name, so the two directions could not be told apart.</summary>
    SameRouterName,
}
