using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Fabric.Http;

/// <summary>The bounds an <see cref="OperationsListener"/> holds every client to (docs/operations.md "A router's listener").</summary>
/// <param name="MaxHeadBytes">The request line and headers together; more is 431 and the connection closes.</param>
/// <param name="ReadTimeout">The time from a connection being taken until its answer is ready: the client's request head (past it while reading, 408 and close) and the node computing the answer (past it, 503); and again for the client to take the answer. At most <see cref="int.MaxValue"/> milliseconds (about 24.8 days).</param>
/// <param name="MaxConnections">Connections held at once; a connection taken at the cap closes the oldest one still sending its head (else the oldest one), so a client that sends its request at once is always served.</param>
public sealed record OperationsListenerLimits(int MaxHeadBytes = 8 * 1024, TimeSpan? ReadTimeout = null, int MaxConnections = 512)
{
    public static OperationsListenerLimits Default { get; } = new();

    /// <summary>The read timeout in force: 5 s when none is given.</summary>
    public TimeSpan Timeout => ReadTimeout ?? TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless every bound is positive and the timeout at most <see cref="int.MaxValue"/> ms (what a cancellation timer takes).</summary>
    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxHeadBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxConnections);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Timeout, TimeSpan.FromMilliseconds(int.MaxValue));
    }
}

