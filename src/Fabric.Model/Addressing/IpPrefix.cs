using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Fabric.Model.Addressing;

/// <summary>
/// An IPv4 or IPv6 address with a prefix length, as written in configuration ("10.1.0.0/16", "fd00::1/64").
/// The address keeps its host bits: an interface address ("10.1.0.1/24") and a network prefix
/// ("10.1.0.0/24") are both prefixes; <see cref="IsNetwork"/> tells them apart.
/// </summary>
public readonly record struct IpPrefix
{
    public IpPrefix(IPAddress address, int length)
    {
        ArgumentNullException.ThrowIfNull(address);
        var max = MaxLength(address.AddressFamily);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, max);
        Address = address;
        Length = length;
    }

    public IPAddress Address { get; }

    public int Length { get; }

    public bool IsIPv4 => Address.AddressFamily == AddressFamily.InterNetwork;

    /// <summary>True when no bit beyond the prefix length is set.</summary>
    public bool IsNetwork => Address.Equals(Network.Address);

    /// <summary>The prefix with every host bit cleared.</summary>
    public IpPrefix Network
    {
        get
        {
            var bytes = Address.GetAddressBytes();
            for (var bit = Length; bit < bytes.Length * 8; bit++)
            {
                bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            }

            return new IpPrefix(new IPAddress(bytes), Length);
        }
    }

    public static int MaxLength(AddressFamily family) => family == AddressFamily.InterNetwork ? 32 : 128;

    /// <summary>Whether <paramref name="address"/> lies inside this prefix (same family, same leading bits).</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != Address.AddressFamily)
        {
            return false;
        }

        return new IpPrefix(address, Length).Network.Address.Equals(Network.Address);
    }

    /// <summary>Whether the two prefixes share at least one address.</summary>
    public bool Overlaps(IpPrefix other) =>
        other.Address.AddressFamily == Address.AddressFamily &&
        (Length <= other.Length ? Contains(other.Address) : other.Contains(Address));

    /// <summary>Parses "address/length"; a bare address is a host prefix (/32 or /128).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out IpPrefix? prefix)
    {
        prefix = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (!TryParseAddress(addressText, out var address))
        {
            return false;
        }

        var max = MaxLength(address.AddressFamily);
        var length = max;
        if (slash >= 0)
        {
            var lengthText = text[(slash + 1)..];
            if (lengthText.Length is 0 or > 3 || !lengthText.All(char.IsAsciiDigit) ||
                !int.TryParse(lengthText, out length) || length > max)
            {
                return false;
            }
        }

        prefix = new IpPrefix(address, length);
        return true;
    }

    /// <summary>
    /// Parses a plain IPv4 dotted quad or an IPv6 address, refusing the shorthand forms that
    /// <see cref="IPAddress.TryParse(string, out IPAddress)"/> accepts ("10.1", "1") and scope ids.
    /// </summary>
    public static bool TryParseAddress(string? text, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (string.IsNullOrEmpty(text) || text.Contains('%', StringComparison.Ordinal))
        {
            return false;
        }

        if (!IPAddress.TryParse(text, out var parsed))
        {
            return false;
        }

        if (parsed.AddressFamily == AddressFamily.InterNetwork &&
            (text.Count(c => c == '.') != 3 || !text.All(c => c == '.' || char.IsAsciiDigit(c))))
        {
            return false;
        }

        if (parsed.AddressFamily == AddressFamily.InterNetworkV6 && !text.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        address = parsed;
        return true;
    }

    public override string ToString() => $"{Address}/{Length}";
}
