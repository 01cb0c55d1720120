using System.Net;
using System.Net.Sockets;
using System.Text;
using Fabric.Http;
using Fabric.Http.Metrics;

namespace Fabric.Tests.Http;

/// <summary>
/// The router's operations listener facing clients that do not behave: garbage, a head too large, a client too slow,
/// more connections than it serves at once. Each malformed or late one gets its error answer and the connection closes; the
/// listener goes on answering the next client; connections over the cap wait their turn.
/// </summary>
public sealed class OperationsListenerTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static Task<NodeHttpEndpoint> Start(FabricMetrics metrics, OperationsListenerLimits? limits = null) =>
        NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => Task.FromResult<string?>(null), limits);

    /// <summary>Sends <paramref name="request"/> and reads until the server closes: the whole answer.</summary>
    private static string Exchange(Uri address, byte[] request)
    {
        using var socket = Connect(address);
        socket.Send(request);
        return ReadToClose(socket);
    }

    private static Socket Connect(Uri address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = (int)Deadline.TotalMilliseconds };
        socket.Connect(IPAddress.Loopback, address.Port);
        return socket;
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

        var answer = Exchange(http.Address, Encoding.Latin1.GetBytes(request));

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", answer, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_LargerThanTheLimit_Answers431_AndGoesOn()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics);
        var huge = Encoding.ASCII.GetBytes($"GET /healthz HTTP/1.1\r\nHost: r\r\nX-Filler: {new string('a', 9000)}\r\n\r\n");

        var answer = Exchange(http.Address, huge);

        Assert.StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlowClient_Answered408AndClosed_OthersServedMeanwhile()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMilliseconds(500)));
        using var slow = Connect(http.Address);
        slow.Send("GET /healthz HTTP/1.1\r\nHost:"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Address), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", ReadToClose(slow), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionsOverTheCap_WaitUntilOneEnds_ThenServed()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics, new OperationsListenerLimits(ReadTimeout: TimeSpan.FromMinutes(5), MaxConnections: 4));
        var idle = new List<Socket>();
        for (var i = 0; i < 4; i++)
        {
            idle.Add(Connect(http.Address));
        }

        using var fifth = Connect(http.Address);
        fifth.Send("GET /healthz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());
        // Not taken while four connections are in service (a listener without the cap answers within milliseconds).
        Assert.False(fifth.Poll(TimeSpan.FromSeconds(1), SelectMode.SelectRead), "the fifth connection is answered while four are in service");
        idle[0].Dispose();

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", ReadToClose(fifth), StringComparison.Ordinal);
        foreach (var socket in idle)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public async Task Readiness_Fails_Answers500_AndGoesOn()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await NodeHttpEndpoint.Start(IPAddress.Loopback, 0, metrics, _ => throw new InvalidOperationException("the node's state is gone"));

        var answer = Exchange(http.Address, "GET /readyz HTTP/1.1\r\nHost: r\r\n\r\n"u8.ToArray());

        Assert.StartsWith("HTTP/1.1 500 Internal Server Error\r\n", answer, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", Healthz(http.Address), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_WithQueryOrBody_AnsweredByPathAndMethod()
    {
        using var metrics = new FabricMetrics(() => []);
        await using var http = await Start(metrics);

        var scraped = Exchange(http.Address, "GET /metrics?x=1 HTTP/1.0\r\n\r\n"u8.ToArray());
        var posted = Exchange(http.Address, Encoding.ASCII.GetBytes($"POST /readyz HTTP/1.1\r\nHost: r\r\nContent-Length: 20000\r\n\r\n{new string('x', 20000)}"));

        Assert.StartsWith("HTTP/1.1 200 OK\r\n", scraped, StringComparison.Ordinal);
        Assert.Contains($"Content-Type: {PrometheusExposition.ContentType}\r\n", scraped, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405 Method Not Allowed\r\n", posted, StringComparison.Ordinal);
        Assert.Contains("Allow: GET\r\n", posted, StringComparison.Ordinal);
    }
}