/// <summary>
/// A small HTTP/1.1 server on a TCP socket for a node's operations endpoints (what a monitoring system asks), without a web
/// host: one request per connection (every answer says <c>Connection: close</c>), GET and HEAD in practice, no request body
/// read, no TLS. Each connection is an asynchronous task that waits on the socket (no thread per connection; a listener
/// with no client uses no CPU). A client is held to <see cref="OperationsListenerLimits"/>: a head too large is 431, a
/// malformed one (or a first line that cannot be HTTP, at once) 400, one too slow 408, each answered and closed at once,
/// and the listener goes on; an answer the handler has not ready by the same deadline is 503, a handler that fails 500.
/// At the connection cap a new connection is taken and the oldest connection still sending its
/// head is closed, so idle connections cannot keep a well-behaved client (a probe, a scrape) out. After an answer the
/// server stops sending, reads and drops what the client still sends (bounded by the size and the timeout) and closes, so
/// a client that sent a body reads the answer rather than a reset. Thread-safe; dispose to stop (connections in progress
/// are closed and awaited).
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

    /// <summary>Connections held, oldest first (those counted against the cap); guarded by itself.</summary>
    private readonly LinkedList<Connection> _connections = [];

    /// <summary>Every connection whose task has not ended, evicted ones too (what dispose closes and awaits); guarded by <see cref="_connections"/>.</summary>
    private readonly HashSet<Connection> _open = [];

    private int _disposed;
    private long _acceptFailures;

    private OperationsListener(Socket socket, Handler handler, OperationsListenerLimits limits)
    {
        _socket = socket;
        _handler = handler;
        _limits = limits;
        Endpoint = (IPEndPoint)socket.LocalEndPoint!;
        _accepting = Task.Run(Accept);
    }

    /// <summary>Where it listens (with the port the system chose, when asked for port 0).</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>Accepts that failed for another reason than a stop (the loop waits a little and goes on); for tests, no metric exports it.</summary>
    public long AcceptFailures => Interlocked.Read(ref _acceptFailures);

    /// <summary>
    /// Listens on <paramref name="address"/>:<paramref name="port"/> (both IPv4 and IPv6 for <see cref="IPAddress.IPv6Any"/>);
    /// throws <see cref="IOException"/> when the address cannot be bound (among others when another socket holds the port).
    /// </summary>
    public static OperationsListener Start(IPAddress address, int port, Handler handler, OperationsListenerLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(handler);
        limits ??= OperationsListenerLimits.Default;
        limits.Validate();
        Socket? socket = null;
        try
        {
            // No SO_REUSEADDR option set here: .NET maps it to SO_REUSEPORT on Linux, which would let a second process
            // bind the port too and take half the scrapes. Bind sets SO_REUSEADDR for TCP itself (rebinding after a restart).
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(address, port));
            socket.Listen(512);
        }
        catch (Exception e) when (e is SocketException or NotSupportedException or ArgumentOutOfRangeException)
        {
            socket?.Dispose();
            throw new IOException($"cannot listen on {address}:{port}: {e.Message}", e);
        }

        return new OperationsListener(socket, handler, limits);
    }

    private async Task Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var client = await _socket.AcceptAsync(_stop.Token).ConfigureAwait(false);
                Connection connection;
                try
                {
                    connection = new Connection(client, _stop.Token);
                }
                catch
                {
                    client.Dispose();
                    throw;
                }

                // Served (and so, whatever happens next, disposed with its slot released by Serve) before another is evicted.
                Connection? evicted = null;
                lock (_connections)
                {
                    if (_connections.Count >= _limits.MaxConnections)
                    {
                        evicted = Oldest();
                        _connections.Remove(evicted.Node!);
                    }

                    connection.Node = _connections.AddLast(connection);
                    _open.Add(connection);
                    connection.Serving = Serve(connection);
                }

                evicted?.Close();
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                // Out of descriptors, a connection reset before it was taken, or anything unforeseen: count it and wait a
                // little rather than spin or stop listening.
                Interlocked.Increment(ref _acceptFailures);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>The oldest connection still reading its head, else the oldest; called under the lock with at least one held.</summary>
    private Connection Oldest()
    {
        for (var node = _connections.First; node is not null; node = node.Next)
        {
            if (node.Value.ReadingHead)
            {
                return node.Value;
            }
        }

        return _connections.First!.Value;
    }

    private async Task Serve(Connection connection)
    {
        // The accept loop goes on at once; the connection is served on the thread pool.
        await Task.Yield();
        var client = connection.Socket;
        try
        {
            client.NoDelay = true;
            OperationsAnswer answer;
            bool head;
            using (var reading = CancellationTokenSource.CreateLinkedTokenSource(connection.Closing))
            {
                reading.CancelAfter(_limits.Timeout);
                (answer, head) = await Read(connection, reading.Token).ConfigureAwait(false);
            }

            connection.ReadingHead = false;
            using var writing = CancellationTokenSource.CreateLinkedTokenSource(connection.Closing);
            writing.CancelAfter(_limits.Timeout);
            await Write(client, answer, head, writing.Token).ConfigureAwait(false);
            if (answer.Status is 400 or 408 or 431)
            {
                // Not a request the listener could read: close now, waiting for nothing more. What the client sent and the
                // listener did not read is dropped first, so the close is not a reset that could cost the client the answer.
                Discard(client);
                return;
            }

            client.Shutdown(SocketShutdown.Send);
            await Drain(client, writing.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // The client went away, was too slow (answered 408 in Read when it could be), was closed at the cap, or the listener stops.
        }
        finally
        {
            lock (_connections)
            {
                if (connection.Node?.List is not null)
                {
                    _connections.Remove(connection.Node);
                }

                _open.Remove(connection);
            }

            connection.Dispose();
        }
    }

    /// <summary>Reads the request head and answers it (and whether the request was HEAD); a head that is too large, malformed or late gets its error answer.</summary>
    private async Task<(OperationsAnswer Answer, bool Head)> Read(Connection connection, CancellationToken deadline)
    {
        var buffer = new byte[_limits.MaxHeadBytes];
        var filled = 0;
        while (true)
        {
            int read;
            try
            {
                read = await connection.Socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, deadline).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!connection.Closing.IsCancellationRequested)
            {
                return (Error(408, "request head not received in time\n"), false);
            }

            if (read == 0)
            {
                throw new IOException("the client closed before its request was complete");
            }

            filled += read;
            var received = buffer.AsSpan(0, filled);
            var end = RequestHead.End(received);
            if (end >= 0)
            {
                // The head is in: from here the connection is a request being answered, not an idle socket the cap may close first.
                connection.ReadingHead = false;
                if (!RequestHead.TryParse(received[..end], out var method, out var path))
                {
                    return (Error(400, "malformed request\n"), false);
                }

                var head = method == "HEAD";
                return (await Answer(method, path, connection.Closing, deadline).ConfigureAwait(false), head);
            }

            if (RequestHead.CannotBeHttp(received))
            {
                return (Error(400, "malformed request\n"), false);
            }

            if (filled == buffer.Length)
            {
                return (Error(431, $"request head larger than {_limits.MaxHeadBytes} bytes\n"), false);
            }
        }
    }

    /// <summary>
    /// The handler's answer: 503 when it is not ready by the deadline (the handler is left to end on its token), 500 when it
    /// fails in any other way (its own cancellation too); the listener goes on. When the connection is closed (at the cap,
    /// or the listener stops) the cancellation is thrown and nothing is answered.
    /// </summary>
    private async Task<OperationsAnswer> Answer(string method, string path, CancellationToken closing, CancellationToken deadline)
    {
        try
        {
            return await _handler(method, path, deadline).WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (Exception) when (closing.IsCancellationRequested)
        {
            throw new OperationCanceledException(closing);
        }
        catch (Exception) when (deadline.IsCancellationRequested)
        {
            return Error(503, "not answered in time\n");
        }
        catch (Exception)
        {
            return Error(500, "the node could not answer\n");
        }
    }

    private static OperationsAnswer Error(int status, string message) => new(status, "text/plain; charset=utf-8", Encoding.ASCII.GetBytes(message));

    /// <summary>Writes the answer; for HEAD its head only (with the length the body would have).</summary>
    private static async Task Write(Socket client, OperationsAnswer answer, bool headOnly, CancellationToken deadline)
    {
        var head = Head(answer.Status, answer.ContentType, answer.Body.Length);
        await client.SendAsync(head, SocketFlags.None, deadline).ConfigureAwait(false);
        var sent = 0;
        while (!headOnly && sent < answer.Body.Length)
        {
            sent += await client.SendAsync(answer.Body.AsMemory(sent), SocketFlags.None, deadline).ConfigureAwait(false);
        }
    }

    /// <summary>Drops what has been received and not read, up to <see cref="DrainBytes"/>, without waiting for more.</summary>
    private static void Discard(Socket client)
    {
        var sink = new byte[1024];
        for (var drained = 0; drained < DrainBytes && client.Available > 0;)
        {
            drained += client.Receive(sink, Math.Min(sink.Length, client.Available), SocketFlags.None);
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
            .Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n")
            .Append("Date: ").Append(DateTime.UtcNow.ToString("r", CultureInfo.InvariantCulture)).Append("\r\n");
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

    /// <summary>The reason phrase of every status the listener or its handler answers; another status is a defect.</summary>
    internal static string Reason(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "no reason phrase for this status"),
    };

    /// <summary>
    /// Stops listening, closes every connection in progress (those closed at the cap and still ending too: each is cancelled
    /// and its socket disposed, so a blocked send or receive ends) and waits for their tasks; a second call does nothing.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Connection[] open;
        lock (_connections)
        {
            open = [.. _open];
        }

        foreach (var connection in open)
        {
            connection.Close();
        }

        await Task.WhenAll(open.Select(c => c.Serving)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    /// <summary>One client's connection: its socket, whether it is still sending its head, and the token that closes it.</summary>
    private sealed class Connection : IDisposable
    {
        private readonly CancellationTokenSource _closing;

        public Connection(Socket socket, CancellationToken stop)
        {
            Socket = socket;
            _closing = CancellationTokenSource.CreateLinkedTokenSource(stop);
        }

        public Socket Socket { get; }

        /// <summary>Cancelled when the listener stops or the connection is closed at the cap.</summary>
        public CancellationToken Closing => _closing.Token;

        public volatile bool ReadingHead = true;

        public LinkedListNode<Connection>? Node { get; set; }

        public Task Serving { get; set; } = Task.CompletedTask;

        /// <summary>
        /// Closes the connection (for a newer one at the cap, or the listener stops): cancels its token and disposes its
        /// socket, so its task ends even in a blocked send or receive. Never throws; a connection already ended is left as it is.
        /// </summary>
        public void Close()
        {
            try
            {
                _closing.Cancel();
            }
            catch (Exception)
            {
                // It ended meanwhile (disposed), or a callback on the token failed: the socket is closed all the same.
            }

            Socket.Dispose();
        }

        public void Dispose()
        {
            Socket.Dispose();
            _closing.Dispose();
        }
    }
}
