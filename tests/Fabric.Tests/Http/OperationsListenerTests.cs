using System.Net;
using System.Net.Sockets;
using System.Text;
using Fabric.Http;
using Fabric.Http.Metrics;

namespace Fabric.Tests.Http;

/// <summary>
/// The router's operations listener facing clients that do not behave: garbage, a head too large, a client too slow,
/// more idle connections than it holds at once. Each malformed or late one gets its error answer and the connection closes;
/// the listener goes on answering the next client; at the cap the oldest idle connection makes way for a new one.
/// </summary>
public sealed class OperationsListenerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>A TLS 1.2 ClientHello as openssl s_client sends it (198 bytes, no empty line anywhere in it).</summary>
    private static readonly byte[] ClientHello = Convert.FromHexString(
        "16030100c1010000bd03038bbcb97aca89bf5f6a1f89beb035814e0321e21121b85f2d5b63b23176cbdee2000038c02cc030009fcca9cca8ccaac02b"
        + "c02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff0100005c00000006000400000172000b0004"
        + "03000102000a000c000a001d0017001e00190018002300000016000000170000000d002a0028040305030603080708080809080a080b080408050806"
        + "040105010601030303010302040205020602");

    private static async Task<Bounded<NodeHttpEndpoint>> Start(FabricMetrics metrics, OperationsListenerLimits? limits = null) =>
        new(await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>(null), limits));

    private static Bounded<OperationsListener> Listen(OperationsListener.Handler handler, OperationsListenerLimits? limits = null) =>
        new(OperationsListener.Start(IPAddress.Loopback, 0, handler, limits));

    /// <summary>A listener whose dispose fails after <see cref="Deadline"/> (a <see cref="TimeoutException"/> naming the test) rather than hang the run.</summary>
    private sealed class Bounded<T>(T value) : IAsyncDisposable
        where T : IAsyncDisposable
    {
        public T Value { get; } = value;

        public async ValueTask DisposeAsync() => await Value.DisposeAsync().AsTask().WaitAsync(Deadline).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="request"/> and reads until the server closes: the whole answer.</summary>
    private static string Exchange(Uri address, byte[] request)
    {
        using var socket = Connect(address);
        socket.Send(request);
        return ReadToClose(socket);
    }

    /// <summary>A connected socket whose connect, sends and receives each fail after <see cref="Deadline"/> rather than hang the test.</summary>
    private static Socket Connect(Uri address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            ReceiveTimeout = (int)Deadline.TotalMilliseconds,
            SendTimeout = (int)Deadline.TotalMilliseconds,
        };
        try
        {
            using var connecting = new CancellationTokenSource(Deadline);
            socket.ConnectAsync(IPAddress.Loopback, address.Port, connecting.Token).AsTask().GetAwaiter().GetResult();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string ReadToClose(Socket socket)
    {
        var answer = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = socket.Receive(buffer)) > 0)
        {
            answer.Write(buffer, 0, read);
        }

        return Encoding.ASCII.GetString(answer.ToArray());
    }

    private static string Healthz(Uri address) => Exchange(address, "GET /healthz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

    [Theory]
    [InlineData("garbage\r\n\r\n")]
    [InlineData("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n")] // a TLS client hello's first bytes
    [InlineData("GET /healthz\r\n\r\n")]
    [InlineData("GET healthz HTTP/1.1\r\n\r\n")]
    [InlineData("GET /healthz HTTP/2.0\r\n\r\n")]
    [InlineData("GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n")]
    [InlineData("GET /healthz HTTP/1.1\r\n folded: header\r\n\r\n")]
    [InlineData("GET /hea lthz HTTP/1.1\r\n\r\n")]
    public async Task Malformed_Answers400_AndGoesOn(string request)
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics);

        var answer = Exchange(http.Value.Address, Encoding.Latin1.GetBytes(request));

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_LargerThanTheLimit_Answers431_AndGoesOn()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics);
        var huge = Encoding.ASCII.GetBytes($"GET /healthz HTTP/1.1\r\nHost: r\r\nX-Filler: {new string('a', 9000)}\r\n\r\n");

        var answer = Exchange(http.Value.Address, huge);

        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlowClient_HoldingAConnection_OthersServedMeanwhile()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5)));
        using var slow = Connect(http.Value.Address);
        slow.Send("GET /healthz HTTP/1.1\r\nHost:"u8.ToArray());

        // A server that serves one connection at a time holds this one until the slow client's 5 minutes are up.
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlowClient_PastTheReadTimeout_Answered408AndClosed()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMilliseconds(500)));
        using var slow = Connect(http.Value.Address);
        slow.Send("GET /healthz HTTP/1.1\r\nHost:"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", ReadToClose(slow), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdleConnectionsFillingTheCap_ARequestIsStillAnswered()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5), MaxConnections: 4));
        var idle = new List<Socket>();
        for (var i = 0; i < 8; i++)
        {
            idle.Add(Connect(http.Value.Address));
        }

        try
        {
            // A listener that waits for a slot leaves this request in the backlog until an idle client's 5 minutes are up.
            Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task SecondListener_OnTheSamePort_FailsWithIOException()
    {
        await using var first = Listen((_, _, _) => Task.FromResult(OperationsAnswer.NotFound));

        Assert.Throws<IOException>(() => OperationsListener.Start(IPAddress.Loopback, first.Value.Endpoint.Port, (_, _, _) => Task.FromResult(OperationsAnswer.NotFound)));
    }

    [Fact]
    public async Task Readiness_NotReady_Answers503ServiceUnavailable()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = new Bounded<NodeHttpEndpoint>(await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>("no configuration yet")));

        var answer = Exchange(http.Value.Address, "GET /readyz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TlsClientHello_Answered400_WithoutWaitingForTheTimeout()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5)));

        // The client waits for the server's hello: a listener that waits for an empty line answers after 5 minutes.
        var answer = Exchange(http.Value.Address, ClientHello);

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET /metrics HTTP/1.0\n\n")]
    [InlineData("GET /healthz HTTP/1.1\nHost: r\n\n")]
    [InlineData("GET /healthz HTTP/1.1\r\nHost: r\n\r\n")]
    public async Task Request_EndingLinesInBareLf_Answered200(string request)
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5)));

        var answer = Exchange(http.Value.Address, Encoding.ASCII.GetBytes(request));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/metrics")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Head_AnsweredAsGetWithoutTheBody(string path)
    {
        using var metrics = new FabricMetrics(() => []);
        metrics.Meter.CreateObservableGauge("fabric_test_sample", () => 1);
        await using var http = await Start(metrics);

        var get = Exchange(http.Value.Address, Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: r\r\n\r\n"));
        var head = Exchange(http.Value.Address, Encoding.ASCII.GetBytes($"HEAD {path} HTTP/1.1\r\nHost: r\r\n\r\n"));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", get, StringComparison.Ordinal);
        Assert.False(get.EndsWith("\r\n\r\n", StringComparison.Ordinal), "the GET has a body for the HEAD to leave out");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", head, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\n", head, StringComparison.Ordinal);
        var length = get.Split("\r\n").Single(line => line.StartsWith("Content-Length: ", StringComparison.Ordinal));
        Assert.Contains(length + "\r\n", head, StringComparison.Ordinal);
        Assert.Matches(@"\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT\r\n", head);
    }

    [Fact]
    public async Task ListenOnIPv6Any_ServesIPv4ClientsToo()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = new Bounded<NodeHttpEndpoint>(await NodeHttpEndpoint.Start(IPAddress.IPv6Any, 0, metrics, _ => Task.FromResult<string?>(null)));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
    }

    [Fact]
    public void Start_NonPositiveLimits_Refused()
    {
        static Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel) => Task.FromResult(OperationsAnswer.NotFound);

        Assert.Throws<ArgumentOutOfRangeException>(() => OperationsListener.Start(IPAddress.Loopback, 0, Handler, new OperationsListenerLimits(MaxConnections: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => OperationsListener.Start(IPAddress.Loopback, 0, Handler, new OperationsListenerLimits(MaxHeadBytes: 0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => OperationsListener.Start(IPAddress.Loopback, 0, Handler, new OperationsListenerLimits(ReadTimeout: TimeSpan.Zero)));
    }

    [Fact]
    public async Task Dispose_WithAConnectionInProgress_EndsIt_AndASecondDisposeDoesNothing()
    {
        var listener = OperationsListener.Start(IPAddress.Loopback, 0, (_, _, _) => Task.FromResult(OperationsAnswer.NotFound), new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5)));
        using var slow = Connect(new Uri($"http://127.0.0.1:{listener.Endpoint.Port}/"));
        slow.Send("GET /healthz HTTP/1.1\r\n"u8.ToArray());

        await listener.DisposeAsync().AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        await listener.DisposeAsync().AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);

        // The connection in progress was closed by the dispose (an end or a reset), not left for its 5 minutes.
        var closed = Record.Exception(() => Assert.Equal(0, slow.Receive(new byte[16])));
        Assert.True(closed is null or SocketException { SocketErrorCode: SocketError.ConnectionReset }, $"the connection in progress is not closed: {closed}");
    }

    [Fact]
    public async Task Readiness_Fails_Answers500_AndGoesOn()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = new Bounded<NodeHttpEndpoint>(await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => throw new InvalidOperationException("the node's state is gone")));

        var answer = Exchange(http.Value.Address, "GET /readyz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 500 Internal Server Error\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Value.Address), StringComparison.Ordinal);
    }

    [Fact]
    public void Start_TimeoutBeyondWhatATimerTakes_Refused()
    {
        static Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel) => Task.FromResult(OperationsAnswer.NotFound);

        // Taken, such a timeout would make every connection fail when its deadline is set, unanswered.
        Assert.Throws<ArgumentOutOfRangeException>(() => OperationsListener.Start(IPAddress.Loopback, 0, Handler, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromDays(30))));
        Assert.Throws<ArgumentOutOfRangeException>(() => OperationsListener.Start(IPAddress.Loopback, 0, Handler, new OperationsListenerLimits(ReadTimeout: TimeSpan.MaxValue)));
    }

    [Fact]
    public async Task AtTheCap_ARequestBeingAnswered_IsNotClosedAheadOfAnIdleConnection()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel)
        {
            if (path == "/metrics")
            {
                entered.TrySetResult();
                await release.Task.ConfigureAwait(false);
            }

            return OperationsAnswer.NotFound;
        }

        await using var listener = Listen(Handler, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5), MaxConnections: 2));
        var address = new Uri($"http://127.0.0.1:{listener.Value.Endpoint.Port}/");
        using var scrape = Connect(address);
        scrape.Send("GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());
        await entered.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        using var idle = Connect(address);

        // The third connection is at the cap: one of the two held makes way. It must be the idle one, not the scrape.
        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", Exchange(address, "GET /other HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray()), StringComparison.Ordinal);
        release.SetResult();

        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", ReadToClose(scrape), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handler_ThrowsItsOwnCancellation_Answers500_AndGoesOn()
    {
        static Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel) =>
            path == "/readyz" ? throw new TaskCanceledException("an HTTP call of the node's timed out") : Task.FromResult(OperationsAnswer.NotFound);

        await using var listener = Listen(Handler);
        var address = new Uri($"http://127.0.0.1:{listener.Value.Endpoint.Port}/");

        var answer = Exchange(address, "GET /readyz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 500 Internal Server Error\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 404 Not Found\r\n", Exchange(address, "GET /other HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray()), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Handler_PastTheDeadline_Answers503(bool handlerHonoursItsToken)
    {
        var never = new TaskCompletionSource<OperationsAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<OperationsAnswer> Handler(string method, string path, CancellationToken cancel)
        {
            if (handlerHonoursItsToken)
            {
                await Task.Delay(Timeout.Infinite, cancel).ConfigureAwait(false);
            }

            return await never.Task.ConfigureAwait(false);
        }

        await using var listener = Listen(Handler, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMilliseconds(500)));

        var answer = Exchange(new Uri($"http://127.0.0.1:{listener.Value.Endpoint.Port}/"), "GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 503 Service Unavailable\r\n", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nnot answered in time\n", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_WithQueryOrBody_AnsweredByPathAndMethod()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics);

        var scraped = Exchange(http.Value.Address, "GET /metrics?x=1 HTTP/1.0\r\n\r\n"u8.ToArray());
        var posted = Exchange(http.Value.Address, Encoding.ASCII.GetBytes($"POST /readyz HTTP/1.1\r\nHost: r\r\nContent-Length: 20000\r\n\r\n{new string('x', 20000)}"));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", scraped, StringComparison.Ordinal);
        Assert.Contains($"Content-Type: {PrometheusExposition.ContentType}\r\n", scraped, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405 Method Not Allowed\r\n", posted, StringComparison.Ordinal);
        Assert.Contains("Allow: GET, HEAD\r\n", posted, StringComparison.Ordinal);
    }
}
