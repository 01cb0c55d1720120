using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Fabric.Http;

/// <summary>The bounds an <see cref="OperationsListener"/> holds every client to (docs/operations.md "The router's HTTP listener").</summary>
/// <param name="MaxHeadBytes">The request line and headers together; more is 431 and the connection closes.</param>
/// <param name="ReadTimeout">The time a client has to send its whole request head from being taken (past it, 408 and close), and again to take the answer.</param>
/// <param name="MaxConnections">Connections served at once; more wait in the kernel's listen backlog (64) until one ends, and past the backlog the kernel drops their SYNs (the client tries again).</param>
public sealed record OperationsListenerLimits(int MaxHeadBytes = 8 * 1024, TimeSpan? ReadTimeout = null, int MaxConnections = 32)
{
    public static OperationsListenerLimits Default { get; } = new();

    /// <summary>The read timeout in force: 10 s when none is given.</summary>
    public TimeSpan Timeout => ReadTimeout ?? TimeSpan.FromSeconds(10);
}

/// <summary>
/// A small HTTP/1.1 server on a TCP socket for a node's operations endpoints (what a monitoring system asks), without a web
/// host: one request per connection (every answer says <c>Connection: close</c>), GET only in practice, no request body
/// read, no TLS. Each connection is an asynchronous task that waits on the socket (no thread per connection; a listener
/// with no client uses no CPU). A client is held to <see cref="OperationsListenerLimits"/>: a head too large is 431, a
/// malformed one 400, one too slow 408, each closing that connection, and the listener goes on; connections beyond the cap
/// wait to be taken. After its answer the server stops sending, reads and drops what the client still sends (bounded by the
/// size and the timeout) and closes, so a client that sent a body reads the answer rather than a reset.
/// Thread-safe; dispose to stop (connections in progress are closed).
/// </summary>
public sealed class OperationsListener : IAsyncDisposable
{
    /// <summary>What the listener answers a request it can read: status, content type and body.</summary>
    public delegate Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel);

    private const int DrainBytes = 64 * 1024;

    private readonly Socket _socket;
    private readonly Handler _handler;
    private readonly OperationsListenerLimits _limits;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly SemaphoreSlim _slots;

    private OperationsListener(Socket socket, Handler handler, OperationsListenerLimits limits)
    {
        _socket = socket;
        _handler = handler;
        _limits = limits;
        _slots = new SemaphoreSlim(limits.MaxConnections, limits.MaxConnections);
        Endpoint = (IPEndPoint)socket.LocalEndPoint!;
        _accepting = Task.Run(Accept);
    }

    /// <summary>Where it listens (with the port the system chose, when asked for port 0).</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/>; throws <see cref="IOException"/> when the address cannot be bound.</summary>
    public static OperationsListener Start(IPAddress address, int port, Handler handler, OperationsListenerLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(handler);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(64);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"cannot listen on {address}:{port}: {e.Message}", e);
        }

        return new OperationsListener(socket, handler, limits ?? OperationsListenerLimits.Default);
    }

    private async Task Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                // At the cap, connections wait in the kernel's backlog until one in service ends.
                await _slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                client = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // Out of descriptors or a connection reset before it was taken: wait a little rather than spin.
                _slots.Release();
                await Task.Delay(TimeSpan.FromMilliseconds(100), _stop.Token).ConfigureAwait(false);
                continue;
            }

            _ = Serve(client);
        }
    }

    private async Task Serve(Socket client)
    {
        try
        {
            client.NoDelay = true;
            OperationsAnswer answer;
            using (var reading = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                reading.CancelAfter(_limits.Timeout);
                answer = await Read(client, reading.Token).ConfigureAwait(false);
            }

            using var writing = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            writing.CancelAfter(_limits.Timeout);
            await Write(client, answer, writing.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Send);
            await Drain(client, writing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // The client went away, was too slow (answered 408 in Read when it could be), or the listener stops.
        }
        finally
        {
            client.Dispose();
            _slots.Release();
        }
    }

    /// <summary>Reads the request head and answers it; a head that is too large, malformed or late gets its error answer.</summary>
    private async Task<OperationsAnswer> Read(Socket client, CancellationToken deadline)
    {
        var buffer = new byte[_limits.MaxHeadBytes];
        var filled = 0;
        while (true)
        {
            int read;
            try
            {
                read = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, deadline).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
            {
                return Error(408, "request head not received in time\n");
            }

            if (read == 0)
            {
                throw new IOException("the client closed before its request was complete");
            }

            var searchFrom = Math.Max(0, filled - 3);
            filled += read;
            var end = buffer.AsSpan(searchFrom, filled - searchFrom).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return RequestHead.TryParse(buffer.AsSpan(0, searchFrom + end), out var method, out var path)
                    ? await Answer(method, path, deadline).ConfigureAwait(false)
                    : Error(400, "malformed request\n");
            }

            if (filled == buffer.Length)
            {
                return Error(431, $"request head larger than {_limits.MaxHeadBytes} bytes\n");
            }
        }
    }

    /// <summary>The handler's answer; 500 when it fails (the listener goes on).</summary>
    private async Task<OperationsAnswer> Answer(string method, string path, CancellationToken deadline)
    {
        try
        {
            return await _handler(method, path, deadline).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Error(500, "the node could not answer\n");
        }
    }

    private static OperationsAnswer Error(int status, string message) => new(status, "text/plain; charset=utf-8", Encoding.ASCII.GetBytes(message));

    private static async Task Write(Socket client, OperationsAnswer answer, CancellationToken deadline)
    {
        var head = Head(answer.Status, answer.ContentType, answer.Body.Length);
        await client.SendAsync(head, SocketFlags.None, deadline).ConfigureAwait(false);
        var sent = 0;
        while (sent < answer.Body.Length)
        {
            sent += await client.SendAsync(answer.Body.AsMemory(sent), SocketFlags.None, deadline).ConfigureAwait(false);
        }
    }

    /// <summary>Reads and drops what the client still sends, up to <see cref="DrainBytes"/>, until it closes or the deadline.</summary>
    private static async Task Drain(Socket client, CancellationToken deadline)
    {
        var sink = new byte[1024];
        for (var drained = 0; drained < DrainBytes;)
        {
            var read = await client.ReceiveAsync(sink, SocketFlags.None, deadline).ConfigureAwait(false);
            if (read == 0)
            {
                return;
            }

            drained += read;
        }
    }

    private static byte[] Head(int status, string? contentType, int length)
    {
        var head = new StringBuilder()
            .Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n");
        if (contentType is not null)
        {
            head.Append("Content-Type: ").Append(contentType).Append("\r\n");
        }

        if (status == 405)
        {
            head.Append("Allow: ").Append(OperationsAnswer.Allow).Append("\r\n");
        }

        head.Append("Content-Length: ").Append(length).Append("\r\nConnection: close\r\n\r\n");
        return Encoding.ASCII.GetBytes(head.ToString());
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Status",
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }
}

