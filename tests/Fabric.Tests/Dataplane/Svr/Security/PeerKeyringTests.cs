using System.Buffers.Binary;
using Fabric.Dataplane.Svr.Security;
using Fabric.Model;

namespace Fabric.Tests.Dataplane.Svr.Security;

public class PeerKeyringTests
{
    private const long TicksPerSecond = 1000;
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    [Fact]
    public void PeerKeyring_BothNodesOfAPairActiveAcrossAnEpochBoundary_NeverSealWithTheSameNonce()
    {
        // Both nodes of dc1 share its identity, so both derive the same keys for the new epoch, each on its
        // own timer a moment past the boundary.
        var dc1 = SecurityFixtures.Identity("dc1", 1);
        var br2 = SecurityFixtures.Identity("br2", 2);
        var pastBoundary = ClockEpochs.StartOf(ClockEpochs.EpochAt(new DateTimeOffset(2026, 11, 27, 3, 30, 0, TimeSpan.Zero), Hour) + 1, Hour) + TimeSpan.FromMilliseconds(5);
        using var nodeA = new PeerKeyring(sender: 0x1234);
        using var nodeB = new PeerKeyring(sender: 0x5678);
        using var peer = new PeerKeyring(sender: 0x9ABC);

        var trailers = new List<byte[]>();
        var payloads = new List<byte[]>();
        foreach (var node in new[] { nodeA, nodeB })
        {
            var id = node.For("br2", SecurityPolicy.Default, TicksPerSecond);
            Assert.Equal(KeyAgreementResult.Ok, ClockEpochs.TryDerive(dc1, new PinnedPeer("br2", br2.PublicKey), pastBoundary, Hour, out var keys));
            node.Enqueue("br2", keys!);
            node.InstallPending(now: 0);
            var payload = SecurityFixtures.Bytes(64, seed: 3);
            var trailer = new byte[PacketSealer.TrailerLength];
            Assert.Equal(PacketSealer.TrailerLength, node[id].Seal([1, 2], payload, trailer, PayloadProtection.Encrypt));
            trailers.Add(trailer);
            payloads.Add(payload);
        }

        var peerId = peer.For("dc1", SecurityPolicy.Default, TicksPerSecond);
        Assert.Equal(KeyAgreementResult.Ok, ClockEpochs.TryDerive(br2, new PinnedPeer("dc1", dc1.PublicKey), pastBoundary, Hour, out var peerKeys));
        peer.Enqueue("dc1", peerKeys!);
        peer.InstallPending(now: 0);

        Assert.NotEqual(BinaryPrimitives.ReadUInt64BigEndian(trailers[0]), BinaryPrimitives.ReadUInt64BigEndian(trailers[1]));
        Assert.NotEqual(payloads[0], payloads[1]);
        Assert.Equal(OpenVerdict.Ok, peer[peerId].Open([1, 2], payloads[0], trailers[0], PayloadProtection.Encrypt, now: 0));
    }
}
