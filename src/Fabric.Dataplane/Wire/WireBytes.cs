using System.Diagnostics.CodeAnalysis;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// An immutable run of octets compared by content, used by the parsed header types for variable parts
/// (options) so that record equality compares what is on the wire. Not for the per-packet path.
/// </summary>
public readonly struct WireBytes : IEquatable<WireBytes>
{
    private readonly byte[]? _bytes;

    /// <summary>Copies <paramref name="bytes"/>.</summary>
    public WireBytes(ReadOnlySpan<byte> bytes) => _bytes = bytes.IsEmpty ? null : bytes.ToArray();

    public static WireBytes Empty => default;

    public int Length => _bytes?.Length ?? 0;

    public ReadOnlySpan<byte> Span => _bytes;

    public static WireBytes FromHex(string hex) => new(Convert.FromHexString(hex));

    public bool Equals(WireBytes other) => Span.SequenceEqual(other.Span);

    public override bool Equals([NotNullWhen(true)] object? obj) => obj is WireBytes other && Equals(other);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        hash.AddBytes(Span);
        return hash.ToHashCode();
    }

    public override string ToString() => Convert.ToHexStringLower(Span);

    public static bool operator ==(WireBytes left, WireBytes right) => left.Equals(right);

    public static bool operator !=(WireBytes left, WireBytes right) => !left.Equals(right);
}
