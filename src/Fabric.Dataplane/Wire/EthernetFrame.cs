using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>
/// A view over an Ethernet II frame (without preamble and FCS), optionally carrying one IEEE 802.1Q VLAN tag.
/// After <see cref="TryCreate(Span{byte}, out EthernetFrame, out WireError)"/> succeeds no member throws.
/// </summary>
public readonly ref struct EthernetFrame
{
    public const int DestinationOffset = 0;
    public const int SourceOffset = 6;
    public const int TypeOffset = 12;
    public const int UntaggedHeaderLength = 14;
    public const int TagControlOffset = 14;
    public const int TaggedTypeOffset = 16;
    public const int TaggedHeaderLength = 18;

    private const ushort VlanTagProtocol = Wire.EtherType.Vlan;

    private readonly Span<byte> _bytes;

    private EthernetFrame(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Checks that <paramref name="bytes"/> hold a whole header, including a VLAN tag when one is announced.</summary>
    public static bool TryCreate(Span<byte> bytes, out EthernetFrame frame) => TryCreate(bytes, out frame, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out EthernetFrame)"/>
    public static bool TryCreate(Span<byte> bytes, out EthernetFrame frame, out WireError error)
    {
        frame = default;
        if (bytes.Length < UntaggedHeaderLength
            || (BinaryPrimitives.ReadUInt16BigEndian(bytes[TypeOffset..]) == VlanTagProtocol && bytes.Length < TaggedHeaderLength))
        {
            error = WireError.Truncated;
            return false;
        }

        frame = new EthernetFrame(bytes);
        error = WireError.None;
        return true;
    }

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out EthernetFrame, out WireError)"/> already accepted and whose header (its VLAN tag) is unchanged; the frame behind it may have been cut or grown have not changed since (the packet path's parse
    /// stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static EthernetFrame FromValidated(Span<byte> bytes) => new(bytes);

    /// <summary>The whole frame.</summary>
    public Span<byte> Bytes => _bytes;

    public MacAddress Destination
    {
        get => MacAddress.Read(_bytes.Slice(DestinationOffset, MacAddress.Length));
        set => value.Write(_bytes.Slice(DestinationOffset, MacAddress.Length));
    }

    public MacAddress Source
    {
        get => MacAddress.Read(_bytes.Slice(SourceOffset, MacAddress.Length));
        set => value.Write(_bytes.Slice(SourceOffset, MacAddress.Length));
    }

    public bool HasVlanTag
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(TypeOffset, 2)) == VlanTagProtocol;
    }

    /// <summary>The 12-bit VLAN identifier; 0 without a tag.</summary>
    public ushort VlanId => (ushort)(TagControl & 0x0FFF);

    /// <summary>The 3-bit priority code point; 0 without a tag.</summary>
    public byte Priority => (byte)(TagControl >> 13);

    /// <summary>The drop eligible indicator; false without a tag.</summary>
    public bool DropEligible => (TagControl & 0x1000) != 0;

    /// <summary>The EtherType of the payload: after the VLAN tag when there is one.</summary>
    public ushort EtherType
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(HasVlanTag ? TaggedTypeOffset : TypeOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(HasVlanTag ? TaggedTypeOffset : TypeOffset, 2), value);
    }

    public int HeaderLength => HasVlanTag ? TaggedHeaderLength : UntaggedHeaderLength;

    /// <summary>Everything after the header, including any padding to the 60-octet minimum.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    private ushort TagControl => HasVlanTag ? BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(TagControlOffset, 2)) : (ushort)0;
}

/// <summary>The fields of an Ethernet II header, for building and inspecting frames off the packet path.</summary>
public readonly record struct EthernetHeader(
    MacAddress Destination,
    MacAddress Source,
    ushort EtherType,
    bool HasVlanTag = false,
    ushort VlanId = 0,
    byte Priority = 0,
    bool DropEligible = false)
{
    public int EmitLength => HasVlanTag ? EthernetFrame.TaggedHeaderLength : EthernetFrame.UntaggedHeaderLength;

    public static bool TryParse(ReadOnlySpan<byte> bytes, out EthernetHeader header)
    {
        header = default;
        if (!EthernetFrame.TryCreate(ReadOnlyBytes.AsViewSource(bytes), out var frame))
        {
            return false;
        }

        header = new EthernetHeader(frame.Destination, frame.Source, frame.EtherType, frame.HasVlanTag, frame.VlanId, frame.Priority, frame.DropEligible);
        return true;
    }

    /// <summary>Writes the header and returns its length; throws if a field is out of range or the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        EmitGuard.AtMost(VlanId, 0x0FFF);
        EmitGuard.AtMost(Priority, 7);
        Destination.Write(destination[EthernetFrame.DestinationOffset..]);
        Source.Write(destination[EthernetFrame.SourceOffset..]);
        if (HasVlanTag)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[EthernetFrame.TypeOffset..], Wire.EtherType.Vlan);
            var control = (Priority << 13) | (DropEligible ? 0x1000 : 0) | VlanId;
            BinaryPrimitives.WriteUInt16BigEndian(destination[EthernetFrame.TagControlOffset..], (ushort)control);
            BinaryPrimitives.WriteUInt16BigEndian(destination[EthernetFrame.TaggedTypeOffset..], EtherType);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[EthernetFrame.TypeOffset..], EtherType);
        }

        return EmitLength;
    }
}
