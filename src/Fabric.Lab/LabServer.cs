using Fabric.Model;

namespace Fabric.Lab;

/// <summary>What kind of program answers on a service port in the lab.</summary>
public enum ServerKind
{
    /// <summary>HTTP (python3 http.server) answering every GET with the container's name, so balancing is visible.</summary>
    Http,

    /// <summary>A TCP listener (python3) that writes the container's name and closes.</summary>
    Tcp,

    /// <summary><c>iperf3 -s</c>: TCP and UDP on one port.</summary>
    Iperf3,
}

/// <summary>One server the lab runs in a service container.</summary>
/// <param name="Port">Where the server listens: the instance's own port, else the service's.</param>
/// <param name="Address">Where clients reach the service (its single address, or the container's for a wider prefix).</param>
/// <param name="ServicePort">The port clients connect to.</param>
public sealed record LabServer(string Container, string Service, ServerKind Kind, int Port, string Address, int ServicePort)
{
    /// <summary>The container has an IPv6 address too: the server listens on both families (<c>::</c>, not IPv6-only).</summary>
    public bool DualStack { get; init; }

    /// <summary>The name of its pid and log files.</summary>
    public string ProcessName => $"{Container}-{Port}";

    public IReadOnlyList<string> Command() => Kind switch
    {
        ServerKind.Http => ["python3", "-c", HttpServer, Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Container, DualStack ? "6" : "4"],
        ServerKind.Tcp => ["python3", "-c", TcpServer, Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Container, DualStack ? "6" : "4"],
        _ => ["iperf3", "-s", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
    };

    /// <summary>What a user runs in a client container to reach it.</summary>
    public string ClientCommand() => Kind switch
    {
        ServerKind.Http => ServicePort == 80 ? $"curl -s http://{Address}/" : $"curl -s http://{Address}:{ServicePort}/",
        ServerKind.Tcp => $"bash -c 'cat </dev/tcp/{Address}/{ServicePort}'",
        _ => $"iperf3 -c {Address} -p {ServicePort} -t 3",
    };

    /// <summary>
    /// What both Python servers share: <c>body</c> (the container's name, argv 2) and <c>listen(base, handler)</c>, which
    /// serves on the port (argv 1), on both families when argv 3 is <c>6</c> (<c>::</c>, not IPv6-only), else on IPv4.
    /// </summary>
    private const string Listen = """
        import socket, sys
        body = (sys.argv[2] + "\n").encode()
        def listen(base, handler):
            dual = sys.argv[3] == "6"
            class Server(base):
                allow_reuse_address = True
                address_family = socket.AF_INET6 if dual else socket.AF_INET
                def server_bind(self):
                    if dual:
                        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    super().server_bind()
            Server(("::" if dual else "", int(sys.argv[1])), handler).serve_forever()
        """;

    private const string HttpServer = Listen + "\n" + """
        import http.server
        class Name(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass
        listen(http.server.ThreadingHTTPServer, Name)
        """;

    private const string TcpServer = Listen + "\n" + """
        import socketserver
        class Name(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(body)
        listen(socketserver.ThreadingTCPServer, Name)
        """;

    /// <summary>
    /// The servers for a topology: for every service instance that is a container, one per TCP port the
    /// service offers (its first port of each range, or the instance's own port): iperf3 on 5201,
    /// HTTP on 80, 8000, 8080 and 443, a name-writing TCP listener elsewhere (on both families when the container has an
    /// IPv6 address; iperf3 always listens on both). UDP is served by iperf3
    /// on its port; other UDP ports and ICMP need no server (the kernel answers ping).
    /// </summary>
    public static IReadOnlyList<LabServer> For(FabricConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var servers = new List<LabServer>();
        foreach (var service in config.Services)
        {
            foreach (var instance in service.Instances)
            {
                if (instance.Container is not { } container || config.Containers().Select(c => c.Container).FirstOrDefault(c => c.Name == container) is not { } attached)
                {
                    continue;
                }

                foreach (var transport in service.Transports.Where(t => t.Protocol == TransportProtocol.Tcp))
                {
                    foreach (var range in transport.Ports)
                    {
                        var port = instance.Port ?? range.Low;
                        var kind = port switch
                        {
                            5201 => ServerKind.Iperf3,
                            80 or 443 or 8000 or 8080 => ServerKind.Http,
                            _ => ServerKind.Tcp,
                        };
                        var address = ServiceAddress(service) ?? attached.Addresses[0].ToString();
                        if (!servers.Any(s => s.Container == container && s.Port == port))
                        {
                            servers.Add(new LabServer(container, service.Name, kind, port, address, range.Low)
                            {
                                DualStack = attached.Addresses.Any(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6),
                            });
                        }
                    }
                }
            }
        }

        return servers;
    }

    /// <summary>The service's address when it is a single host (a virtual address), else null.</summary>
    public static string? ServiceAddress(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        foreach (var prefix in service.Addresses)
        {
            if (prefix.Length == (prefix.IsIPv4 ? 32 : 128))
            {
                return prefix.Address.ToString();
            }
        }

        return null;
    }
}
