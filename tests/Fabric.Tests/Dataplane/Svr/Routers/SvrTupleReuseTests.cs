using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// A client opens a new connection on the 5-tuple of one that just ended (Linux reuses a source port at once after a
/// RST, and after a FIN close when the server closed first): the new handshake crosses both routers, whatever state
/// each router's session of the old connection was left in.
/// </summary>
public sealed class SvrTupleReuseTests
{
    private const string Bulk = "10.10.1.30";
    private const ushort ClientPort = 34672;

    /// <summary>Two workers per router, as the lab runs on two cores: the sessions of one fabric spread over both.</summary>
    private const int Workers = 2;

    public static TheoryData<string> Endings => ["server-reset", "client-reset", "fin-close", "fin-then-server-reset", "iperf3-refusal"];

    [Theory]
    [MemberData(nameof(Endings))]
    public void Tcp_TupleReused_ConnectionIdleLongerThanTheLinger_StillCarried(string ending)
    {
        using var fabric = new SvrFabric(workers: Workers);
        Connect(fabric, 100);
        End(fabric, ending);
        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        Connect(fabric, 9000);

        fabric.Time.Advance(TimeSpan.FromSeconds(30));
        fabric.Eng1.AssertTcpEcho(Bulk, ClientPort, 5201, 9001, "later", fabric.Pump);
    }

    [Theory]
    [MemberData(nameof(Endings))]
    public void Tcp_TupleReusedWithinLinger_NewHandshakeCompletes(string ending)
    {
        using var fabric = new SvrFabric(workers: Workers);
        Connect(fabric, 100);
        End(fabric, ending);

        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        Reconnect(fabric, ending);
    }

    /// <summary>
    /// br1 restarts without handing its sessions over (a crash; the new process draws a new seed): dc1 still holds the
    /// open connection, br1 knows nothing of it. A new connection the client opens on the same 5-tuple crosses with a
    /// new session id on the old waypoint ports (a path's pool shuffles by the path, not the process, so the restarted
    /// br1 hands out the same first pair: checked while writing this test): dc1 must carry it, not drop it on the stale
    /// session.
    /// </summary>
    [Fact]
    public void Tcp_IngressRestartedWithoutItsSessions_NewConnectionOnTheSameTupleCompletes()
    {
        using var fabric = new SvrFabric(workers: Workers);
        Connect(fabric, 100);
        fabric.RestartBr1(seed: 0xfeed);
        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        Reconnect(fabric, "br1 restarted");
    }

    /// <summary>br1 restarts without its sessions while a client's UDP flow runs: the flow's next datagrams, on the same tuple, cross and are answered.</summary>
    [Fact]
    public void Udp_IngressRestartedWithoutItsSessions_FlowOnTheSameTupleCarriedAgain()
    {
        using var fabric = new SvrFabric(workers: Workers);
        fabric.Eng1.SendUdp(Bulk, ClientPort, 5201, "one"u8.ToArray());
        fabric.Pump();
        Assert.Single(fabric.Eng1.Received);

        fabric.RestartBr1(seed: 0xfeed);
        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        fabric.Eng1.SendUdp(Bulk, ClientPort, 5201, "two"u8.ToArray());
        fabric.Pump();
        fabric.Time.Advance(TimeSpan.FromSeconds(1));
        fabric.Eng1.SendUdp(Bulk, ClientPort, 5201, "three"u8.ToArray());
        fabric.Pump();

        Assert.Equal(["one", "two", "three"], fabric.Eng1.Received.Select(UdpText));
    }

    private static string UdpText(byte[] packet)
    {
        return Ipv4Packet.TryCreate(packet, out var ip) && UdpDatagram.TryCreate(ip.Payload, out var udp)
            ? System.Text.Encoding.ASCII.GetString(udp.Payload)
            : "(not a datagram)";
    }

    /// <summary>eng1 opens a new connection on the tuple: its SYN is answered with a SYN-ACK through both routers, and data is echoed.</summary>
    private static void Reconnect(SvrFabric fabric, string after)
    {
        var before = fabric.Eng1.Received.Count;
        fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Syn, 9000, 0, []);
        fabric.Pump();

        Assert.True(fabric.Eng1.Received.Count > before, $"{after}: no SYN-ACK, br1 dropped {fabric.Br1.Counters().Dropped}, dc1 dropped {fabric.Dc1.Counters().Dropped}");
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Flags(fabric.Eng1.Received[^1]));
        fabric.Eng1.AssertTcpEcho(Bulk, ClientPort, 5201, 9001, "again", fabric.Pump);
    }

    private static void Connect(SvrFabric fabric, uint sequence)
    {
        fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Syn, sequence, 0, []);
        fabric.Pump();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Flags(fabric.Eng1.Received[^1]));
        fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Ack, sequence + 1, 5001, []);
        fabric.Pump();
    }

    private static void End(SvrFabric fabric, string ending)
    {
        var eng1 = "10.20.1.10";
        switch (ending)
        {
            case "server-reset":
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Rst | TcpFlags.Ack, 5001, 101, []);
                break;
            case "client-reset":
                fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Rst | TcpFlags.Ack, 101, 5001, []);
                break;
            case "fin-close":
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Fin | TcpFlags.Ack, 5001, 101, []);
                fabric.Pump();
                fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Fin | TcpFlags.Ack, 101, 5002, []);
                fabric.Pump();
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Ack, 5002, 102, []);
                break;
            case "iperf3-refusal":
                // The client closes at once; the server writes its refusal to the closed socket, the client's kernel
                // answers with a RST, and the server's FIN that follows arrives after it.
                fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Fin | TcpFlags.Ack, 101, 5001, []);
                fabric.Pump();
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Ack | TcpFlags.Psh, 5001, 102, [0xff]);
                fabric.Pump();
                fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Rst, 102, 0, []);
                fabric.Pump();
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Fin | TcpFlags.Ack, 5002, 102, []);
                break;
            case "fin-then-server-reset":
                fabric.Eng1.SendTcp(Bulk, ClientPort, 5201, TcpFlags.Fin | TcpFlags.Ack, 101, 5001, []);
                fabric.Pump();
                fabric.Bulk1.SendTcp(eng1, 5201, ClientPort, TcpFlags.Rst | TcpFlags.Ack, 5001, 102, []);
                break;
        }

        fabric.Pump();
    }

    private static TcpFlags Flags(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        return tcp.Flags;
    }
}
