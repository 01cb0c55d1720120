using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Pipeline.Workers;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Svr.Routers;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>
/// Routers with two workers each (docs/dataplane.md "Workers"), on the lab fabric over in-memory links whose ports are
/// fanned out over the workers by a symmetric flow hash, as AF_PACKET fanout does: eng1 at br1 reaches web at dc1 over
/// SVR, with destination NAT to web1 or web2 at dc1.
/// </summary>
public sealed class ForwardingEngineWorkersTests
{
    private const string Web = "10.200.0.80";
    internal const int Sessions = 200;

    [Fact]
    public void TwoWorkers_200TcpSessionsThroughSvrAndNat_EveryPacketForwardedInOrderByTheOwnerAndCountersAddUp()
    {
        using var fabric = new SvrFabric(workers: 2);
        CarrySessions(fabric);

        // What the client sees: per session a SYN-ACK, then both echoes in the order sent.
        var bySession = fabric.Eng1.Received.GroupBy(DestinationPort).ToDictionary(g => g.Key, g => g.Select(PayloadText).ToArray());
        Assert.Equal(Sessions, bySession.Count);
        for (var i = 0; i < Sessions; i++)
        {
            Assert.Equal(["", Text('a', i), Text('b', i)], bySession[ClientPort(i)]);
        }

        foreach (var router in new[] { fabric.Br1, fabric.Dc1 })
        {
            Assert.Equal(2, router.Workers.Count);
            var counters = router.Counters();

            // Each packet once through each router: 4 from the client and 3 back per session, none dropped.
            Assert.Equal(7 * Sessions, counters.Forwarded);
            Assert.Equal(router.Workers.Sum(w => w.Counters.Forwarded), counters.Forwarded);
            Assert.Equal(0, counters.Dropped);
            Assert.All(Enum.GetValues<DropReason>(), reason => Assert.Equal(0, router.DropTotal(reason)));
            var web = router.Snapshot.ServiceIndex("web") + 1; // index 0 of the totals is "no service"
            var (_, byService) = router.TrafficTotals(router.Snapshot.Tenants.Length, router.Snapshot.Services.Length);
            Assert.Equal(7 * Sessions, byService[web].Packets);
            Assert.Equal(Sessions, byService[web].SessionsOpened);

            // Every session lives in exactly one worker's shard, both workers own some, and packets that reached the
            // other worker were handed to the owner.
            var keys = router.Workers.SelectMany(LiveForwardKeys).ToArray();
            Assert.Equal(Sessions, keys.Length);
            Assert.Equal(Sessions, keys.Distinct().Count());
            Assert.Equal(Sessions, router.SessionCount);
            Assert.Equal(Sessions, counters.SessionsCreated);
            Assert.All(router.Workers, w => Assert.InRange(w.Sessions.Count, 1, Sessions - 1));
            Assert.True(counters.HandedOff > 0, $"{router.Name}: no packet was handed to its session's owner");
        }

        // br1's ingress sessions took their waypoint pairs from their own worker's lane: the port names the owner.
        for (var w = 0; w < 2; w++)
        {
            var sessions = fabric.Br1.Workers[w].Sessions;
            for (var handle = 0; handle < sessions.Capacity; handle++)
            {
                if (sessions.IsLive(handle))
                {
                    Assert.Equal(w, WorkerOwnership.OwnerOfWaypoint(sessions.Payload(handle).LocalWaypointPort, 2));
                }
            }
        }
    }

    /// <summary>
    /// Carries <see cref="Sessions"/> TCP sessions eng1 → web over <paramref name="fabric"/>: each a handshake and two data
    /// segments, echoed by web1 or web2. Every neighbour is known from the start (the table is shared by the workers), so
    /// every packet is forwarded at once rather than held for an ARP answer and sent later as the router's own.
    /// </summary>
    internal static void CarrySessions(SvrFabric fabric)
    {
        Learn(fabric.Br1, 0, "172.16.0.1", fabric.DcWan.Mac);
        Learn(fabric.Br1, 1, "10.20.1.10", fabric.Eng1.Mac);
        Learn(fabric.Dc1, 0, "172.16.0.2", fabric.BrWan.Mac);
        Learn(fabric.Dc1, 1, "10.10.1.11", fabric.Web1.Mac);
        Learn(fabric.Dc1, 1, "10.10.1.12", fabric.Web2.Mac);
        for (var i = 0; i < Sessions; i++)
        {
            fabric.Eng1.SendTcp(Web, ClientPort(i), 80, TcpFlags.Syn, 100, 0, []);
        }

        fabric.Pump();
        for (var i = 0; i < Sessions; i++)
        {
            fabric.Eng1.SendTcp(Web, ClientPort(i), 80, TcpFlags.Ack, 101, 5001, []);
            fabric.Eng1.SendTcp(Web, ClientPort(i), 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, Payload('a', i));
            fabric.Eng1.SendTcp(Web, ClientPort(i), 80, TcpFlags.Ack | TcpFlags.Psh, 101 + (uint)Payload('a', i).Length, 5001, Payload('b', i));
        }

        fabric.Pump();
    }

    private static void Learn(ForwardingEngine router, int port, string address, MacAddress mac) =>
        router.Worker.Neighbors.AddPermanent(port, IpAddressConversions.ParseIpv4(address), isIpv6: false, mac);

    private static ushort ClientPort(int session) => (ushort)(40000 + session);

    private static byte[] Payload(char kind, int session) => System.Text.Encoding.ASCII.GetBytes(Text(kind, session));

    private static string Text(char kind, int session) => $"{kind}{session}";

    private static ushort DestinationPort(byte[] ip)
    {
        Ipv4Packet.TryCreate(ip, out var packet);
        TcpSegment.TryCreate(packet.Payload, out var tcp);
        return tcp.DestinationPort;
    }

    private static string PayloadText(byte[] ip)
    {
        Ipv4Packet.TryCreate(ip, out var packet);
        TcpSegment.TryCreate(packet.Payload, out var tcp);
        return System.Text.Encoding.ASCII.GetString(tcp.Payload);
    }

    private static IEnumerable<SessionKey> LiveForwardKeys(PacketWorker worker)
    {
        var sessions = worker.Sessions;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (sessions.IsLive(handle))
            {
                yield return sessions.ForwardKey(handle);
            }
        }
    }
}
