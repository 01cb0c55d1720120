namespace Fabric.Dataplane.Wire;

/// <summary>Why a wire type rejects bytes; each value becomes a drop reason counter.</summary>
public enum WireError
{
    /// <summary>The bytes are well formed.</summary>
    None = 0,

    /// <summary>The buffer ends before a header, or before the length a header declares.</summary>
    Truncated,

    /// <summary>The version field names another protocol version.</summary>
    BadVersion,

    /// <summary>A header length field is below the protocol minimum or malformed.</summary>
    BadHeaderLength,

    /// <summary>Length fields contradict each other or the buffer.</summary>
    LengthMismatch,

    /// <summary>An extension header or option is malformed or out of place.</summary>
    BadExtensionHeader,

    /// <summary>The bytes are well formed but describe a variant this type does not handle.</summary>
    Unsupported,
}
