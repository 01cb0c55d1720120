namespace Fabric.Dataplane.Svr;

/// <summary>Why a metadata block or its TLVs are rejected; each value becomes a drop reason counter.</summary>
public enum MetadataError
{
    /// <summary>The block is well formed.</summary>
    None = 0,

    /// <summary>The buffer ends before the 12-octet base, or before the header and payload lengths it declares.</summary>
    Truncated,

    /// <summary>The first 8 octets are not the SVR cookie.</summary>
    BadCookie,

    /// <summary>The version field is not 1.</summary>
    BadVersion,

    /// <summary>The header length is below 12, or a header TLV that fits in the buffer crosses the header section's end.</summary>
    BadHeaderLength,

    /// <summary>A payload TLV that fits in the buffer crosses the payload section's end: the payload length contradicts the TLVs.</summary>
    LengthMismatch,

    /// <summary>A TLV runs past the buffer, sits in the wrong section, or holds a malformed value (such as invalid UTF-8).</summary>
    BadTlv,

    /// <summary>A known TLV type occurs twice (forward context IPv4 and IPv6 count as one field, as do reverse).</summary>
    DuplicateTlv,

    /// <summary>A known TLV type carries a value of the wrong length.</summary>
    BadValueLength,
}
