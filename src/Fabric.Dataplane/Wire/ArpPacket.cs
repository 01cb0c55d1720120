using System.Buffers.Binary;
using System.Net;

namespace Fabric.Dataplane.Wire;

/// <summary>ARP operation codes (RFC 826).</summary>
public static class ArpOperation
{
    public const ushort Request = 1;
    public const ushort Reply = 2;
}

/// <summary>
/// A view over an ARP packet for Ethernet hardware addresses and IPv4 protocol addresses (RFC 826).
/// <see cref="TryCreate(Span{byte}, out ArpPacket, out WireError)"/> accepts only that combination; afterwards
/// no member throws. IPv4 addresses are host-order <see cref="uint"/>s.
/// </summary>
public readonly ref struct ArpPacket
{
    public const int HardwareTypeOffset = 0;
    public const int ProtocolTypeOffset = 2;
    public const int HardwareLengthOffset = 4;
    public const int ProtocolLengthOffset = 5;
    public const int OperationOffset = 6;
    public const int SenderHardwareAddressOffset = 8;
    public const int SenderProtocolAddressOffset = 14;
    public const int TargetHardwareAddressOffset = 18;
    public const int TargetProtocolAddressOffset = 24;

    /// <summary>The length of an Ethernet/IPv4 ARP packet; frames pad it to the Ethernet minimum.</summary>
    public const int Length = 28;

    /// <summary>Hardware type 1: Ethernet.</summary>
    public const ushort HardwareTypeEthernet = 1;

    private readonly Span<byte> _bytes;

    private ArpPacket(Span<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// A view over bytes <see cref="TryCreate(Span{byte}, out ArpPacket, out WireError)"/> already accepted (the packet
    /// path's parse stage checked them): none of its checks run again. Over any other bytes a member may throw.
    /// </summary>
    public static ArpPacket FromValidated(Span<byte> bytes) => new(bytes[..Length]);

    /// <summary>Checks for 28 octets naming Ethernet (6-octet) and IPv4 (4-octet) addresses; trailing padding is ignored.</summary>
    public static bool TryCreate(Span<byte> bytes, out ArpPacket packet) => TryCreate(bytes, out packet, out _);

    /// <inheritdoc cref="TryCreate(Span{byte}, out ArpPacket)"/>
    public static bool TryCreate(Span<byte> bytes, out ArpPacket packet, out WireError error)
    {
        packet = default;
        if (bytes.Length < Length)
        {
            error = WireError.Truncated;
            return false;
        }

        if (BinaryPrimitives.ReadUInt16BigEndian(bytes[HardwareTypeOffset..]) != HardwareTypeEthernet
            || BinaryPrimitives.ReadUInt16BigEndian(bytes[ProtocolTypeOffset..]) != EtherType.Ipv4
            || bytes[HardwareLengthOffset] != MacAddress.Length
            || bytes[ProtocolLengthOffset] != sizeof(uint))
        {
            error = WireError.Unsupported;
            return false;
        }

        packet = new ArpPacket(bytes[..Length]);
        error = WireError.None;
        return true;
    }

    /// <summary>The 28 octets of the packet, without padding.</summary>
    public Span<byte> Bytes => _bytes;

    /// <summary>See <see cref="ArpOperation"/>.</summary>
    public ushort Operation
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes.Slice(OperationOffset, 2));
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes.Slice(OperationOffset, 2), value);
    }

    public MacAddress SenderHardwareAddress
    {
        get => MacAddress.Read(_bytes[SenderHardwareAddressOffset..]);
        set => value.Write(_bytes[SenderHardwareAddressOffset..]);
    }

    public uint SenderProtocolAddress
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(SenderProtocolAddressOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(SenderProtocolAddressOffset, 4), value);
    }

    public MacAddress TargetHardwareAddress
    {
        get => MacAddress.Read(_bytes[TargetHardwareAddressOffset..]);
        set => value.Write(_bytes[TargetHardwareAddressOffset..]);
    }

    public uint TargetProtocolAddress
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(_bytes.Slice(TargetProtocolAddressOffset, 4));
        set => BinaryPrimitives.WriteUInt32BigEndian(_bytes.Slice(TargetProtocolAddressOffset, 4), value);
    }
}

/// <summary>The fields of an Ethernet/IPv4 ARP packet, for building and inspecting packets off the packet path.</summary>
public readonly record struct ArpMessage(
    ushort Operation,
    MacAddress SenderHardwareAddress,
    IPAddress SenderProtocolAddress,
    MacAddress TargetHardwareAddress,
    IPAddress TargetProtocolAddress)
{
    public static int EmitLength => ArpPacket.Length;

    public static bool TryParse(ReadOnlySpan<byte> bytes, out ArpMessage message)
    {
        message = default;
        if (!ArpPacket.TryCreate(ReadOnlyBytes.AsViewSource(bytes), out var packet))
        {
            return false;
        }

        message = new ArpMessage(
            packet.Operation,
            packet.SenderHardwareAddress,
            IpAddressConversions.ToIPAddress(packet.SenderProtocolAddress),
            packet.TargetHardwareAddress,
            IpAddressConversions.ToIPAddress(packet.TargetProtocolAddress));
        return true;
    }

    /// <summary>Writes the 28-octet packet and returns its length; throws if an address is not IPv4 or the destination is short.</summary>
    public int Emit(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, EmitLength, nameof(destination));
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.HardwareTypeOffset..], ArpPacket.HardwareTypeEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.ProtocolTypeOffset..], EtherType.Ipv4);
        destination[ArpPacket.HardwareLengthOffset] = MacAddress.Length;
        destination[ArpPacket.ProtocolLengthOffset] = sizeof(uint);
        BinaryPrimitives.WriteUInt16BigEndian(destination[ArpPacket.OperationOffset..], Operation);
        SenderHardwareAddress.Write(destination[ArpPacket.SenderHardwareAddressOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ArpPacket.SenderProtocolAddressOffset..], IpAddressConversions.ToIpv4(SenderProtocolAddress));
        TargetHardwareAddress.Write(destination[ArpPacket.TargetHardwareAddressOffset..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination[ArpPacket.TargetProtocolAddressOffset..], IpAddressConversions.ToIpv4(TargetProtocolAddress));
        return EmitLength;
    }
}
