using Fabric.Dataplane.Svr.Security;
using Fabric.Model;

namespace Fabric.Tests.Dataplane.Svr.Security;

public class PeerPathKeysTests
{
    private const long TicksPerSecond = 1000;
    private static readonly TimeSpan Overlap = TimeSpan.FromSeconds(30);
    private static readonly SecurityPolicy Policy = new("test", Cipher.Aes256Gcm, TimeSpan.FromMinutes(10), RekeyAfterPackets: 100);
    private static readonly RouterIdentity East = SecurityFixtures.Identity("east", seed: 1);
    private static readonly RouterIdentity West = SecurityFixtures.Identity("west", seed: 2);

    private static (PeerPathKeys East, PeerPathKeys West) Paths(SecurityPolicy? policy = null) =>
        (new PeerPathKeys(policy ?? Policy, TicksPerSecond, Overlap, () => new BitmapReplayGuard()),
         new PeerPathKeys(policy ?? Policy, TicksPerSecond, Overlap, () => new BitmapReplayGuard()));

    private static void InstallEpoch(PeerPathKeys east, PeerPathKeys west, uint epoch, long now)
    {
        var (e, w) = SecurityFixtures.DerivePair(East, West, epoch);
        east.Install(e, now);
        west.Install(w, now);
        e.Dispose();
        w.Dispose();
    }

    private static (byte[] Payload, byte[] Trailer) SealOne(PeerPathKeys sender, byte[] ad, PayloadProtection protection = PayloadProtection.Encrypt)
    {
        var payload = SecurityFixtures.Bytes(200, seed: 11);
        var trailer = new byte[PacketSealer.TrailerLength];
        Assert.Equal(PacketSealer.TrailerLength, sender.Seal(ad, payload, trailer, protection));
        return (payload, trailer);
    }

    [Theory]
    [InlineData(Cipher.Aes128Gcm)]
    [InlineData(Cipher.Aes256Gcm)]
    public void PeerPathKeys_SealOnOneRouter_OpensOnTheOther(Cipher cipher)
    {
        var (east, west) = Paths(Policy with { Cipher = cipher });
        InstallEpoch(east, west, 1, now: 0);
        var ad = new byte[] { 1, 2, 3 };

        var (payload, trailer) = SealOne(east, ad);
        var (back, backTrailer) = SealOne(west, ad, PayloadProtection.IntegrityOnly);

        Assert.Equal(OpenVerdict.Ok, west.Open(east.SecurityId, ad, payload, trailer, PayloadProtection.Encrypt, now: 1));
        Assert.Equal(SecurityFixtures.Bytes(200, seed: 11), payload);
        Assert.Equal(OpenVerdict.Ok, east.Open(ad, back, backTrailer, PayloadProtection.IntegrityOnly, now: 1));
    }

    [Fact]
    public void PeerPathKeys_WithoutKeys_RefusesToSealAndOpen()
    {
        var (east, west) = Paths();
        var trailer = new byte[PacketSealer.TrailerLength];

        Assert.False(east.HasKeys);
        Assert.Equal(0u, east.SecurityId);
        Assert.Equal(0, east.Seal([], new byte[8], trailer, PayloadProtection.Encrypt));
        Assert.Equal(OpenVerdict.UnknownEpoch, west.Open([], new byte[8], trailer, PayloadProtection.Encrypt, now: 0));
    }

