using System.Net;
using System.Net.Sockets;
using Fabric.Router;
using Fabric.Model;

namespace Fabric.Lab;

/// <summary>
/// The lab's dashboard from this machine: the lab's conductor listens only on the lab's management network, so a local
/// TCP port forwards each connection to it, made inside the conductor's namespace (<see cref="NamespaceConnections"/>;
/// needs root). A browser on this machine opens <see cref="Url"/>; the conductor's certificate is issued by the lab's own
/// CA for its management address, so the browser warns unless it trusts that CA. Stops when disposed. Thread-safe.
/// </summary>
public sealed class LabDashboard : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly string _namespace;
    private readonly IPEndPoint _conductor;

    private LabDashboard(LabLayout layout, FabricConfig config, IPEndPoint listen)
    {
        _namespace = layout.NamespaceOf(LabBuilder.Conductor);
        _conductor = new IPEndPoint(config.Conductor.Addresses[0], config.Conductor.ApiPort);
        _listener = new TcpListener(listen);
        _listener.Start();
        var token = File.Exists(LabConductor.TokenFileOf(layout)) ? File.ReadAllText(LabConductor.TokenFileOf(layout)).Trim() : null;
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        Url = new Uri($"https://{listen.Address}:{port}/{(token is null ? "" : $"#token={Uri.EscapeDataString(token)}")}");
        _ = Task.Run(Accept);
    }

    /// <summary>The dashboard's address here, with the lab's API token in its fragment (the page keeps it in the tab; it never reaches a server log).</summary>
    public Uri Url { get; }

    /// <summary>Forwards <paramref name="listen"/> (port 0: any free one) to the lab's conductor.</summary>
    public static LabDashboard Start(LabLayout layout, FabricConfig config, IPEndPoint listen)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(listen);
        return new LabDashboard(layout, config, listen);
    }

    private async Task Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => Forward(client));
        }
    }

    private async Task Forward(Socket client)
    {
        using var near = new NetworkStream(client, ownsSocket: true);
        try
        {
            using var socket = NamespaceConnections.Create(_namespace, _conductor.AddressFamily);
            await socket.ConnectAsync(_conductor, _stop.Token).ConfigureAwait(false);
            using var far = new NetworkStream(socket, ownsSocket: false);
            using var done = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            await Task.WhenAny(near.CopyToAsync(far, done.Token), far.CopyToAsync(near, done.Token)).ConfigureAwait(false);
            await done.CancelAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or HttpRequestException)
        {
            // One connection ends; the browser opens another.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