/// <summary>
/// An HTTP/1.1 request head (RFC 9112): the request line <c>METHOD SP origin-form SP HTTP/1.x</c> and header fields
/// <c>name: value</c>, every line ending in CRLF. Only the method and the path (the target without its query) are kept.
/// </summary>
internal static class RequestHead
{
    /// <summary>Parses a head (without its final empty line); false when it is not a well-formed HTTP/1.x head.</summary>
    public static bool TryParse(ReadOnlySpan<byte> head, out string method, out string path)
    {
        method = path = "";
        var lineEnd = head.IndexOf("\r\n"u8);
        var line = lineEnd < 0 ? head : head[..lineEnd];
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

        for (var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..]; !rest.IsEmpty;)
        {
            var end = rest.IndexOf("\r\n"u8);
            var field = end < 0 ? rest : rest[..end];
            var colon = field.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(field[..colon]) || field.IndexOfAny((byte)'\r', (byte)'\n', (byte)0) >= 0)
            {
                return false;
            }

            rest = end < 0 ? [] : rest[(end + 2)..];
        }

        var query = target.IndexOf((byte)'?');
        method = Encoding.ASCII.GetString(methodBytes);
        path = Encoding.ASCII.GetString(query < 0 ? target : target[..query]);
        return true;
    }

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
