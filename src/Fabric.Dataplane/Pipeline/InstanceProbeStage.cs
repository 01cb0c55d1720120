using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.LoadBalancing;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// Active health checks of the instances behind this router, made by the dataplane itself (docs/load-balancing.md
/// "Health checks"): the router's forwarding ports have no kernel address, so a kernel socket of the router process
/// cannot reach an instance; the dataplane can, from its gateway address on the instance's port, as it reaches the
/// instance with every session.
/// <list type="bullet">
/// <item><b>TCP</b> (a service with a TCP port): a SYN from the gateway address, source port
/// <see cref="ProbePortFirst"/> + 14 bits of the probe's cookie, initial sequence number the cookie, to the instance's
/// port (its own, or the service's first TCP port). A SYN-ACK acknowledging the cookie is alive, and is answered with a
/// reset so the instance keeps no connection; a reset acknowledging it is refused (nothing listens).</item>
/// <item><b>ICMP</b> (a service without a TCP port): an echo request, identifier and sequence the cookie's two halves;
/// the matching echo reply is alive.</item>
/// </list>
/// An answer is consumed here and never forwarded: the gateway address is the router's own, and no session uses it. A
/// packet to the gateway address that answers no probe is dropped as before (<see cref="DropReason.ToRouter"/>).
/// IPv4 only: an instance with no IPv4 address is not checked (it stays up). <see cref="Tick"/> runs on the router's
/// first worker of an active node; answers come back to any worker, so each check changes under its own lock (probes
/// are few: the lock costs the data path nothing). Allocation-free, except the new health vector of an instance whose
/// health changed (<see cref="InstanceLoad.SetUp"/>).
/// </summary>
public static class InstanceProbeStage
{
    /// <summary>The lowest TCP source port of a probe (the IANA dynamic range); probes use 16 384 ports from here.</summary>
    public const ushort ProbePortFirst = 49152;

    /// <summary>Sends the probes that are due and times out the ones not answered in time. Once per worker round.</summary>
    public static void Tick(WorkerResources resources, ForwardingSnapshot snapshot, long now)
    {
        foreach (var entry in snapshot.Services)
        {
            if (entry.Runtime.HealthChecks is not { } checks || checks.Length != entry.Instances.Length)
            {
                continue;
            }

            for (var slot = 0; slot < checks.Length; slot++)
            {
                var check = checks[slot];
                lock (check)
                {
                    Apply(snapshot, entry, slot, check.Expire(now));
                    if (check.ProbeDue(now))
                    {
                        Send(resources, snapshot, entry, slot, check, now);
                    }
                }
            }
        }
    }

    /// <summary>When the next probe or probe timeout of any instance is due (clock ticks); <see cref="long.MaxValue"/> when nothing is checked.</summary>
    public static long NextDue(ForwardingSnapshot snapshot)
    {
        var due = long.MaxValue;
        foreach (var entry in snapshot.Services)
        {
            if (entry.Runtime.HealthChecks is { } checks)
            {
                foreach (var check in checks)
                {
                    due = Math.Min(due, check.NextDue);
                }
            }
        }

        return due;
    }

    /// <summary>
    /// Whether an IPv4 packet to the router's own address could answer a probe: a TCP segment with ACK and SYN or RST
    /// set to a probe port, or an echo reply. Cheap; <see cref="Receive"/> decides.
    /// </summary>
    public static bool MayAnswer(ref PacketContext context) =>
        !context.IsIpv6 && !context.IsIcmpError
        && ((context.Key.Protocol == IpProtocol.Tcp && context.Key.DestinationPort >= ProbePortFirst)
            || (context.Key.Protocol == IpProtocol.Icmp && context.Frame[context.TransportOffset] == Icmpv4Type.EchoReply));

