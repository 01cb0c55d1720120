using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fabric.Actors.HighAvailability;

namespace Fabric.Tests.Actors.HighAvailability;

/// <summary>Two heartbeat links over loopback UDP, as two nodes of a pair run them; forged and replayed heartbeats among them.</summary>
public sealed class PairLinkTests : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Dead = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private static readonly byte[] AToB = Key(1);
    private static readonly byte[] BToA = Key(2);
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
    }

    [Fact]
    public void TwoLinks_HearEachOther_EachSeesWhetherThePartnerIsActive()
    {
        var (a, b) = (FreeEndpoint(), FreeEndpoint());
        var linkA = Link("a", a, b, AToB, BToA, new Self(active: true, takeovers: 2));
        var linkB = Link("b", b, a, BToA, AToB, new Self(active: false, takeovers: 0));

        Until("each link hears a few of its partner's heartbeats", () => linkA.Partner.Heartbeats > 5 && linkB.Partner.Heartbeats > 5);

        Assert.Equal(PairRole.Active, linkB.Partner.Role);
        Assert.Equal(2, linkB.Partner.Takeovers);
        Assert.Equal(PairRole.Starting, linkA.Partner.Role);
        linkB.Decided = true;
        Until("B says it stands by once its role is decided", () => linkA.Partner.Role == PairRole.Standby);
        Assert.Equal(0, linkA.Counters.RefusedForged + linkA.Counters.RefusedStale);
    }

    [Fact]
    public void Forged_WrongKeyOrNotFromThePartnersAddress_NeverHeard()
    {
        var (b, partner) = (FreeEndpoint(), FreeEndpoint());
        var linkB = Link("b", b, partner, BToA, AToB, new Self(active: false, takeovers: 0));
        var heartbeat = new byte[PairHeartbeat.Length];

        // A sender on the partner's address without the key...
        new PairHeartbeat(PairRole.Active, 7, 1, 0, 0).Write(heartbeat, Key(9));
        using (var forger = Bound(partner))
        {
            forger.SendTo(heartbeat, b);
        }

        // ...and one with the key (a leaked heartbeat key, say) but on another address.
        using var elsewhere = Bound(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        new PairHeartbeat(PairRole.Active, 7, 2, 0, 0).Write(heartbeat, AToB);
        elsewhere.SendTo(heartbeat, b);

        Until("both are refused", () => linkB.Counters.RefusedForged >= 2);
        Assert.Equal(0, linkB.Partner.Heartbeats);
        Assert.Equal(0, linkB.Counters.Unbound);
    }

    [Fact]
    public async Task Replayed_AfterThePartnerStopped_NeverHeard_SoTheDeadPartnerStaysDead()
    {
        // A's heartbeats reach B through a relay on A's address that keeps a copy of each: what someone on the
        // management network could capture.
        var (a, b, relay) = (FreeEndpoint(), FreeEndpoint(), FreeEndpoint());
        var captured = new List<byte[]>();
        using var relaySocket = Bound(relay);
        var linkB = Link("b", b, relay, BToA, AToB, new Self(active: false, takeovers: 0));
        var linkA = Link("a", a, relay, AToB, BToA, new Self(active: true, takeovers: 1));
        var forwarding = Task.Run(() => Relay(relaySocket, b, a, captured), TestContext.Current.CancellationToken);

        Until("B hears A through the relay", () => linkB.Partner.Heartbeats > 5);
        linkA.Dispose();
        relaySocket.Close();
        await forwarding;
        int passed;
        lock (captured)
        {
            passed = captured.Count;
        }

        Until("B judged every heartbeat the relay passed", () => linkB.Counters is var c && c.Heard + c.Unbound + c.RefusedStale + c.RefusedForged >= passed);
        var heard = linkB.Partner.Heartbeats;
        var before = linkB.Counters;

        using var replayer = Bound(relay);
        List<byte[]> copies;
        lock (captured)
        {
            copies = [.. captured];
        }

        foreach (var datagram in copies)
        {
            replayer.SendTo(datagram, b);
        }

        // Those A sent before it knew B echo nothing and prove nothing (unbound; how many depends on how soon A heard B);
        // every one B heard is refused as stale.
        Until("every replayed heartbeat is judged", () => linkB.Counters is var c && c.RefusedStale + c.Unbound - before.RefusedStale - before.Unbound >= copies.Count);
        Assert.True(linkB.Counters.RefusedStale - before.RefusedStale >= heard, $"{linkB.Counters.RefusedStale - before.RefusedStale} refused as stale of {heard} heard, {copies.Count} replayed");
        Assert.Equal(heard, linkB.Partner.Heartbeats);
    }

    [Fact]
    public void Listener_PartnerStops_ToldWithATimeThePartnerIsDeadAt_NeverBeforeWhatWasHeard()
    {
        var (a, b) = (FreeEndpoint(), FreeEndpoint());
        var linkA = Link("a", a, b, AToB, BToA, new Self(active: true, takeovers: 1));
        var linkB = Link("b", b, a, BToA, AToB, new Self(active: false, takeovers: 0));
        var told = new ConcurrentQueue<(TimeSpan At, PartnerView Seen)>();
        linkB.Listen(at => told.Enqueue((at, linkB.Partner)));

        Until("B hears A", () => linkB.Partner.Heartbeats > 5);
        linkA.Dispose();
        Until("B is told a time A is dead at", () => told.Any(t => t.Seen.Heartbeats > 0 && t.At - t.Seen.LastHeard >= Dead));

        // Each time handed over comes after every heartbeat the link had counted when it told.
        Assert.All(told, t => Assert.True(t.Seen.LastHeard <= t.At, $"told {t.At} with a heartbeat heard at {t.Seen.LastHeard}"));
    }

    [Fact]
    public void Start_AddressNotOnThisMachine_OneSentenceWhy()
    {
        var error = Assert.Throws<PairLinkException>(() => PairLink.Start(
            "a", new PairLinkSettings(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 4054), FreeEndpoint(), AToB, BToA, Interval, Dead), new Self(false, 0)));

        Assert.StartsWith("cannot receive HA heartbeats on UDP 192.0.2.1:4054: ", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Forwards A's datagrams to B, keeping copies, and B's to A, until the socket closes.</summary>
    private static void Relay(Socket socket, IPEndPoint b, IPEndPoint a, List<byte[]> captured)
    {
        var buffer = new byte[1500];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        try
        {
            while (true)
            {
                var length = socket.ReceiveFrom(buffer, ref from);
                var datagram = buffer[..length];
                if (((IPEndPoint)from).Port == a.Port)
                {
                    // Kept once passed on: every copy kept is one B was sent.
                    socket.SendTo(datagram, b);
                    lock (captured)
                    {
                        captured.Add(datagram);
                    }
                }
                else
                {
                    socket.SendTo(datagram, a);
                }
            }
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private PairLink Link(string name, IPEndPoint local, IPEndPoint partner, byte[] send, byte[] receive, IPairSelf self)
    {
        var link = PairLink.Start(name, new PairLinkSettings(local, partner, send, receive, Interval, Dead), self);
        _owned.Add(link);
        return link;
    }

    private static byte[] Key(byte seed) => [.. Enumerable.Range(0, PairHeartbeat.KeyLength).Select(i => (byte)(i * 7 + seed))];

    private static Socket Bound(IPEndPoint endpoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(endpoint);
        return socket;
    }

    private static IPEndPoint FreeEndpoint()
    {
        using var probe = Bound(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)probe.LocalEndPoint!;
    }

    private static void Until(string what, Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Deadline, $"not within {Deadline.TotalSeconds} s: {what}");
            Thread.Sleep(10);
        }
    }

    private sealed class Self(bool active, long takeovers) : IPairSelf
    {
        public bool IsActive => active;

        public long Takeovers => takeovers;
    }
}
