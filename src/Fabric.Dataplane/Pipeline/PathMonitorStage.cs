using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Peer path monitoring on the wire, between the two waypoint addresses of each peer path:
/// <list type="bullet">
/// <item><b>Liveness probes</b>: UDP <see cref="Model.PathMonitoring.ControlPort"/> → same port, a 24-octet BFD control
/// packet (RFC 5880 §4.1: version 1, state Down/Init/Up for our Down/HoldDown/Up, detect multiplier, our and the
/// peer's discriminator, intervals in microseconds), one per interval (<see cref="Tick"/>).</item>
/// <item><b>Echoes</b>: UDP <see cref="Model.PathMonitoring.EchoPort"/> → same port, 16 octets: our discriminator u32,
/// sequence u32, our send time i64 (ticks of our clock). The peer sends an echo that is not its own straight back
/// (addresses and MACs swapped, nothing else touched); we know ours by the discriminator.</item>
/// </list>
/// Only the peer of a path is heard (its waypoint address to ours); anything else to these ports is dropped as
/// <see cref="DropReason.NotAPeer"/>. Probes are not authenticated (as BFD without its optional authentication):
/// a host that can forge the peer's address can keep a dead path looking alive, not steer sessions.
/// Allocation-free. <see cref="Tick"/> runs on the router's first worker; probes and echoes come back to any worker, so
/// each path's health is changed under its own lock (monitoring packets are few: the lock costs the data path nothing).
/// </summary>
public static class PathMonitorStage
{
    /// <summary>The length of a BFD control packet without authentication (RFC 5880).</summary>
    public const int ControlLength = 24;

    public const int EchoLength = 16;

    private const byte BfdVersion = 1;

    /// <summary>Whether UDP to this port of a router's own address is path monitoring.</summary>
    public static bool IsMonitorPort(ushort port) => port is Model.PathMonitoring.ControlPort or Model.PathMonitoring.EchoPort;

    /// <summary>Runs every peer path's timers: sends the probes and echo bursts that are due. Once per worker round.</summary>
    public static void Tick(WorkerResources resources, ForwardingSnapshot snapshot, long now)
    {
        var paths = snapshot.PeerPaths;
        for (var i = 0; i < paths.Length; i++)
        {
            var path = paths[i];
            var health = path.Health;
            lock (health)
            {
                if (health.ProbeDue(now))
                {
                    SendControl(resources, snapshot, path, health, now);
                }

                if (health.BurstDue(now))
                {
                    for (var k = 0; k < health.Settings.EchoBurst; k++)
                    {
                        SendEcho(resources, snapshot, path, health.EchoSequence(k), now);
                    }
                }
            }
        }
    }

    /// <summary>When the next probe or echo burst of any peer path is due (clock ticks); <see cref="long.MaxValue"/> when there is no path.</summary>
    public static long NextDue(ForwardingSnapshot snapshot)
    {
        var due = long.MaxValue;
        var paths = snapshot.PeerPaths;
        for (var i = 0; i < paths.Length; i++)
        {
            var health = paths[i].Health;
            due = Math.Min(due, Math.Min(health.NextProbe, health.NextBurst));
        }

        return due;
    }

