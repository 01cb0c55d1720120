using Fabric.Bench;
using Fabric.Dataplane.Neighbors;
using Fabric.Dataplane.Wire;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Neighbors;

[Collection(AllocationMeasurement.Name)]
public sealed class NeighborTableTests
{
    private const long TicksPerSecond = 1000;
    private const long Reachable = 60 * TicksPerSecond;
    private static readonly MacAddress A = new(0x02_00_00_00_00_0A);
    private static readonly MacAddress B = new(0x02_00_00_00_00_0B);

    [Fact]
    public void NeighborTable_Ipv4AndIpv6AddressOfTheSameValue_AreTwoNeighbors()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        var value = (UInt128)IpAddressConversions.ParseIpv4("10.20.1.10");

        table.Learn(0, value, isIpv6: false, A, now: 0);
        table.Learn(0, value, isIpv6: true, B, now: 0);

        Assert.True(table.TryGet(0, value, isIpv6: false, 0, out var v4));
        Assert.True(table.TryGet(0, value, isIpv6: true, 0, out var v6));
        Assert.Equal(A, v4);
        Assert.Equal(B, v6);
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void NeighborTable_EntryNotConfirmedForReachableTime_NotUsedUntilConfirmedAgain()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        table.Learn(1, 7, isIpv6: false, A, now: 1000);

        Assert.True(table.TryGet(1, 7, isIpv6: false, 1000 + Reachable - 1, out _));
        Assert.False(table.TryGet(1, 7, isIpv6: false, 1000 + Reachable, out _));