    [Fact]
    public void PeerPathKeys_PreviousEpoch_IsAcceptedDuringOverlapAndRefusedAfterRetirement()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 1, now: 0);
        var ad = new byte[] { 4 };
        var (early, earlyTrailer) = SealOne(east, ad);
        var (late, lateTrailer) = SealOne(east, ad);
        var (byId, byIdTrailer) = SealOne(east, ad);

        var rekeyAt = 60 * TicksPerSecond;
        InstallEpoch(east, west, 2, rekeyAt);

        Assert.Equal(2u, west.SecurityId);
        Assert.Equal(1u, west.PreviousSecurityId);
        Assert.Equal(OpenVerdict.Ok, west.Open(ad, early, earlyTrailer, PayloadProtection.Encrypt, rekeyAt + (29 * TicksPerSecond)));
        Assert.Equal(OpenVerdict.Ok, west.Open(1, ad, byId, byIdTrailer, PayloadProtection.Encrypt, rekeyAt + (29 * TicksPerSecond)));
        Assert.Equal(OpenVerdict.UnknownEpoch, west.Open(ad, late, lateTrailer, PayloadProtection.Encrypt, rekeyAt + (30 * TicksPerSecond)));
        Assert.Equal(0u, west.PreviousSecurityId);
    }

    [Fact]
    public void PeerPathKeys_NewEpoch_SealsWithItsOwnKeyAndSecurityId()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 1, now: 0);
        InstallEpoch(east, west, 2, now: 10);
        var ad = new byte[] { 5 };

        var (payload, trailer) = SealOne(east, ad);

        Assert.Equal(2u, east.SecurityId);
        Assert.Equal(0, PacketSealer.ReadKeyPhase(trailer));
        Assert.Equal(OpenVerdict.UnknownEpoch, west.Open(3, ad, (byte[])payload.Clone(), trailer, PayloadProtection.Encrypt, now: 11));
        Assert.Equal(OpenVerdict.BadTag, west.Open(1, ad, (byte[])payload.Clone(), trailer, PayloadProtection.Encrypt, now: 11));
        Assert.Equal(OpenVerdict.Ok, west.Open(2, ad, payload, trailer, PayloadProtection.Encrypt, now: 11));
    }

    [Fact]
    public void PeerPathKeys_EpochBelowCurrent_IsRefusedAtInstall_WithoutThrowing()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 2, now: 0);
        var (older, _) = SecurityFixtures.DerivePair(East, West, 1);

        Assert.False(east.Install(older, now: 1));
        Assert.Equal(2u, east.SecurityId);
        Assert.Equal(0u, east.PreviousSecurityId);
    }

    [Fact]
    public void PeerPathKeys_SameEpochAgain_SendsAboveEverySequenceItUsedUnderIt()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 1, now: 0);
        var ad = new byte[] { 6 };
        var (_, first) = SealOne(east, ad);
        var (_, second) = SealOne(east, ad);
        var (again, _) = SecurityFixtures.DerivePair(East, West, 1);

        Assert.True(east.Install(again, now: 1));
        var (_, third) = SealOne(east, ad);

        Assert.Equal(
            [0UL, 1UL, 2UL],
            new[] { first, second, third }.Select(t => PacketSealer.SequenceOf(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(t))));
    }

    [Fact]
    public void PeerPathKeys_SameEpochAgain_ReplacesCurrentAndKeepsPrevious()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 1, now: 0);
        InstallEpoch(east, west, 2, now: 0);
        var (again, _) = SecurityFixtures.DerivePair(East, West, 2);

        east.Install(again, now: 1);

        Assert.Equal(2u, east.SecurityId);
        Assert.Equal(1u, east.PreviousSecurityId);
    }

    [Fact]
    public void PeerPathKeys_RekeyDue_ByTime()
    {
        var (east, west) = Paths();
        Assert.True(east.IsRekeyDue(now: 0));
        InstallEpoch(east, west, 1, now: 1000);

        Assert.False(east.IsRekeyDue(1000 + (599 * TicksPerSecond)));
        Assert.True(east.IsRekeyDue(1000 + (600 * TicksPerSecond)));
    }

    [Fact]
    public void PeerPathKeys_RekeyDue_ByPacketCount()
    {
        var (east, west) = Paths();
        InstallEpoch(east, west, 1, now: 0);
        var payload = new byte[16];
        var trailer = new byte[PacketSealer.TrailerLength];
        for (var i = 0; i < 99; i++)
        {
            east.Seal([], payload, trailer, PayloadProtection.Encrypt);
        }

        Assert.False(east.IsRekeyDue(now: 1));
        east.Seal([], payload, trailer, PayloadProtection.Encrypt);
        Assert.Equal(100, east.PacketsSealed);
        Assert.True(east.IsRekeyDue(now: 1));

        InstallEpoch(east, west, 2, now: 2);
        Assert.False(east.IsRekeyDue(now: 2));
    }

    [Fact]
    public void PeerPathKeys_StaticRekeyRule_UsesTimeOrCount()
    {
        Assert.False(PeerPathKeys.IsRekeyDue(Policy, TimeSpan.FromMinutes(9), 99));
        Assert.True(PeerPathKeys.IsRekeyDue(Policy, TimeSpan.FromMinutes(10), 0));
        Assert.True(PeerPathKeys.IsRekeyDue(Policy, TimeSpan.Zero, 100));
    }
}
