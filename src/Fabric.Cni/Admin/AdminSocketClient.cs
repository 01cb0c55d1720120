using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Fabric.Cni.Spec;

namespace Fabric.Cni.Admin;

/// <summary>What the plugin asks of the local router node.</summary>
public interface IRouterDesk
{
    /// <summary>Sends <paramref name="request"/> and returns the router's reply; throws <see cref="CniException"/> (code 101) when the router does not answer.</summary>
    AdminReply Ask(AdminRequest request);
}

/// <summary>Asks a router node over its admin socket, one connection per request. Thread-safe.</summary>
public sealed class AdminSocketClient(string socketPath) : IRouterDesk
{
    /// <summary>How long the plugin waits for the router's reply (an attach opens sockets and compiles a snapshot).</summary>
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    public AdminReply Ask(AdminRequest request)
    {
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.ReceiveTimeout = (int)ReplyTimeout.TotalMilliseconds;
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request, AdminJson.Default.AdminRequest) + "\n"));
            using var stream = new NetworkStream(socket);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var line = reader.ReadLine();
            return line is null
                ? throw new CniException(CniErrorCode.RouterUnreachable, $"the router at {socketPath} closed the connection without a reply (does it predate CNI requests?)")
                : JsonSerializer.Deserialize(line, AdminJson.Default.AdminReply)
                    ?? throw new CniException(CniErrorCode.RouterUnreachable, $"the router at {socketPath} replied null");
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            throw new CniException(CniErrorCode.RouterUnreachable, $"the router does not answer on its admin socket {socketPath}", e.Message);
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.RouterUnreachable, $"the router at {socketPath} replied something other than a CNI reply", e.Message);
        }
    }
}
