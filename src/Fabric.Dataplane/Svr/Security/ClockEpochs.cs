namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// Epochs that two routers agree on without exchanging a message: epoch <c>e</c> is the
/// <c>(e − 1)</c>-th interval of <c>rekey-interval</c> since the Unix epoch on the routers' clocks (UTC), and
/// its keys are <see cref="PeerKeyAgreement.TryDerive"/> of the two static keys with both nonces zero
/// (the epoch number and both names still bind each epoch's keys, see docs/svr-security.md). The same
/// epoch's keys are derived again after a restart and by both nodes of an HA pair: what keeps their nonces
/// apart is each sending node's per-boot sender value in the counter (<see cref="PacketSealer"/>). The
/// sending sequence starts at the 100-ns ticks elapsed since the epoch began
/// (<see cref="EpochKeys.FirstSendSequence"/>), so a peer's replay window takes a restarted sender's packets
/// as newer than its earlier ones as long as it sent fewer than 10⁷ packets a second and its clock did not
/// step back. Stateless and thread-safe.
/// </summary>
public static class ClockEpochs
{
    private static readonly byte[] ZeroNonce = new byte[PeerKeyAgreement.EpochNonceLength];

    /// <summary>The epoch in force at <paramref name="now"/> for <paramref name="interval"/> (≥ 1; consecutive epochs alternate key phase).</summary>
    public static uint EpochAt(DateTimeOffset now, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        var slot = (now - DateTimeOffset.UnixEpoch).Ticks / interval.Ticks;
        return (uint)Math.Clamp(slot + 1, 1, uint.MaxValue);
    }

    /// <summary>When <paramref name="epoch"/> begins.</summary>
    public static DateTimeOffset StartOf(uint epoch, TimeSpan interval) =>
        DateTimeOffset.UnixEpoch + TimeSpan.FromTicks(Math.Min((epoch - 1L) * interval.Ticks, DateTimeOffset.MaxValue.Ticks - DateTimeOffset.UnixEpoch.Ticks));

    /// <summary>
    /// The keys of the epoch in force at <paramref name="now"/> with <paramref name="peer"/>, whose presented
    /// key is the pinned one (configuration is the only source of peer keys), sending from the 100-ns ticks
    /// elapsed in the epoch.
    /// </summary>
    public static KeyAgreementResult TryDerive(RouterIdentity local, PinnedPeer peer, DateTimeOffset now, TimeSpan interval, out EpochKeys? keys)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(peer);
        var epoch = EpochAt(now, interval);
        var result = PeerKeyAgreement.TryDerive(local, peer, peer.PublicKey, epoch, ZeroNonce, ZeroNonce, out var derived);
        if (result != KeyAgreementResult.Ok)
        {
            keys = null;
            return result;
        }

        var elapsed = now - StartOf(epoch, interval);
        derived!.FirstSendSequence = (ulong)Math.Max(0, elapsed.Ticks);
        keys = derived;
        return result;
    }
}
