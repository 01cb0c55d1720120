namespace Fabric.Dataplane.Sessions;

/// <summary>Which of a session's two keys a packet matched.</summary>
public enum SessionDirection : byte
{
    /// <summary>The packet travels the way the session's first packet did.</summary>
    Forward,

    /// <summary>The packet travels back: it matched the session's reverse key.</summary>
    Reverse,
}

/// <summary>The outcome of <see cref="SessionTable{TPayload}.TryInsert"/>.</summary>
public enum SessionInsertResult : byte
{
    Inserted,

    /// <summary>The forward or the reverse key already belongs to a live session (or both keys are equal).</summary>
    KeyInUse,

    /// <summary>Every slot holds a live session; nothing was evicted.</summary>
    TableFull,
}