    /// <summary>A UDP datagram to a monitoring port of one of our addresses: a probe, our echo back, or the peer's echo to return.</summary>
    public static Verdict Receive(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        if (!snapshot.TryFindPeer(context.Key.Source, context.Key.IsIpv6, out var path) || path.LocalAddress != context.Key.Destination)
        {
            return context.Fail(DropReason.NotAPeer);
        }

        var payloadAt = context.TransportOffset + UdpDatagram.HeaderLength;
        var payloadLength = context.IpLength - (payloadAt - context.NetworkOffset);
        if (payloadLength < 0)
        {
            return context.Fail(DropReason.Malformed);
        }

        var payload = context.Frame.Slice(payloadAt, payloadLength);
        if (context.Key.DestinationPort == Model.PathMonitoring.ControlPort)
        {
            if (payload.Length < ControlLength || payload[0] >> 5 != BfdVersion || payload[3] != ControlLength)
            {
                return context.Fail(DropReason.Malformed);
            }

            lock (path.Health)
            {
                path.Health.ProbeReceived(context.Now, BinaryPrimitives.ReadUInt32BigEndian(payload[4..]));
            }

            return Verdict.Consumed;
        }

        if (payload.Length != EchoLength)
        {
            return context.Fail(DropReason.Malformed);
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(payload) == path.Health.Discriminator)
        {
            lock (path.Health)
            {
                path.Health.EchoReturned(BinaryPrimitives.ReadUInt32BigEndian(payload[4..]), BinaryPrimitives.ReadInt64BigEndian(payload[8..]), context.Now);
            }

            return Verdict.Consumed;
        }

        // The peer's echo: straight back. Swapping addresses leaves both checksums as they are.
        var ethernet = EthernetFrame.FromValidated(context.Frame);
        var sender = ethernet.Source;
        ethernet.Source = resources.Ports[context.IngressPort].Mac;
        ethernet.Destination = sender;
        var ip = context.Frame[context.NetworkOffset..];
        var (sourceAt, destinationAt, length) = context.IsIpv6
            ? (Ipv6Packet.SourceOffset, Ipv6Packet.DestinationOffset, 16)
            : (Ipv4Packet.SourceOffset, Ipv4Packet.DestinationOffset, 4);
        Span<byte> source = stackalloc byte[16];
        ip.Slice(sourceAt, length).CopyTo(source);
        ip.Slice(destinationAt, length).CopyTo(ip[sourceAt..]);
        source[..length].CopyTo(ip[destinationAt..]);
        resources.SendOwn(context.IngressPort, context.Frame[..(context.NetworkOffset + context.IpLength)]);
        return Verdict.Consumed;
    }

    private static void SendControl(WorkerResources resources, ForwardingSnapshot snapshot, PeerPath path, PeerPathHealth health, long now)
    {
        Span<byte> control = stackalloc byte[ControlLength];
        control[0] = BfdVersion << 5;
        control[1] = (byte)((health.State switch
        {
            PeerPathState.Up => 3,
            PeerPathState.HoldDown => 2,
            _ => 1,
        }) << 6);
        control[2] = (byte)health.Settings.Multiplier;
        control[3] = ControlLength;
        BinaryPrimitives.WriteUInt32BigEndian(control[4..], health.Discriminator);
        BinaryPrimitives.WriteUInt32BigEndian(control[8..], health.PeerDiscriminator);
        var intervalMicroseconds = (uint)Math.Min(uint.MaxValue, health.Settings.Interval * 1_000_000 / resources.TicksPerSecond);
        BinaryPrimitives.WriteUInt32BigEndian(control[12..], intervalMicroseconds);
        BinaryPrimitives.WriteUInt32BigEndian(control[16..], intervalMicroseconds);
        BinaryPrimitives.WriteUInt32BigEndian(control[20..], intervalMicroseconds);
        Send(resources, snapshot, path, Model.PathMonitoring.ControlPort, control, now);
    }

    private static void SendEcho(WorkerResources resources, ForwardingSnapshot snapshot, PeerPath path, uint sequence, long now)
    {
        Span<byte> echo = stackalloc byte[EchoLength];
        BinaryPrimitives.WriteUInt32BigEndian(echo, path.Health.Discriminator);
        BinaryPrimitives.WriteUInt32BigEndian(echo[4..], sequence);
        BinaryPrimitives.WriteInt64BigEndian(echo[8..], now);
        Send(resources, snapshot, path, Model.PathMonitoring.EchoPort, echo, now);
    }

    /// <summary>
    /// Sends to the peer's waypoint in the path's family; while its MAC is unknown the probe is not sent and the peer is
    /// asked for (ARP over IPv4, neighbour solicitation over IPv6).
    /// </summary>
    private static void Send(WorkerResources resources, ForwardingSnapshot snapshot, PeerPath path, ushort port, ReadOnlySpan<byte> payload, long now)
    {
        if (!resources.Neighbors.TryGet(path.Port, path.PeerAddress, path.IsIpv6, now, out var mac))
        {
            EgressStage.Resolve(resources, snapshot.Ports[path.Port], path.Port, path.IsIpv6, path.PeerAddress);
            return;
        }

        var length = ControlMessages.PathProbe(resources.Scratch, resources.Ports[path.Port].Mac, mac, path.IsIpv6, path.LocalAddress, path.PeerAddress, port, payload);
        resources.SendOwn(path.Port, resources.Scratch.AsSpan(0, length));
    }
}
