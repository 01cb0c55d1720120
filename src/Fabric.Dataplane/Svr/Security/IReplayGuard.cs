namespace Fabric.Dataplane.Svr.Security;

/// <summary>
/// Anti-replay state of one receive direction of one epoch (RFC 4303 §3.4.3 / RFC 6479 style).
/// <see cref="Fabric.Dataplane.Svr.Security.PacketSealer"/> asks <see cref="IsAcceptable"/> before it
/// verifies a tag and calls <see cref="MarkSeen"/> only after the tag verifies, so forged packets cannot
/// move the window. Implementations need not be thread-safe: one receive direction has one owner.
/// </summary>
public interface IReplayGuard
{
    /// <summary>Whether <paramref name="counter"/> is neither seen yet nor behind the window.</summary>
    bool IsAcceptable(ulong counter);

    /// <summary>Records <paramref name="counter"/> as received, advancing the window if it is ahead.</summary>
    void MarkSeen(ulong counter);
}
