using System.Net;
using System.Net.Sockets;
using Fabric.Bench;
using Fabric.Lab;
using Fabric.Router;
using Fabric.Tests.Support;

namespace Fabric.Tests.Bench;

/// <summary>
/// The bench's transmit-ring sender through a real veth: its frames reach a kernel UDP socket on the far end, which
/// takes a datagram only when its IPv4 header and UDP checksums are right (veth leaves them for the receiver to verify).
/// </summary>
public sealed class PacketRingSenderTests
{
    private const int PayloadBytes = 64;

    [Fact]
    public void Blast_FromNamespaceOverVeth_KernelSocketReceivesTheDatagramsFromTheOpenersPort()
    {
        using var wire = new NetworkNamespaces();
        var ns = $"fabt-ring-{NetworkNamespaces.Suffix}";
        var hostEnd = $"frg-{NetworkNamespaces.Suffix}";
        wire.AddNamespace(ns);
        wire.AddContainer(ns, hostEnd, "10.251.7.2/24", "10.251.7.1");
        Assert.True(ExternalCommand.Run("ip", "address", "add", "10.251.7.1/24", "dev", hostEnd).Succeeded);
        using var receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 8 << 20, ReceiveTimeout = 1000 };
        receiver.Bind(new IPEndPoint(IPAddress.Parse("10.251.7.1"), 0));
        var target = (IPEndPoint)receiver.LocalEndPoint!;
        using var opener = NamespaceConnections.Create(ns, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        opener.Connect(target);
        opener.Send(new byte[PayloadBytes]);
        var buffer = new byte[2048];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        Assert.Equal(PayloadBytes, receiver.ReceiveFrom(buffer, ref from)); // the path works for an ordinary socket
        var opened = (IPEndPoint)opener.LocalEndPoint!;

        var link = ClientLink.Resolve(ns, target.Address);
        var frame = PacketRingSender.UdpFrame(link.Mac, link.NextHopMac, opened, target, PayloadBytes);
        long sent;
        using (var sender = PacketRingSender.Open(NamespaceConnections.Create(ns, AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified), link.Index, frame))
        {
            sent = sender.Blast(TimeSpan.FromMilliseconds(100));
        }

        var received = 0;
        try
        {
            while (true)
            {
                var length = receiver.ReceiveFrom(buffer, ref from);
                Assert.Equal(PayloadBytes, length);
                Assert.Equal(opened, from);
                received++;
                receiver.ReceiveTimeout = 200;
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
        }

        Assert.Equal("eth0", link.Device);
        Assert.True(sent >= 1000, $"the ring sent {sent} frames in 100 ms");
        Assert.True(received >= 1000, $"{received} of {sent} frames arrived as datagrams");
        Assert.True(received <= sent, $"{received} datagrams from {sent} frames");
    }
}
