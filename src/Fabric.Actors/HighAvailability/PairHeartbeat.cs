using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Fabric.Actors.HighAvailability;

/// <summary>
/// One heartbeat of an HA pair node to its partner, a UDP datagram on the management network:
/// <code>
///  0      'F' 'H' 'B' version(1)
///  4      role: 0 starting, 1 standby, 2 active (<see cref="PairRole"/>); 3 bytes zero
///  8      incarnation   the sender's random value for this run of its heartbeat link (never 0)
///  16     sequence      1, 2, 3... within the incarnation
///  24     echo          the receiver's incarnation as the sender last heard it (0: none yet)
///  32     takeovers     how many times the sender became active since its process started
///  40     HMAC-SHA256 of bytes 0-39 under the sender-to-receiver key, first 16 bytes
/// </code>
/// Integers are big-endian. Each direction has its own key (<see cref="DeriveKey"/>), so a node never takes its own
/// heartbeat, reflected back, for its partner's. Immutable.
/// </summary>
public readonly record struct PairHeartbeat(PairRole Role, ulong Incarnation, ulong Sequence, ulong Echo, long Takeovers)
{
    /// <summary>Bytes on the wire.</summary>
    public const int Length = 56;

    /// <summary>Bytes of a heartbeat key.</summary>
    public const int KeyLength = 32;

    private const int MacOffset = 40;
    private const int MacLength = 16;
    private const byte Version = 1;

    /// <summary>The salt that separates heartbeat keys from every other secret derived from a router's private key.</summary>
    public const string KeyLabel = "fabric-ha-heartbeat-v1";

    /// <summary>
    /// The key of heartbeats from node <paramref name="from"/> to node <paramref name="to"/> of router <paramref name="router"/>:
    /// <paramref name="derive"/> (the router's <c>RouterIdentity.DeriveSecret</c>) over <see cref="KeyLabel"/> and the direction.
    /// </summary>
    public static byte[] DeriveKey(Action<string, string, Span<byte>> derive, string router, string from, string to)
    {
        ArgumentNullException.ThrowIfNull(derive);
        var key = new byte[KeyLength];
        derive(KeyLabel, $"{router}/{from}->{to}", key);
        return key;
    }

    /// <summary>Writes the heartbeat, authenticated with <paramref name="key"/>, into the first <see cref="Length"/> bytes of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination, ReadOnlySpan<byte> key)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"A heartbeat takes {Length} bytes.", nameof(destination));
        }

        destination[0] = (byte)'F';
        destination[1] = (byte)'H';
        destination[2] = (byte)'B';
        destination[3] = Version;
        destination[4] = (byte)Role;
        destination[5..8].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Incarnation);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], Sequence);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], Echo);
        BinaryPrimitives.WriteInt64BigEndian(destination[32..], Takeovers);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, destination[..MacOffset], mac);
        mac[..MacLength].CopyTo(destination[MacOffset..]);
    }

    /// <summary>
    /// The heartbeat in <paramref name="datagram"/> when it is one (length, magic, version, flags) and its MAC is
    /// right under <paramref name="key"/>; false for anything else, never an exception.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> key, out PairHeartbeat heartbeat)
    {
        heartbeat = default;
        if (datagram.Length != Length || datagram[0] != 'F' || datagram[1] != 'H' || datagram[2] != 'B' || datagram[3] != Version
            || datagram[4] > (byte)PairRole.Active || datagram[5] != 0 || datagram[6] != 0 || datagram[7] != 0)
        {
            return false;
        }

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, datagram[..MacOffset], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac[..MacLength], datagram[MacOffset..]))
        {
            return false;
        }

        var incarnation = BinaryPrimitives.ReadUInt64BigEndian(datagram[8..]);
        if (incarnation == 0)
        {
            return false;
        }

        heartbeat = new PairHeartbeat(
            (PairRole)datagram[4],
            incarnation,
            BinaryPrimitives.ReadUInt64BigEndian(datagram[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(datagram[24..]),
            BinaryPrimitives.ReadInt64BigEndian(datagram[32..]));
        return true;
    }
}
