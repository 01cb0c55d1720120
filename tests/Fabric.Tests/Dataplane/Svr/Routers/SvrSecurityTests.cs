using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Dataplane.Routing;
using Fabric.Tests.Dataplane.Svr.Security;

namespace Fabric.Tests.Dataplane.Svr.Routers;

/// <summary>Peer path security in the packet path: fail closed, encryption, metadata authentication, tamper, replay, wrong key, rekey.</summary>
public sealed class SvrSecurityTests
{
    private const string Db = "10.10.1.20";
    private const string Web = "10.200.0.80";

    [Fact]
    public void EncryptedService_NoKeysForThePeerPath_RefusedAtIngress_NothingLeavesInClear()
    {
        using var fabric = new SvrFabric();
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Empty(fabric.Db1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.NoPeerKeys));
        Assert.DoesNotContain(fabric.DcWan.Received, IsIpv4);
    }

    [Fact]
    public void PeerPresentingAKeyThatIsNotPinned_GetsNoKeys_EncryptedServiceStaysRefused()
    {
        using var fabric = new SvrFabric();
        var impostor = SecurityFixtures.Identity("dc1", 999);
        var result = fabric.Br2.AgreePeerKeys(
            fabric.IdentityOf("br2"), "dc1", impostor.PublicKey, 1, SecurityFixtures.Nonce(1), SecurityFixtures.Nonce(2));
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Equal(KeyAgreementResult.PeerKeyMismatch, result);
        Assert.Empty(fabric.Db1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Br2, DropReason.NoPeerKeys));
    }

    [Fact]
    public void EncryptedService_WithKeys_PayloadIsCiphertextOnTheWire_TrailerOnEveryPacket()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        var secret = "SELECT card_number FROM payments"u8.ToArray();
        OpenDbSession(fabric);
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, secret);
        fabric.Pump();

        Assert.Equal(secret, Payload(fabric.Db1.Received[^1]));
        Assert.Equal(secret, Payload(fabric.Fin1.Received[^1]));
        Assert.True(Packets.ChecksumsValid(fabric.Db1.Received[^1]));
        var wire = Ip(fabric.DcWan.Received[^1]);
        Assert.Equal(20 + 20 + secret.Length + PacketSealer.TrailerLength, wire.Length);
        Assert.False(Contains(wire, secret));
        Assert.True(Packets.ChecksumsValid(wire));
        Assert.True(SvrFabric.OnlySession(fabric.Dc1).Sealed);
    }

    [Fact]
    public void PlainService_WithKeys_MetadataAuthenticated_ThenZeroBytesAdded()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, new byte[500]);
        fabric.Pump();

        var syn = Ip(fabric.DcWan.Received.First(IsIpv4));
        Assert.True(MetadataInsertion.TryLocate(syn, syn.Length, out var block, out _));
        Assert.True(block.TryFindHeaderTlv(MetadataTlvType.SecurityId, out _));
        Assert.Equal(20 + 20 + block.TotalLength + PacketSealer.TrailerLength, syn.Length);
        Assert.Equal(20 + 20 + 500, Ip(fabric.DcWan.Received[^1]).Length);
        Assert.Equal(500, Payload(fabric.Eng1.Received[^1]).Length);
    }

    [Fact]
    public void TamperedMetadata_DroppedAsTampered_RetransmissionGetsThrough()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        var tampered = false;
        fabric.DcWan.Tamper = frame =>
        {
            if (!tampered && IsIpv4(frame))
            {
                // One byte of the tenant name in the SYN's metadata: "engineering" becomes "enginee\x73ing".
                var at = IndexOf(frame, "engineering"u8.ToArray());
                frame[at + 7] ^= 0x01;
                tampered = true;

                // An attacker on the path fixes the TCP checksum; only the tag can tell.
                var ip = frame.AsSpan(EthernetFrame.UntaggedHeaderLength);
                Ipv4Packet.TryCreate(ip, out var packet);
                TcpSegment.TryCreate(packet.Payload, out var segment);
                segment.UpdateChecksum(packet.PseudoHeaderSum());
            }

            return true;
        };
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Tampered));
        Assert.Empty(fabric.Web1.Received.Concat(fabric.Web2.Received));

        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        Assert.Single(fabric.Eng1.Received);
    }

    [Fact]
    public void ForgedMetadataClaimingANewSessionOnALiveSessionsWaypoints_Dropped_TheSessionGoesOn()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br1, fabric.Dc1, epoch: 1);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "one"u8.ToArray());
        fabric.Pump();
        Assert.Equal(2, fabric.Eng1.Received.Count);

        // Someone on the WAN sends the session's first packet again with another session id in its metadata: what a peer
        // that ended the session and reuses its waypoints would send, but not sealed by the peer (the tag no longer fits).
        var forged = Ip(fabric.DcWan.Received.First(IsIpv4));
        Assert.True(MetadataInsertion.TryLocate(forged, forged.Length, out var block, out _));
        Assert.True(block.TryFindPayloadTlv(MetadataTlvType.SessionId, out var id));
        forged[IndexOf(forged, id.ToArray()) + id.Length - 1] ^= 0x01;
        Ipv4Packet.TryCreate(forged, out var packet);
        TcpSegment.TryCreate(packet.Payload, out var segment);
        segment.UpdateChecksum(packet.PseudoHeaderSum());
        fabric.Attacker.SendIp(forged);
        fabric.Pump();

        Assert.Equal(0, fabric.Dc1.Worker.Counters.SessionsSuperseded);
        Assert.Equal(1, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(1, fabric.Dc1.Worker.Sessions.Count);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Ack | TcpFlags.Psh, 104, 5004, "two"u8.ToArray());
        fabric.Pump();
        Assert.Equal("two"u8.ToArray(), Payload(fabric.Eng1.Received[^1]));
        Assert.Equal(0, SvrFabric.Drops(fabric.Dc1, DropReason.WaypointNoSession));
    }

    [Fact]
    public void ReplayedPacket_DroppedAsReplayed()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        OpenDbSession(fabric);
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101, 5001, "transfer 100"u8.ToArray());
        fabric.Pump();
        var delivered = fabric.Db1.Received.Count;

        // A copy of the sealed packet, sent again by someone on the WAN.
        fabric.Attacker.SendIp(Ip(fabric.DcWan.Received[^1]));
        fabric.Pump();

        Assert.Equal(delivered, fabric.Db1.Received.Count);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Replayed));
    }

    [Fact]
    public void SealedWithAnEpochTheReceiverLacks_DroppedAsUnknownKey()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        fabric.GiveKeys(fabric.Br2, fabric.Dc1, epoch: 2);
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Empty(fabric.Db1.Received);
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.UnknownKey));
    }

    [Fact]
    public void UnauthenticatedMetadata_FromAPeerWithKeys_Dropped()
    {
        using var fabric = new SvrFabric();
        fabric.GiveKeys(fabric.Dc1, fabric.Br1, epoch: 1);
        fabric.Eng1.SendTcp(Web, 40000, 80, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();

        Assert.Empty(fabric.Web1.Received.Concat(fabric.Web2.Received));
        Assert.Equal(1, SvrFabric.Drops(fabric.Dc1, DropReason.Unauthenticated));
    }

    [Fact]
    public void RekeyUnderTraffic_PacketsInFlightAcrossTheSwitch_NoneLost()
    {
        using var fabric = new SvrFabric();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 1);
        OpenDbSession(fabric);
        var before = fabric.Db1.Received.Count;

        // Sealed with epoch 1 and on the wire when both routers switch to epoch 2.
        for (uint i = 0; i < 5; i++)
        {
            fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101 + (i * 4), 5001, "old!"u8.ToArray());
        }

        fabric.Br2.RunOnce();
        fabric.ShareKeys(fabric.Br2, fabric.Dc1, epoch: 2);
        for (uint i = 5; i < 10; i++)
        {
            fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack | TcpFlags.Psh, 101 + (i * 4), 5001, "new!"u8.ToArray());
        }

        fabric.Pump();

        Assert.Equal(before + 10, fabric.Db1.Received.Count);
        Assert.Equal(10, fabric.Fin1.Received.Count(p => Payload(p).Length == 4));
        Assert.Equal(0, fabric.Dc1.Worker.Counters.Dropped);
        Assert.Equal(0, fabric.Br2.Worker.Counters.Dropped);
    }

    private static void OpenDbSession(SvrFabric fabric)
    {
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Syn, 100, 0, []);
        fabric.Pump();
        fabric.Fin1.SendTcp(Db, 40000, 5432, TcpFlags.Ack, 101, 5001, []);
        fabric.Pump();
        Assert.Single(fabric.Fin1.Received);
    }

    private static bool IsIpv4(byte[] frame) => EthernetFrame.TryCreate(frame, out var ethernet) && ethernet.EtherType == EtherType.Ipv4;

    private static byte[] Ip(byte[] frame)
    {
        EthernetFrame.TryCreate(frame, out var ethernet);
        Ipv4Packet.TryCreate(ethernet.Payload, out var ip);
        return ethernet.Payload[..ip.TotalLength].ToArray();
    }

    private static byte[] Payload(byte[] packet)
    {
        Ipv4Packet.TryCreate(packet, out var ip);
        TcpSegment.TryCreate(ip.Payload, out var tcp);
        return tcp.Payload.ToArray();
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    private static bool Contains(byte[] haystack, byte[] needle) => IndexOf(haystack, needle) >= 0;
}
