using Fabric.Model;

namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// The key state of one peer path across epochs. Installing an epoch makes it current for both directions;
/// the epoch it replaces stays open for receiving until <c>overlap</c> has passed since the install, so
/// packets sealed just before a rekey still arrive. Epoch numbers are the SecurityId carried in metadata
/// TLV 16; packets without metadata are matched to an epoch by the key phase bit of their counter.
/// Time is passed in as ticks of a monotonic clock (<c>ticksPerSecond</c> per second); this type never
/// reads a clock. Every sealer it makes sends with this node's per-boot sender value (see
/// <see cref="PacketSealer"/>). Thread-safe: every worker of a router seals and opens on the same path (docs/dataplane.md
/// "Workers"), so installing, sealing and opening hold one lock (uncontended with one worker, and short beside the AEAD it
/// guards); one sequence of counters and one replay window per epoch stay exact whichever worker sends or receives.
/// </summary>
public sealed class PeerPathKeys : IDisposable
{
    /// <summary>How long a replaced epoch is still accepted when the caller names no overlap.</summary>
    public static readonly TimeSpan DefaultOverlap = TimeSpan.FromSeconds(30);

    private readonly Func<IReplayGuard> _newReplayGuard;
    private readonly long _ticksPerSecond;
    private readonly long _overlapTicks;
    private readonly uint _sender;
    private SecurityPolicy _policy;
    private long _rekeyIntervalTicks;
    private int _keyLength;
    private Epoch? _current;
    private Epoch? _previous;
    private readonly Lock _gate = new();

