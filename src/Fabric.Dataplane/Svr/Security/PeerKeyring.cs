using System.Collections.Concurrent;
using Fabric.Model;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// The keys of every peer router this router talks to, one <see cref="PeerPathKeys"/> per peer, kept across
/// snapshot compiles (ids are never reused, so sessions keep theirs). Epochs are handed in from any thread
/// with <see cref="Enqueue"/> and installed by the worker between batches with <see cref="InstallPending"/>,
/// so the worker never seals or opens with keys changing under it. <see cref="For"/> and <see cref="Enqueue"/>
/// are thread-safe; <see cref="InstallPending"/> and the keys themselves belong to the worker.
/// </summary>
/// <param name="sender">
/// This node's per-boot sender value, mixed into every counter it seals with (<see cref="PacketSealer"/>): drawn at
/// random for each process, so two processes with the same keys (a restart within an epoch, the other node of an
/// HA pair) never send the same nonce.
/// </param>
public sealed class PeerKeyring(uint sender) : IDisposable
{
    private readonly Dictionary<string, (int Id, SecurityPolicy Policy)> _ids = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<Pending> _pending = new();
    private readonly Lock _gate = new();
    private PeerPathKeys[] _all = [];
    private long _refused;
    private bool _disposed;

    /// <summary>The sender value this node's sealers put in their counters.</summary>
    public uint Sender { get; } = sender & ((1u << PacketSealer.SenderBits) - 1);

    /// <summary>Epochs handed in that the worker did not install: below the one installed (a clock stepped back).</summary>
    public long Refused => Volatile.Read(ref _refused);

    /// <summary>The keys with this id.</summary>
    public PeerPathKeys this[int id] => Volatile.Read(ref _all)[id];

    /// <summary>
    /// The keys of <paramref name="peer"/> (made empty on first use, with <paramref name="policy"/> for cipher and
    /// rekey) and their id. A policy other than the one the keys follow is handed to the worker like an epoch: it
    /// builds the peer's installed keys again for the new cipher (<see cref="PeerPathKeys.ChangePolicy"/>).
    /// </summary>
    public int For(string peer, SecurityPolicy policy, long ticksPerSecond)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            if (_ids.TryGetValue(peer, out var known))
            {
                if (known.Policy != policy)
                {
                    _ids[peer] = (known.Id, policy);
                    _pending.Enqueue(new Pending(peer, null, policy));
                }

                return known.Id;
            }

            var id = _all.Length;
            _ids[peer] = (id, policy);
            var keys = new PeerPathKeys(policy, ticksPerSecond, PeerPathKeys.DefaultOverlap, static () => new ReplayWindowGuard(), Sender);
            Volatile.Write(ref _all, [.. _all, keys]);
            return id;
        }
    }

    /// <summary>Hands an epoch derived for <paramref name="peer"/> to the worker; the keyring owns and disposes <paramref name="keys"/>.</summary>
    public void Enqueue(string peer, EpochKeys keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_gate)
        {
            if (!_disposed)
            {
                _pending.Enqueue(new Pending(peer, keys, null));
                return;
            }
        }

        // Handed in after the keyring was disposed (keys agreed as the router stops): nobody will install them.
        keys.Dispose();
    }

    /// <summary>
    /// Installs the epochs and policy changes handed in so far, in order (the worker calls this between batches).
    /// Epochs for a peer the configuration does not name are discarded; an epoch below the peer's installed one is
    /// discarded and counted in <see cref="Refused"/>.
    /// </summary>
    public void InstallPending(long now)
    {
        while (_pending.TryDequeue(out var item))
        {
            int id;
            lock (_gate)
            {
                id = _ids.TryGetValue(item.Peer, out var found) ? found.Id : -1;
            }

            try
            {
                if (id >= 0 && item.Policy is { } policy)
                {
                    this[id].ChangePolicy(policy);
                }

                if (id >= 0 && item.Keys is { } keys && !this[id].Install(keys, now))
                {
                    Interlocked.Increment(ref _refused);
                }
            }
            finally
            {
                item.Keys?.Dispose();
            }
        }
    }

    /// <summary>Disposes every peer's keys and the epochs handed in but not installed; an epoch handed in later is disposed at once.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }

        while (_pending.TryDequeue(out var item))
        {
            item.Keys?.Dispose();
        }

        foreach (var keys in Volatile.Read(ref _all))
        {
            keys.Dispose();
        }
    }

    /// <summary>An epoch or a changed policy for one peer, on its way to the worker.</summary>
    private readonly record struct Pending(string Peer, EpochKeys? Keys, SecurityPolicy? Policy);
}

/// <summary>The dataplane's <see cref="ReplayWindow"/> (≥ 2048 counters) as a sealer's replay guard.</summary>
public sealed class ReplayWindowGuard : IReplayGuard
{
    private readonly ReplayWindow _window = new();

    public bool IsAcceptable(ulong counter) => _window.IsAcceptable(counter);

    public void MarkSeen(ulong counter) => _window.MarkSeen(counter);
}
