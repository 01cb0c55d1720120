using System.Buffers.Binary;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// The packet-path input format: a sequence of records, each one frame handed to one router's port.
/// <code>
///   byte 0   where: router = where % 3 (0 br1, 1 dc1, 2 br2); port = (where / 3) % the router's port count
///   byte 1   how:   bits 0-1 clock step before the frame (none, 10 ms, 3 s, 200 s; a step runs every router once)
///                   bit 2    repair lengths and checksums first (so mutations reach past the parser's checks)
///                   bit 3    settle afterwards (what the frame caused crosses to the other routers and hosts)
///                   bit 4    a super-packet (GSO) of the frame's kind; bit 5 its checksum is partial;
///                   bits 6-7 its segment size (536, 1000, 1448, 64)
///   bytes 2-3 the frame's length, big-endian (cut to what is left of the input)
///   then the frame
/// </code>
/// A plain reader over the input. The number of records is bounded only by the input's size (AFL's, and its
/// time limit, keep inputs small).
/// </summary>
public ref struct FrameScript(ReadOnlySpan<byte> input)
{
    public const int HeaderLength = 4;

    private static readonly long[] ClockSteps = [0, 10_000, 3_000_000, 200_000_000];
    private static readonly ushort[] SegmentSizes = [536, 1000, 1448, 64];

    private ReadOnlySpan<byte> _rest = input;

    /// <summary>One record: <paramref name="frame"/> to port <paramref name="port"/> of router <paramref name="router"/> (0 br1, 1 dc1, 2 br2).</summary>
    public static byte[] Record(int router, int port, FrameFlags flags, ReadOnlySpan<byte> frame)
    {
        var record = new byte[HeaderLength + frame.Length];
        record[0] = (byte)(router + (3 * port));
        record[1] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(2), (ushort)frame.Length);
        frame.CopyTo(record.AsSpan(HeaderLength));
        return record;
    }

    public bool Next(out FrameRecord record)
    {
        record = default;
        if (_rest.Length < HeaderLength)
        {
            return false;
        }

        var where = _rest[0];
        var how = _rest[1];
        var length = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(_rest[2..]), _rest.Length - HeaderLength);
        record = new FrameRecord(
            where % 3, where / 3, ClockSteps[how & 3], (how & 4) != 0, (how & 8) != 0, (how & 16) != 0, (how & 32) != 0,
            SegmentSizes[how >> 6], _rest.Slice(HeaderLength, length), where, how);
        _rest = _rest[(HeaderLength + length)..];
        return true;
    }
}

/// <summary>The flags of a record's second byte (see <see cref="FrameScript"/>).</summary>
[Flags]
public enum FrameFlags : byte
{
    None = 0,
    Step10Milliseconds = 1,
    Step3Seconds = 2,
    Step200Seconds = 3,
    Repair = 4,
    Settle = 8,
    SuperPacket = 16,
    ChecksumPartial = 32,
}

/// <summary>One record of a <see cref="FrameScript"/>; <see cref="Port"/> is taken modulo the router's port count.</summary>
public readonly ref struct FrameRecord(
    int router, int port, long clockStepMicroseconds, bool repair, bool settle, bool superPacket, bool checksumPartial, ushort segmentSize,
    ReadOnlySpan<byte> frame, byte where, byte how)
{
    /// <summary>The record as it would be written, with <paramref name="extra"/> flags added.</summary>
    public byte[] Write(FrameFlags extra = FrameFlags.None)
    {
        var record = FrameScript.Record(0, 0, (FrameFlags)(how | (byte)extra), Frame);
        record[0] = where;
        return record;
    }

    public int Router { get; } = router;

    public int Port { get; } = port;

    public long ClockStepMicroseconds { get; } = clockStepMicroseconds;

    public bool Repair { get; } = repair;

    public bool Settle { get; } = settle;

    public bool SuperPacket { get; } = superPacket;

    public bool ChecksumPartial { get; } = checksumPartial;

    public ushort SegmentSize { get; } = segmentSize;

    public ReadOnlySpan<byte> Frame { get; } = frame;
}