    public PeerPathKeys(SecurityPolicy policy, long ticksPerSecond, TimeSpan overlap, Func<IReplayGuard> newReplayGuard, uint sender = 0)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(newReplayGuard);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(overlap, TimeSpan.Zero);
        _newReplayGuard = newReplayGuard;
        _ticksPerSecond = ticksPerSecond;
        _overlapTicks = ToTicks(overlap, ticksPerSecond);
        _sender = sender;
        _policy = policy;
        _rekeyIntervalTicks = ToTicks(policy.RekeyInterval, ticksPerSecond);
        _keyLength = KeyLengthOf(policy);
    }

    /// <summary>The security policy the keys follow (cipher, rekey rule).</summary>
    public SecurityPolicy Policy => _policy;

    /// <summary>Whether an epoch is installed, so that packets can be sealed.</summary>
    public bool HasKeys => _current is not null;

    /// <summary>The current epoch's SecurityId (the value for metadata TLV 16), or 0 without keys.</summary>
    public uint SecurityId => _current?.Id ?? 0;

    /// <summary>The replaced epoch still accepted for receiving, or 0 when there is none.</summary>
    public uint PreviousSecurityId => _previous?.Id ?? 0;

    /// <summary>Packets sealed with the current epoch's key.</summary>
    public long PacketsSealed => _current?.Send.SealedCount ?? 0;

    /// <summary>Whether a key is due: by time since the epoch started or by packets sealed under it.</summary>
    public static bool IsRekeyDue(SecurityPolicy policy, TimeSpan sinceEpochStart, long packetsSealed)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return sinceEpochStart >= policy.RekeyInterval || packetsSealed >= policy.RekeyAfterPackets;
    }

    /// <summary>Whether the path needs a new epoch at <paramref name="now"/>; true while it has no keys at all.</summary>
    public bool IsRekeyDue(long now)
    {
        var current = _current;
        return current is null
            || now - current.InstalledAt >= _rekeyIntervalTicks
            || current.Send.SealedCount >= _policy.RekeyAfterPackets;
    }

    /// <summary>
    /// Installs a derived epoch; its number must be above the current one, or equal to it to replace the
    /// current epoch's keys (a pinned identity changed within a clock epoch, or an HA node takes over or
    /// reclaims: the replaced keys are dropped at once, the previous epoch stays, the new sending sequence
    /// starts above every one this node used under that epoch, and the epoch's replay window is kept, so
    /// packets of that epoch received before are not accepted again). The replaced epoch is kept for receiving during the
    /// overlap; an older one still kept is dropped at once. Returns false, changing nothing, for an epoch
    /// below the current one (a clock stepped back across a boundary): it never throws on the worker. The
    /// caller keeps and disposes <paramref name="keys"/>: the sealers copy what they need.
    /// </summary>
    public bool Install(EpochKeys keys, long now)
    {
        ArgumentNullException.ThrowIfNull(keys);
        lock (_gate)
        {
            return InstallLocked(keys, now);
        }
    }

    private bool InstallLocked(EpochKeys keys, long now)
    {
        if (_current is not null && keys.Epoch < _current.Id)
        {
            return false;
        }

        var again = _current is not null && keys.Epoch == _current.Id;
        var installed = Build(
            keys,
            again ? Math.Max(keys.FirstSendSequence, _current!.Send.NextSequence) : keys.FirstSendSequence,
            (again ? _current!.Receive.ReplayGuard : null) ?? _newReplayGuard(),
            now);
        if (again)
        {
            _current!.Dispose();
            _current = installed;
            return true;
        }

        _previous?.Dispose();
        _previous = _current;
        _current = installed;
        return true;
    }

    /// <summary>
    /// Follows a changed security policy (the configuration changed the cipher or the rekey rule while the router
    /// runs): with another cipher, the sealers of the current and the previous epoch are built again from their
    /// keys for it, each sending on above the sequences it used and receiving with its replay window. Peers that
    /// apply the same configuration, or start with it, then seal and open alike.
    /// </summary>
    public void ChangePolicy(SecurityPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            ChangePolicyLocked(policy);
        }
    }

    private void ChangePolicyLocked(SecurityPolicy policy)
    {
        if (policy == _policy)
        {
            return;
        }

        var keyLength = KeyLengthOf(policy);
        _policy = policy;
        _rekeyIntervalTicks = ToTicks(policy.RekeyInterval, _ticksPerSecond);
        if (keyLength == _keyLength)
        {
            return;
        }

        _keyLength = keyLength;
        _current = Rebuilt(_current);
        _previous = Rebuilt(_previous);
    }

    /// <summary>Drops the previous epoch once the overlap since the current install has passed.</summary>
    public void RetireExpired(long now)
    {
        lock (_gate)
        {
            RetireExpiredLocked(now);
        }
    }

    private void RetireExpiredLocked(long now)
    {
        if (_previous is not null && _current is not null && now - _current.InstalledAt >= _overlapTicks)
        {
            _previous.Dispose();
            _previous = null;
        }
    }

    /// <summary>
    /// Seals with the current epoch (whose <see cref="SecurityId"/> the caller has put in the metadata).
    /// Returns the trailer length, or 0 without keys or when the sealer refuses.
    /// </summary>
    public int Seal(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, Span<byte> trailer, PayloadProtection protection)
    {
        lock (_gate)
        {
            var current = _current;
            return current is null ? 0 : current.Send.SealNext(associatedData, payloadInPlace, trailer, protection);
        }
    }

    /// <summary>Opens a packet whose metadata names its epoch (TLV 16): only that epoch, if still installed.</summary>
    public OpenVerdict Open(uint securityId, ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, ReadOnlySpan<byte> trailer, PayloadProtection protection, long now)
    {
        lock (_gate)
        {
            RetireExpiredLocked(now);
            var epoch = _current is not null && _current.Id == securityId ? _current
                : _previous is not null && _previous.Id == securityId ? _previous
                : null;
            return epoch is null ? OpenVerdict.UnknownEpoch : epoch.Receive.Open(associatedData, payloadInPlace, trailer, protection);
        }
    }

    /// <summary>Opens a packet without metadata: the key phase bit of its counter selects current or previous epoch.</summary>
    public OpenVerdict Open(ReadOnlySpan<byte> associatedData, Span<byte> payloadInPlace, ReadOnlySpan<byte> trailer, PayloadProtection protection, long now)
    {
        var phase = PacketSealer.ReadKeyPhase(trailer);
        if (phase < 0)
        {
            return OpenVerdict.Truncated;
        }

        lock (_gate)
        {
            RetireExpiredLocked(now);
            var epoch = _current is not null && _current.Receive.KeyPhase == phase ? _current
                : _previous is not null && _previous.Receive.KeyPhase == phase ? _previous
                : null;
            return epoch is null ? OpenVerdict.UnknownEpoch : epoch.Receive.Open(associatedData, payloadInPlace, trailer, protection);
        }
    }

    public void Dispose()
    {
        _previous?.Dispose();
        _current?.Dispose();
        _previous = null;
        _current = null;
    }

    private static int KeyLengthOf(SecurityPolicy policy) => policy.Cipher == Cipher.Aes128Gcm ? 16 : 32;

    /// <summary>The sealers of <paramref name="keys"/> for the current cipher; the epoch keeps a copy of the keys, to build them again.</summary>
    private Epoch Build(EpochKeys keys, ulong firstSequence, IReplayGuard replayGuard, long installedAt)
    {
        var keyPhase = (int)(keys.Epoch & 1);
        return new Epoch(
            keys.Copy(),
            PacketSealer.ForSending(keys.SendKey[.._keyLength], keys.SendSalt, keyPhase, firstSequence, _sender),
            PacketSealer.ForReceiving(keys.ReceiveKey[.._keyLength], keys.ReceiveSalt, replayGuard, keyPhase),
            installedAt);
    }

    private Epoch? Rebuilt(Epoch? epoch)
    {
        if (epoch is null)
        {
            return null;
        }

        var rebuilt = Build(epoch.Keys, epoch.Send.NextSequence, epoch.Receive.ReplayGuard!, epoch.InstalledAt);
        epoch.Dispose();
        return rebuilt;
    }

    private static long ToTicks(TimeSpan span, long ticksPerSecond) =>
        span >= TimeSpan.FromDays(36500) ? long.MaxValue : (long)(span.TotalSeconds * ticksPerSecond);

    private sealed class Epoch(EpochKeys keys, PacketSealer send, PacketSealer receive, long installedAt) : IDisposable
    {
        public uint Id => Keys.Epoch;

        public EpochKeys Keys { get; } = keys;

        public PacketSealer Send { get; } = send;

        public PacketSealer Receive { get; } = receive;

        public long InstalledAt { get; } = installedAt;

        public void Dispose()
        {
            Keys.Dispose();
            Send.Dispose();
            Receive.Dispose();
        }
    }
}