        table.Learn(1, 7, isIpv6: false, B, now: 1000 + Reachable + 5);
        Assert.True(table.TryGet(1, 7, isIpv6: false, 1000 + Reachable + 5, out var mac));
        Assert.Equal(B, mac);
    }

    [Fact]
    public void NeighborTable_NeighborFoundThenMovedToAnotherMac_NextLookupGivesTheNewMac()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        table.Learn(0, 7, isIpv6: false, A, now: 0);
        Assert.True(table.TryGet(0, 7, isIpv6: false, 1, out var before));

        table.Learn(0, 7, isIpv6: false, B, now: 2);

        Assert.True(table.TryGet(0, 7, isIpv6: false, 3, out var after));
        Assert.Equal(A, before);
        Assert.Equal(B, after);
    }

    [Fact]
    public void NeighborTable_NeighborSendingEveryFewMilliseconds_StaysFreshPastReachableTime()
    {
        // Frames from the same neighbour again and again (most are not written: see RefreshesPerReachableTime).
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        for (long now = 0; now <= 3 * Reachable; now += 5)
        {
            table.Learn(0, 7, isIpv6: false, A, now);
            Assert.True(table.TryGet(0, 7, isIpv6: false, now, out _));
        }

        Assert.True(table.TryGet(0, 7, isIpv6: false, (4 * Reachable) - (2 * Reachable / NeighborTable.RefreshesPerReachableTime), out _));
        Assert.False(table.TryGet(0, 7, isIpv6: false, 4 * Reachable + 1, out _));
    }

    [Fact]
    public void NeighborTable_Full_StaleSlotsTakeNewNeighbors()
    {
        // One probe window is the whole table: 16 neighbours fill it.
        var table = new NeighborTable(NeighborTable.ProbeWindow, TicksPerSecond, hashSeed: 1);
        for (var address = 1; address <= NeighborTable.ProbeWindow; address++)
        {
            table.Learn(0, (UInt128)address, isIpv6: false, A, now: 0);
        }

        table.Learn(0, 100, isIpv6: false, B, now: Reachable - 1);
        Assert.False(table.TryGet(0, 100, isIpv6: false, Reachable - 1, out _));
        Assert.Equal(1, table.NotKept);

        // A minute later nobody confirmed the first sixteen: their slots go to whoever comes.
        for (var address = 100; address < 100 + NeighborTable.ProbeWindow; address++)
        {
            table.Learn(0, (UInt128)address, isIpv6: false, B, now: Reachable);
        }

        for (var address = 100; address < 100 + NeighborTable.ProbeWindow; address++)
        {
            Assert.True(table.TryGet(0, (UInt128)address, isIpv6: false, Reachable, out var mac));
            Assert.Equal(B, mac);
        }

        Assert.Equal(1, table.NotKept);
        Assert.Equal(NeighborTable.ProbeWindow, table.Count);
    }

    [Fact]
    public void NeighborTable_Learn_ReleasesTheFramesThatWaited()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        Assert.True(table.Hold(0, 9, isIpv6: true, [1, 2], now: 0, out var ask));
        Assert.True(ask);
        Assert.True(table.Hold(0, 9, isIpv6: true, [3], now: 0, out ask));
        Assert.False(ask);

        var released = new CollectFrames([]);
        Assert.Equal(0, table.Learn(0, 9, isIpv6: false, A, now: 0, ref released));
        Assert.Equal(2, table.Learn(0, 9, isIpv6: true, A, now: 0, ref released));

        Assert.Equal([[1, 2], [3]], released.Frames);
    }

    [Fact]
    public void NeighborTable_NeighborThatDoesNotAnswer_AskedAgainEachSecond_FramesGivenUpAfterThree()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        var asked = new List<long>();
        for (var now = 0L; now < 3 * TicksPerSecond; now += 100)
        {
            Assert.True(table.Hold(0, 9, isIpv6: false, [1], now, out var ask));
            if (ask)
            {
                asked.Add(now);
            }
        }

        Assert.Equal(new long[] { 0, TicksPerSecond, 2 * TicksPerSecond }, asked);
        Assert.True(table.Hold(0, 9, isIpv6: false, [2], 3 * TicksPerSecond, out var again));
        Assert.True(again);
        Assert.Equal(30, table.GivenUp);
        var released = new CollectFrames([]);
        table.Learn(0, 9, isIpv6: false, A, 3 * TicksPerSecond, ref released);
        Assert.Equal(2, Assert.Single(released.Frames)[0]);
    }

    [Fact]
    public void NeighborTable_WaitingRoomFullOfNeighborsThatNeverAnswer_FreedAfterGiveUpTime()
    {
        var table = new NeighborTable(1024, TicksPerSecond, hashSeed: 1);
        for (var neighbor = 0; neighbor < NeighborTable.MaxWaiting / NeighborTable.MaxWaitingPerNeighbor; neighbor++)
        {
            for (var frame = 0; frame < NeighborTable.MaxWaitingPerNeighbor; frame++)
            {
                Assert.True(table.Hold(0, (UInt128)neighbor, isIpv6: false, [1], now: 0, out _));
            }
        }

        Assert.False(table.Hold(0, 5000, isIpv6: false, [1], now: 2 * TicksPerSecond, out var ask));
        Assert.False(ask);

        Assert.True(table.Hold(0, 5000, isIpv6: false, [1], now: 3 * TicksPerSecond, out ask));
        Assert.True(ask);
        Assert.Equal(NeighborTable.MaxWaiting, table.GivenUp);
    }

    [Fact]
    public void NeighborTable_Permanent_NeverAgesAndLearningLeavesIt()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        table.AddPermanent(0, 5, isIpv6: false, A);

        table.Learn(0, 5, isIpv6: false, B, now: 10);

        Assert.True(table.TryGet(0, 5, isIpv6: false, long.MaxValue - 1, out var mac));
        Assert.Equal(A, mac);
    }

    [Fact]
    public void NeighborTable_AddressesAimedAtOneWindowUnderOneSeed_SpreadUnderAnother()
    {
        // Someone who knows the seed picks addresses on the link whose home slot is one slot: the window overflows.
        const int capacity = 1024;
        const ulong known = 0x1234_5678_9abc_def0;
        var aimed = new List<UInt128>();
        var network = IpAddressConversions.ParseIpv4("10.20.0.0");
        for (uint host = 1; aimed.Count <= NeighborTable.ProbeWindow; host++)
        {
            var address = (UInt128)(network + host);
            if (Home(new NeighborKey(0, address, IsIpv6: false), known) == 0)
            {
                aimed.Add(address);
            }
        }

        var predictable = new NeighborTable(capacity, TicksPerSecond, known);
        var secret = new NeighborTable(capacity, TicksPerSecond, hashSeed: 0x0fed_cba9_8765_4321);
        foreach (var address in aimed)
        {
            predictable.Learn(0, address, isIpv6: false, A, now: 0);
            secret.Learn(0, address, isIpv6: false, A, now: 0);
        }

        Assert.Equal(1, predictable.NotKept);
        Assert.Equal(0, secret.NotKept);
        Assert.All(aimed, address => Assert.True(secret.TryGet(0, address, isIpv6: false, 0, out _)));

        static int Home(NeighborKey key, ulong seed) => (int)(key.Hash(seed) >> (64 - 10));
    }

    [Fact]
    public void NeighborTable_LearnAndTryGet_AllocateNothing()
    {
        var table = new NeighborTable(NeighborTable.DefaultCapacity, TicksPerSecond, hashSeed: 3);
        var hits = Run(table, 1000, 0);
        var allocated = ThreadAllocations.During(() =>
        {
            hits += Run(table, 100_000, Reachable * 2);
        });

        Assert.Equal(0, allocated);
        Assert.Equal(101_000, hits);

        static int Run(NeighborTable table, int rounds, long now)
        {
            var hits = 0;
            for (var i = 0; i < rounds; i++)
            {
                var address = (UInt128)(uint)((i * 7919) % 2000);
                table.Learn(i & 3, address, isIpv6: (i & 4) != 0, A, now + i);
                hits += table.TryGet(i & 3, address, isIpv6: (i & 4) != 0, now + i, out _) ? 1 : 0;
            }

            return hits;
        }
    }

    [Fact]
    public void NeighborTable_HoldAndRelease_AllocateNothingAndReturnEachFrameIntact()
    {
        var table = new NeighborTable(NeighborTable.DefaultCapacity, TicksPerSecond, hashSeed: 3);
        var frame = new byte[HeldFrames.MaxFrameBytes];
        Random.Shared.NextBytes(frame);
        var check = new CompareFrames(frame);
        Run(table, frame, 10, ref check);
        var allocated = ThreadAllocations.During(() => Run(table, frame, 10_000, ref check));

        Assert.Equal(0, allocated);
        Assert.Equal(0, check.Mismatched);
        Assert.Equal(10_010 * 3, check.Compared);

        // Each round three frames of other lengths (one octet, a 1 514-octet frame, a jumbo frame: one to nine chunks) wait
        // for a neighbour of their own, which answers.
        static void Run(NeighborTable table, byte[] frame, int rounds, ref CompareFrames check)
        {
            for (var i = 0; i < rounds; i++)
            {
                var address = (UInt128)(uint)(i % 5000);
                table.Hold(0, address, isIpv6: false, frame.AsSpan(0, 1), now: i, out _);
                table.Hold(0, address, isIpv6: false, frame.AsSpan(0, 1514), now: i, out _);
                table.Hold(0, address, isIpv6: false, frame, now: i, out _);
                table.Learn(0, address, isIpv6: false, A, now: i, ref check);
            }
        }
    }

    [Fact]
    public void NeighborTable_WaitingRoom_BoundedInBytesPerNeighborAndRefusesFramesAboveAJumbo()
    {
        var table = new NeighborTable(64, TicksPerSecond, hashSeed: 1);
        var jumbo = new byte[HeldFrames.MaxFrameBytes];

        Assert.False(table.Hold(0, 9, isIpv6: false, new byte[HeldFrames.MaxFrameBytes + 1], now: 0, out _));
        var held = 0;
        while (table.Hold(0, 9, isIpv6: false, jumbo, now: 0, out _))
        {
            held++;
        }

        // 208 KiB (Linux's unres_qlen_bytes) holds 23 jumbo frames of nine chunks each; a small frame still fits after them.
        Assert.Equal(HeldFrames.MaxChunksPerQueue / 9, held);
        Assert.True(table.Hold(0, 9, isIpv6: false, [1], now: 0, out _));
        Assert.True(table.Hold(0, 10, isIpv6: false, jumbo, now: 0, out _));
    }

    /// <summary>Keeps a copy of every frame released.</summary>
    private readonly record struct CollectFrames(List<byte[]> Frames) : IHeldFrameSender
    {
        public void Send(Span<byte> frame) => Frames.Add(frame.ToArray());
    }

    /// <summary>Compares each frame released with the start of <paramref name="Expected"/>, allocating nothing.</summary>
    private struct CompareFrames(byte[] Expected) : IHeldFrameSender
    {
        public int Compared;
        public int Mismatched;

        public void Send(Span<byte> frame)
        {
            Compared++;
            Mismatched += frame.SequenceEqual(Expected.AsSpan(0, frame.Length)) ? 0 : 1;
        }
    }
}
