using System.Buffers.Binary;
using Fabric.Dataplane.Wire;
using FsCheck;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Wire;

public class ChecksumTests
{
    [Fact]
    public void Checksum_Rfc1071Example_ComputesComplementOfDdf2()
    {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        byte[] data = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7];

        Assert.Equal(0x220D, Checksum.Compute(data));
    }

    [Fact]
    public void Checksum_OddLength_PadsFinalOctetWithZero()
    {
        byte[] data = [0x12, 0x34, 0x56];

        // 0x1234 + 0x5600 = 0x6834, complemented.
        Assert.Equal(0x97CB, Checksum.Compute(data));
    }

    [Property]
    public bool Checksum_Compute_EqualsWordByWordReference(byte[] data) =>
        Checksum.Compute(data) == ReferenceChecksum(data);

    [Property]
    public bool Checksum_Ipv4BaseHeader_EqualsComputeOfItsTwentyOctets(DoNotSize<ulong> first, DoNotSize<ulong> second, DoNotSize<uint> last, bool edges)
    {
        // Unsized: FsCheck keeps sized integers near zero, which would leave the high octets (and their carries) untried.
        var (a, b, c) = (first.Item, second.Item, last.Item);
        var header = new byte[20];
        if (edges)
        {
            // Every word 0xFFFF: the sum where a one's-complement zero could come out as 0x0000 in one form and 0xFFFF in the other.
            header.AsSpan().Fill(0xFF);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(header, a);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), b);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(16), c);
        }

        var computed = Checksum.ComputeIpv4BaseHeader(header);
        return computed == Checksum.Compute(header) && computed == ReferenceChecksum(header);
    }

    [Property]
    public bool Checksum_AddInEvenPieces_EqualsWhole(byte[] data, byte cut)
    {
        var split = Math.Min(cut * 2, data.Length & ~1);
        var sum = Checksum.Add(Checksum.Add(0, data.AsSpan(0, split)), data.AsSpan(split));
        return Checksum.Finish(sum) == Checksum.Compute(data);
    }

    [Fact]
    public void Checksum_Ipv4PseudoHeader_MatchesExplicitPseudoHeaderBytes()
    {
        byte[] pseudo = [10, 0, 0, 1, 192, 168, 200, 3, 0, 6, 0x05, 0xDC];

        var sum = Checksum.PseudoHeaderIpv4(0x0A000001, 0xC0A8C803, IpProtocol.Tcp, 1500);

        Assert.Equal(Checksum.Compute(pseudo), Checksum.Finish(sum));
    }

    [Fact]
    public void Checksum_Ipv6PseudoHeader_MatchesExplicitPseudoHeaderBytes()
    {
        var pseudo = new byte[40];
        var source = IpAddressConversions.ParseIpv6("fd00::1:2:3:ffff");
        var destination = IpAddressConversions.ParseIpv6("2001:db8:ffff::9");
        BinaryPrimitives.WriteUInt128BigEndian(pseudo, source);
        BinaryPrimitives.WriteUInt128BigEndian(pseudo.AsSpan(16), destination);
        BinaryPrimitives.WriteUInt32BigEndian(pseudo.AsSpan(32), 70000);
        pseudo[39] = IpProtocol.Udp;

        var sum = Checksum.PseudoHeaderIpv6(source, destination, IpProtocol.Udp, 70000);

        Assert.Equal(Checksum.Compute(pseudo), Checksum.Finish(sum));
    }

    [Property]
    public bool Checksum_Update16_EqualsFullRecompute(byte[] data, ushort wordIndex, ushort newValue)
    {
        var message = WithNonZeroWord(data, 2);
        var at = wordIndex % (message.Length / 2) * 2;
        var before = Checksum.Compute(message);
        var oldValue = BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(at));

        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(at), newValue);

        return Checksum.Update16(before, oldValue, newValue) == Checksum.Compute(message) || IsAllZero(message);
    }

    [Property]
    public bool Checksum_Update32_EqualsFullRecompute(byte[] data, ushort wordIndex, uint newValue)
    {
        var message = WithNonZeroWord(data, 4);
        var at = wordIndex % ((message.Length / 2) - 1) * 2;
        var before = Checksum.Compute(message);
        var oldValue = BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(at));

        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(at), newValue);

        return Checksum.Update32(before, oldValue, newValue) == Checksum.Compute(message) || IsAllZero(message);
    }

    [Property]
    public bool Checksum_Update128_EqualsFullRecompute(byte[] data, ushort wordIndex, ulong newUpper, ulong newLower)
    {
        var message = WithNonZeroWord(data, 16);
        var at = wordIndex % ((message.Length / 2) - 7) * 2;
        var newValue = new UInt128(newUpper, newLower);
        var before = Checksum.Compute(message);
        var oldValue = BinaryPrimitives.ReadUInt128BigEndian(message.AsSpan(at));

        BinaryPrimitives.WriteUInt128BigEndian(message.AsSpan(at), newValue);

        return Checksum.Update128(before, oldValue, newValue) == Checksum.Compute(message) || IsAllZero(message);
    }

    [Property]
    public bool Checksum_Ipv4HeaderRewrites_IncrementalEqualsRecompute(uint source, uint destination, byte ttl, byte protocol, ushort identification, uint newSource, uint newDestination)
    {
        var bytes = new byte[20];
        new Ipv4Header(0, 0, 20, identification, true, false, 0, ttl, protocol, 0,
            IpAddressConversions.ToIPAddress(source), IpAddressConversions.ToIPAddress(destination)).Emit(bytes);
        Ipv4Packet.TryCreate(bytes, out var ip);
        ip.UpdateHeaderChecksum();

        ip.RewriteSource(newSource);
        ip.RewriteDestination(newDestination);
        var decremented = ip.TryDecrementTtl();
        var incremental = ip.HeaderChecksum;
        ip.UpdateHeaderChecksum();

        return incremental == ip.HeaderChecksum && ip.IsHeaderChecksumValid && decremented == ttl > 1;
    }

    [Fact]
    public void Checksum_UpdateForTtlDecrement_EqualsUpdate16ForEveryChecksum()
    {
        for (var checksum = 0; checksum <= ushort.MaxValue; checksum++)
        {
            foreach (ushort word in (ushort[])[0x0206, 0x4011, 0xFF3A])
            {
                Assert.Equal(Checksum.Update16((ushort)checksum, word, (ushort)(word - 0x0100)), Checksum.UpdateForTtlDecrement((ushort)checksum));
            }
        }
    }

    [Property]
    public bool Checksum_DeltasAppliedOnce_EqualUpdatesInTurn(ushort checksum, uint oldAddress, uint newAddress, ushort oldPort, ushort newPort, bool edges)
    {
        // Edges: the values where a one's-complement zero could come out as 0x0000 in one form and 0xFFFF in the other.
        if (edges)
        {
            (checksum, oldAddress, newAddress, oldPort) = (0xFFFF, uint.MaxValue, 0, 0xFFFF);
        }

        var inTurn = Checksum.Update16(Checksum.Update32(checksum, oldAddress, newAddress), oldPort, newPort);
        var once = Checksum.Apply(checksum, Checksum.Delta32(oldAddress, newAddress) + Checksum.Delta16(oldPort, newPort));
        return once == inTurn;
    }

    [Property]
    public bool Checksum_Delta128AppliedWithAPort_EqualsUpdatesInTurn(ushort checksum, ulong oldUpper, ulong oldLower, ulong newUpper, ushort oldPort, ushort newPort)
    {
        var (from, to) = (new UInt128(oldUpper, oldLower), new UInt128(newUpper, oldLower ^ newUpper));
        var inTurn = Checksum.Update16(Checksum.Update128(checksum, from, to), oldPort, newPort);
        return Checksum.Apply(checksum, Checksum.Delta128(from, to) + Checksum.Delta16(oldPort, newPort)) == inTurn;
    }

    internal static ushort ReferenceChecksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (var i = 0; i < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8) | (i + 1 < data.Length ? data[i + 1] : 0u);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }

    private static byte[] WithNonZeroWord(byte[] data, int minimumLength)
    {
        var message = new byte[Math.Max(minimumLength, (data?.Length ?? 0) & ~1)];
        data?.AsSpan(0, Math.Min(data.Length, message.Length)).CopyTo(message);
        message[0] |= 0x80;
        return message;
    }

    private static bool IsAllZero(ReadOnlySpan<byte> data) => !data.ContainsAnyExcept((byte)0);
}
