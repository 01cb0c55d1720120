using System.Net;
using System.Net.Sockets;
using Fabric.Lab;
using Fabric.Router;

namespace Fabric.Tests.Lab;

/// <summary>The TCP probe of <c>lab verify</c>, run as the verifier runs it (python3 on this host, loopback).</summary>
public sealed class LabVerifierTests
{
    [Fact]
    public void ConnectProbe_HostAccepts_Reached()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            Assert.Equal(0, Probe("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port).ExitCode);
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public void ConnectProbe_HostRefuses_Reached()
    {
        // No listener on the port (as while iperf3 reopens its listening socket): the host answers the SYN with a RST.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = Probe("127.0.0.1", port);

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public void ConnectProbe_NoAnswer_Blocked()
    {
        // A listener whose accept queue is full: the host drops further SYNs unanswered, so the probe times out.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var queued = new List<Socket>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                queued.Add(client);
                try
                {
                    client.Connect(IPAddress.Loopback, port);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
                {
                }
            }

            Assert.NotEqual(0, Probe("127.0.0.1", port, timeout: "0.5").ExitCode);
        }
        finally
        {
            queued.ForEach(s => s.Dispose());
        }
    }

    private static CommandResult Probe(string address, int port, string timeout = "3") =>
        ExternalCommand.Run("python3", "-c", LabVerifier.ConnectProbe, address, port.ToString(System.Globalization.CultureInfo.InvariantCulture), timeout);
}
