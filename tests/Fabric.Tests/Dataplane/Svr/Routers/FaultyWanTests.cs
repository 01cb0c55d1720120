using FsCheck.Xunit;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>
/// The WAN between the routers loses, duplicates, reorders and corrupts frames on a random schedule. Whatever
/// reaches a host is either its flow's packet restored exactly (valid checksums, original tuple, a payload that
/// was sent) or carries a checksum its stack rejects; everything else was dropped by a router with a reason.
/// </summary>
public sealed class FaultyWanTests
{
    private const string Bulk = "10.10.1.30";

    [Property(MaxTest = 40)]
    public bool UdpSession_RandomFaultSchedule_EveryPacketRestoredOrRejected(int seed, bool keyed)
    {
        using var fabric = new SvrFabric();
        if (keyed)
        {
            fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        }

        var random = new Random(seed);
        fabric.DcWan.Faults = new FaultSchedule(random).Next;
        fabric.BrWan.Faults = new FaultSchedule(random).Next;
        var sent = new HashSet<string>();
        for (var i = 0; i < 12; i++)
        {
            var payload = $"datagram {i} of {seed}";
            sent.Add(payload);
            fabric.Eng1.SendUdp(Bulk, 5000, 5201, System.Text.Encoding.ASCII.GetBytes(payload));
            fabric.Pump();
        }

        var eng1 = fabric.Eng1.Address;
        var bulk = IpAddressConversions.ParseIpv4(Bulk);
        foreach (var p in fabric.Bulk1.Received.Where(p => !RejectedByHost(p) && !Restored(p, eng1, 5000, bulk, 5201, sent)))
        {
            Assert.Fail($"bulk1 got {Convert.ToHexString(p)}");
        }

        foreach (var p in fabric.Eng1.Received.Where(p => !RejectedByHost(p) && !Restored(p, bulk, 5201, eng1, 5000, sent)))
        {
            Assert.Fail($"eng1 got {Convert.ToHexString(p)}");
        }

        return fabric.Dc1.Worker.Drops.Total(DropReason.None) == 0
            && fabric.Br1.Worker.Drops.Total(DropReason.None) == 0;
    }

    /// <summary>One direction of the faulty link: for each frame deliver it (most of the time), lose it, duplicate it, corrupt a bit, or hold it back behind the next.</summary>
    private sealed class FaultSchedule(Random random)
    {
        private byte[]? _held;

        public IReadOnlyList<byte[]> Next(byte[] frame)
        {
            switch (random.Next(10))
            {
                case 0:
                    return [];
                case 1:
                    return [frame, (byte[])frame.Clone()];
                case 2:
                case 3:
                    var corrupt = (byte[])frame.Clone();
                    corrupt[random.Next(EthernetFrame.UntaggedHeaderLength, corrupt.Length)] ^= (byte)(1 << random.Next(8));
                    return [corrupt];
                case 4 when _held is null:
                    _held = frame;
                    return [];
                default:
                    if (_held is { } held)
                    {
                        _held = null;
                        return [frame, held];
                    }

                    return [frame];
            }
        }
    }

    private static bool RejectedByHost(byte[] packet) => !Packets.ChecksumsValid(packet);

    private static bool Restored(byte[] packet, uint source, ushort sourcePort, uint destination, ushort destinationPort, HashSet<string> sent)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        return ip.Protocol == IpProtocol.Udp
            && UdpDatagram.TryCreate(ip.Payload, out var udp)
            && ip.Source == source && udp.SourcePort == sourcePort
            && ip.Destination == destination && udp.DestinationPort == destinationPort
            && sent.Contains(System.Text.Encoding.ASCII.GetString(udp.Payload));
    }
}
