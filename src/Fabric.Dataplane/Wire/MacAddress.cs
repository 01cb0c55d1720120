using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// A 48-bit IEEE MAC address held in the low 48 bits of a <see cref="ulong"/>, most significant octet first
/// (the order on the wire). Formats as lower-case "aa:bb:cc:dd:ee:ff".
/// </summary>
public readonly struct MacAddress : IEquatable<MacAddress>, ISpanFormattable
{
    /// <summary>The length of a MAC address on the wire.</summary>
    public const int Length = 6;

    private const ulong Mask = 0xFFFF_FFFF_FFFF;
    private const int FormattedLength = 17;

    public static MacAddress Broadcast { get; } = new(Mask);

    public static MacAddress Zero { get; }

    /// <summary>Creates an address from the low 48 bits of <paramref name="value"/>; higher bits are ignored.</summary>
    public MacAddress(ulong value) => Value = value & Mask;

    /// <summary>The address as a 48-bit number, first wire octet most significant.</summary>
    public ulong Value { get; }

    /// <summary>The group bit (least significant bit of the first octet): multicast and broadcast.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000) != 0;

    public bool IsBroadcast => Value == Mask;

    /// <summary>Reads 6 octets; throws if <paramref name="source"/> is shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MacAddress Read(ReadOnlySpan<byte> source) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(source) << 32) | BinaryPrimitives.ReadUInt32BigEndian(source[2..]));

    /// <summary>Writes 6 octets; throws if <paramref name="destination"/> is shorter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)Value);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
    }

    /// <summary>Parses six two-digit hex groups separated by ':' or '-'.</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress address)
    {
        address = default;
        if (text.Length != FormattedLength)
        {
            return false;
        }

        ulong value = 0;
        for (var i = 0; i < Length; i++)
        {
            var at = i * 3;
            if (i > 0 && text[at - 1] != ':' && text[at - 1] != '-')
            {
                return false;
            }

            var high = HexValue(text[at]);
            var low = HexValue(text[at + 1]);
            if (high < 0 || low < 0)
            {
                return false;
            }

            value = (value << 8) | (uint)((high << 4) | low);
        }

        address = new MacAddress(value);
        return true;
    }

    public static MacAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not a MAC address.");
    }

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format = default, IFormatProvider? provider = null)
    {
        charsWritten = 0;
        if (destination.Length < FormattedLength)
        {
            return false;
        }

        const string digits = "0123456789abcdef";
        for (var i = 0; i < Length; i++)
        {
            var octet = (int)(Value >> (8 * (Length - 1 - i))) & 0xFF;
            var at = i * 3;
            if (i > 0)
            {
                destination[at - 1] = ':';
            }

            destination[at] = digits[octet >> 4];
            destination[at + 1] = digits[octet & 0xF];
        }

        charsWritten = FormattedLength;
        return true;
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public override string ToString() => string.Create(FormattedLength, Value, static (span, value) =>
        new MacAddress(value).TryFormat(span, out _));

    public bool Equals(MacAddress other) => Value == other.Value;

    public override bool Equals([NotNullWhen(true)] object? obj) => obj is MacAddress other && Equals(other);

    public override int GetHashCode() => Value.GetHashCode();

    public static bool operator ==(MacAddress left, MacAddress right) => left.Equals(right);

    public static bool operator !=(MacAddress left, MacAddress right) => !left.Equals(right);

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
