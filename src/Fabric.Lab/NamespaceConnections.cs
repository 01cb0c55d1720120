using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Fabric.Lab;

/// <summary>
/// TCP connections made inside a named network namespace (<c>ip netns</c>'s <c>/var/run/netns/NAME</c>)
/// from this process, which stays in its own: the socket is created on a short-lived thread that
/// enters the namespace with setns(2), and a socket belongs to the namespace it was created in. This
/// is how the CLI reaches a lab's conductor on the lab's management network, which has no link in
/// the caller's namespace. Needs root (CAP_SYS_ADMIN). Thread-safe: stateless.
/// </summary>
public static partial class NamespaceConnections
{
    private const int CloneNewNet = 0x40000000;

    /// <summary>An HTTP handler whose every connection is made inside namespace <paramref name="ns"/>.</summary>
    public static SocketsHttpHandler HttpHandler(string ns) => new()
    {
        ConnectCallback = async (context, cancel) =>
        {
            var host = context.DnsEndPoint.Host;
            if (!IPAddress.TryParse(host, out var address))
            {
                throw new HttpRequestException($"{host}: only an IP address can be reached inside namespace {ns}");
            }

            var socket = Create(ns, address.AddressFamily);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancel).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <summary>A TCP socket created inside namespace <paramref name="ns"/>; throws <see cref="HttpRequestException"/> when it cannot be entered.</summary>
    public static Socket Create(string ns, AddressFamily family) => Create(ns, family, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A socket of any kind created inside namespace <paramref name="ns"/>; throws <see cref="HttpRequestException"/> when it cannot be entered.</summary>
    public static Socket Create(string ns, AddressFamily family, SocketType type, ProtocolType protocol)
    {
        Socket? socket = null;
        string? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var own = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle(Path.Combine("/var/run/netns", ns));
                if (setns(target, CloneNewNet) != 0)
                {
                    failure = $"cannot enter network namespace {ns} (errno {Marshal.GetLastPInvokeError()}; needs root)";
                    return;
                }

                try
                {
                    socket = new Socket(family, type, protocol);
                }
                finally
                {
                    _ = setns(own, CloneNewNet); // the thread ends next; back home all the same
                }
            }
            catch (IOException e)
            {
                failure = $"no network namespace {ns} ({e.Message})";
            }
            catch (UnauthorizedAccessException e)
            {
                failure = $"cannot open network namespace {ns} ({e.Message}; needs root)";
            }
        }) { IsBackground = true, Name = "netns-connect" };
        thread.Start();
        thread.Join();
        return socket ?? throw new HttpRequestException(failure ?? $"no socket in namespace {ns}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(SafeFileHandle fd, int nstype);
}
