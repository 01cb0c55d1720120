using System.Text;

namespace Fabric.Http;

/// <summary>
/// An HTTP/1.1 request head (RFC 9112): the request line <c>METHOD SP origin-form SP HTTP/1.x</c> and header fields
/// <c>name: value</c>, every line ending in CRLF or a bare LF (RFC 9112 section 2.2 lets a server take LF alone, as
/// Kestrel did). Only the method and the path (the target without its query) are kept.
/// </summary>
internal static class RequestHead
{
    /// <summary>The longest method taken (no client of the operations endpoints sends a longer one).</summary>
    private const int MaxMethodBytes = 32;

    /// <summary>The length of the head in <paramref name="received"/> before the empty line that ends it, or -1 while none is received.</summary>
    public static int End(ReadOnlySpan<byte> received)
    {
        for (var at = received.IndexOf((byte)'\n'); at >= 0;)
        {
            var next = at + 1;
            if (next < received.Length && received[next] == (byte)'\n')
            {
                return at;
            }

            if (next + 1 < received.Length && received[next] == (byte)'\r' && received[next + 1] == (byte)'\n')
            {
                return at;
            }

            var further = received[next..].IndexOf((byte)'\n');
            at = further < 0 ? -1 : next + further;
        }

        return -1;
    }

    /// <summary>
    /// Whether the first bytes of a head not yet complete already rule out an HTTP request: a first byte that is not a token
    /// character (a TLS ClientHello begins 0x16), a method longer than <see cref="MaxMethodBytes"/>, or a method not followed
    /// by <c>SP /</c>.
    /// </summary>
    public static bool CannotBeHttp(ReadOnlySpan<byte> received)
    {
        var space = received.IndexOf((byte)' ');
        var method = space < 0 ? received : received[..space];
        if (method.Length > MaxMethodBytes || (space == 0) || (!method.IsEmpty && !IsToken(method)))
        {
            return true;
        }

        return space >= 0 && space + 1 < received.Length && received[space + 1] != (byte)'/';
    }

    /// <summary>Parses a head (without its final empty line); false when it is not a well-formed HTTP/1.x head.</summary>
    public static bool TryParse(ReadOnlySpan<byte> head, out string method, out string path)
    {
        method = path = "";
        var lineEnd = head.IndexOf((byte)'\n');
        var line = TrimCr(lineEnd < 0 ? head : head[..lineEnd]);
        var firstSpace = line.IndexOf((byte)' ');
        var lastSpace = line.LastIndexOf((byte)' ');
        if (firstSpace <= 0 || lastSpace <= firstSpace + 1)
        {
            return false;
        }

        var methodBytes = line[..firstSpace];
        var target = line[(firstSpace + 1)..lastSpace];
        var version = line[(lastSpace + 1)..];
        if (!IsToken(methodBytes) || target.Length == 0 || target[0] != (byte)'/' || !IsVisible(target)
            || !(version.SequenceEqual("HTTP/1.1"u8) || version.SequenceEqual("HTTP/1.0"u8)))
        {
            return false;
        }

        for (var rest = lineEnd < 0 ? [] : head[(lineEnd + 1)..]; !rest.IsEmpty;)
        {
            var end = rest.IndexOf((byte)'\n');
            var field = TrimCr(end < 0 ? rest : rest[..end]);
            var colon = field.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(field[..colon]) || field.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
            {
                return false;
            }

            rest = end < 0 ? [] : rest[(end + 1)..];
        }

        var query = target.IndexOf((byte)'?');
        method = Encoding.ASCII.GetString(methodBytes);
        path = Encoding.ASCII.GetString(query < 0 ? target : target[..query]);
        return true;
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) => !line.IsEmpty && line[^1] == (byte)'\r' ? line[..^1] : line;

    /// <summary>An RFC 9110 token: one or more visible ASCII characters but delimiters.</summary>
    private static bool IsToken(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
        {
            if (c <= 0x20 || c >= 0x7f || "\"(),/:;<=>?@[\\]{}"u8.Contains(c))
            {
                return false;
            }
        }

        return !text.IsEmpty;
    }

    private static bool IsVisible(ReadOnlySpan<byte> text)
    {
        foreach (var c in text)
        {
            if (c <= 0x20 || c >= 0x7f)
            {
                return false;
            }
        }

        return true;
    }
}