    /// <summary>A packet to the router's own address that may answer a probe (<see cref="MayAnswer"/>): consumed when it comes from a checked instance.</summary>
    public static Verdict Receive(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        var segment = context.Frame[context.TransportOffset..];
        uint cookie;
        bool alive;
        ushort instancePort;
        var synAck = false;
        if (context.Key.Protocol == IpProtocol.Tcp)
        {
            var flags = (TcpFlags)segment[TcpSegment.FlagsOffset];
            cookie = BinaryPrimitives.ReadUInt32BigEndian(segment[TcpSegment.AcknowledgmentNumberOffset..]) - 1;
            synAck = (flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == (TcpFlags.Syn | TcpFlags.Ack);
            var reset = (flags & (TcpFlags.Rst | TcpFlags.Ack)) == (TcpFlags.Rst | TcpFlags.Ack);
            if ((!synAck && !reset) || context.Key.DestinationPort != ProbePort(cookie))
            {
                return context.Fail(DropReason.ToRouter);
            }

            alive = synAck;
            instancePort = context.Key.SourcePort;
        }
        else
        {
            cookie = BinaryPrimitives.ReadUInt32BigEndian(segment[4..]);
            alive = true;
            instancePort = 0;
        }

        var source = (uint)context.Key.Source;
        var matched = false;
        foreach (var entry in snapshot.Services)
        {
            if (entry.Runtime.HealthChecks is not { } checks || checks.Length != entry.Instances.Length)
            {
                continue;
            }

            for (var slot = 0; slot < checks.Length; slot++)
            {
                var instance = entry.Instances[slot];
                if (!instance.HasIpv4 || instance.Ipv4 != source || PortOf(entry, instance) != instancePort)
                {
                    continue;
                }

                matched = true;
                var check = checks[slot];
                lock (check)
                {
                    Apply(snapshot, entry, slot, check.Answered(cookie, alive));
                }
            }
        }

        if (!matched)
        {
            return context.Fail(DropReason.ToRouter);
        }

        if (synAck)
        {
            // The instance holds a half-open connection for the probe: end it (RFC 9293: a reset carrying the sequence it acknowledged).
            var sender = EthernetFrame.FromValidated(context.Frame).Source;
            var length = ControlMessages.TcpSegmentOfOurOwn(
                resources.Scratch, resources.Ports[context.IngressPort].Mac, sender, (uint)context.Key.Destination, source,
                context.Key.DestinationPort, instancePort, cookie + 1, 0, TcpFlags.Rst);
            resources.SendOwn(context.IngressPort, resources.Scratch.AsSpan(0, length));
        }

        return Verdict.Consumed;
    }

    /// <summary>The TCP source port of the probe that carries <paramref name="cookie"/>.</summary>
    public static ushort ProbePort(uint cookie) => (ushort)(ProbePortFirst + (cookie & 0x3FFF));

    /// <summary>The port a probe of <paramref name="instance"/> goes to: its own, else the service's; 0 for an ICMP echo.</summary>
    private static ushort PortOf(ServiceEntry entry, in LocalInstance instance) => instance.Port != 0 ? instance.Port : entry.HealthCheckPort;

    private static void Send(WorkerResources resources, ForwardingSnapshot snapshot, ServiceEntry entry, int slot, InstanceHealthCheck check, long now)
    {
        var instance = entry.Instances[slot];
        var port = instance.EgressPort;
        if (!instance.HasIpv4 || (uint)port >= (uint)snapshot.Ports.Length || !TryGatewayAddress(snapshot.Ports[port], instance.Ipv4, out var gateway))
        {
            check.Deferred(now);
            return;
        }

        var cookie = (uint)resources.NextRandom();
        check.Sent(cookie, now);
        if (!resources.Neighbors.TryGet(port, instance.Ipv4, isIpv6: false, now, out var mac))
        {
            // Not answering ARP is not answering the probe: it times out unless the instance shows itself by then.
            EgressStage.Resolve(resources, snapshot.Ports[port], port, isIpv6: false, instance.Ipv4);
            return;
        }

        var ourMac = resources.Ports[port].Mac;
        var target = PortOf(entry, instance);
        var length = target == 0
            ? ControlMessages.EchoRequest(resources.Scratch, ourMac, mac, gateway, instance.Ipv4, (ushort)(cookie >> 16), (ushort)cookie)
            : ControlMessages.TcpSegmentOfOurOwn(resources.Scratch, ourMac, mac, gateway, instance.Ipv4, ProbePort(cookie), target, cookie, 0, TcpFlags.Syn);
        resources.SendOwn(port, resources.Scratch.AsSpan(0, length));
    }

    /// <summary>The router's address on the port that has <paramref name="instance"/> on its link (else its first IPv4 address).</summary>
    private static bool TryGatewayAddress(PortBinding binding, uint instance, out uint gateway)
    {
        gateway = 0;
        if (binding.Ipv4Addresses.Length == 0)
        {
            return false;
        }

        gateway = binding.Ipv4Addresses[0];
        foreach (var prefix in binding.OnLink)
        {
            if (!prefix.Contains(instance, isIpv6: false))
            {
                continue;
            }

            foreach (var address in binding.Ipv4Addresses)
            {
                if (prefix.Contains(address, isIpv6: false))
                {
                    gateway = address;
                    return true;
                }
            }
        }

        return true;
    }

    /// <summary>Publishes a change of an instance's health to the load balancer (under the check's lock).</summary>
    private static void Apply(ForwardingSnapshot snapshot, ServiceEntry entry, int slot, HealthTransition transition)
    {
        switch (transition)
        {
            case HealthTransition.WentDown:
                entry.Runtime.Load.SetUp(slot, false);
                snapshot.Runtimes.InstanceWentDown();
                break;
            case HealthTransition.CameUp:
                entry.Runtime.Load.SetUp(slot, true);
                break;
        }
    }
}
