using Fabric.Dataplane.Svr.Security;
using Fabric.Model;

namespace Fabric.Dataplane.Routing;

/// <summary>
/// Keeps a router's peer path keys current from its private key and the identities configuration pins for
/// its peers, with <see cref="ClockEpochs"/>: <see cref="Refresh"/> derives the epoch in force for every peer
/// that has a pinned key and hands it to the engine when the peer has not got it yet, or when the pinned
/// key changed (the same epoch is then installed again, replacing its keys). The caller runs it after each
/// apply and again at <see cref="Refresh"/>'s answer, the next epoch boundary. Derivation runs here, on the
/// caller's thread, never in the worker. Thread-safe.
/// </summary>
public sealed class PeerKeySchedule(ForwardingEngine engine, RouterIdentity identity, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<string, (uint Epoch, byte[] PinnedKey)> _installed = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Peers whose keys the last refresh could not derive, with the reason (a peer pinned with a low-order key).</summary>
    public IReadOnlyDictionary<string, KeyAgreementResult> Refused { get; private set; } = new Dictionary<string, KeyAgreementResult>();

    /// <summary>
    /// Derives the current epoch's keys for every pinned peer again and installs them, replacing those in force
    /// (an HA node taking over from its partner, which has the same identity and so the same keys): this node's
    /// sealers send with its own per-boot sender value, so its nonces never meet the partner's, and its sequence
    /// starts at the ticks elapsed in the epoch now, so the peer's replay window takes its packets as the newest.
    /// A peer whose installed epoch is above the clock's (the clock stepped back across a boundary) keeps it.
    /// Returns how long until the next epoch begins.
    /// </summary>
    public TimeSpan Renew(SecurityPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            var epoch = ClockEpochs.EpochAt(_time.GetUtcNow(), policy.RekeyInterval);
            foreach (var (peer, had) in _installed.ToArray())
            {
                if (had.Epoch <= epoch)
                {
                    _installed.Remove(peer);
                }
            }

            return Refresh(policy);
        }
    }

    /// <summary>
    /// Installs the current epoch's keys for every pinned peer of the running snapshot that lacks them, with
    /// <paramref name="policy"/>'s rekey interval. Returns how long until the next epoch begins.
    /// </summary>
    public TimeSpan Refresh(SecurityPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var epoch = ClockEpochs.EpochAt(now, policy.RekeyInterval);
            var refused = new Dictionary<string, KeyAgreementResult>(StringComparer.Ordinal);
            foreach (var path in engine.Snapshot.PeerPaths)
            {
                // An epoch below the one installed (the clock stepped back) is never installed: the worker
                // accepts only epochs that follow or replace the current one.
                if (path.PinnedKey is not { } pinned
                    || (_installed.TryGetValue(path.PeerRouter, out var had)
                        && (had.Epoch > epoch || (had.Epoch == epoch && had.PinnedKey.AsSpan().SequenceEqual(pinned)))))
                {
                    continue;
                }

                var result = ClockEpochs.TryDerive(identity, new PinnedPeer(path.PeerRouter, pinned), now, policy.RekeyInterval, out var keys);
                if (result != KeyAgreementResult.Ok)
                {
                    refused[path.PeerRouter] = result;
                    continue;
                }

                engine.InstallPeerKeys(path.PeerRouter, keys!);
                _installed[path.PeerRouter] = (epoch, pinned);
            }

            Refused = refused;
            return ClockEpochs.StartOf(epoch + 1, policy.RekeyInterval) - now;
        }
    }
}
