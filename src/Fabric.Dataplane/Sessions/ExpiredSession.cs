namespace Fabric.Dataplane.Sessions;

/// <summary>
/// A session removed by <see cref="SessionTable{TPayload}.ExpireIdle"/>: copies of its keys and payload, taken
/// before the slot can be reused, and the handle it had (no longer live).
/// </summary>
public readonly record struct ExpiredSession<TPayload>(
    int Handle, SessionKey Forward, SessionKey Reverse, TPayload Payload, long LastSeen)
    where TPayload : unmanaged;
