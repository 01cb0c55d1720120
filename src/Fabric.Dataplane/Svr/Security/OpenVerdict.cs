namespace Fabric.Dataplane.Svr.Security;

/// <summary>What opening a sealed packet found; anything but <see cref="Ok"/> means drop and count.</summary>
public enum OpenVerdict
{
    Ok,

    /// <summary>The tag does not verify: the key, counter, associated data, payload or tag was altered.</summary>
    BadTag,

    /// <summary>The counter was already accepted, or lies behind the replay window.</summary>
    Replayed,

    /// <summary>No installed epoch matches the packet (never installed, or retired after the overlap).</summary>
    UnknownEpoch,

    /// <summary>The trailer is shorter than <see cref="PacketSealer.TrailerLength"/>.</summary>
    Truncated,
}
