using Fabric.Bench;
using Fabric.Dataplane.Sessions;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Sessions;

[Collection(AllocationMeasurement.Name)]
public class SessionTableTests
{
    private static SessionTable<Payload32> NewTable(int capacity) => new(capacity, 1, 0x1234_5678_9ABC_DEF0);

    [Fact]
    public void SessionTable_Inserted_FoundByBothKeysWithDirection()
    {
        var table = NewTable(16);
        var forward = Keys.Tcp(1);
        var reverse = SessionKey.V4(0xC000_0201u, 0x6440_0001u, 443, 20000, forward.Protocol);

        var result = table.TryInsert(forward, reverse, Payload32.From(42), 100, 1000, out var handle);

        Assert.Equal(SessionInsertResult.Inserted, result);
        Assert.True(table.TryFind(forward, out var found, out var direction));
        Assert.Equal((handle, SessionDirection.Forward), (found, direction));
        Assert.True(table.TryFind(reverse, out found, out direction));
        Assert.Equal((handle, SessionDirection.Reverse), (found, direction));
        Assert.False(table.TryFind(forward.Reversed(), out _, out _));
        Assert.Equal(Payload32.From(42), table.Payload(handle));
        Assert.Equal(forward, table.ForwardKey(handle));
        Assert.Equal(reverse, table.ReverseKey(handle));
        Assert.Equal(100, table.LastSeen(handle));
        Assert.True(table.IsLive(handle));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void NextExpiryDue_TracksTheEarliestBucketAndIsNeverWhenEmpty()
    {
        var table = new SessionTable<Payload32>(16, wheelTickWidth: 10, hashSeed: 7);
        Assert.Equal(long.MaxValue, table.NextExpiryDue());

        table.TryInsert(Keys.Udp(1), Keys.Udp(1).Reversed(), default, 0, idleTimeout: 1000, out _);
        table.TryInsert(Keys.Udp(2), Keys.Udp(2).Reversed(), default, 0, idleTimeout: 300, out _);

        // The 300-tick session is filed under tick 30; expiry may find it once tick 30 has passed: at 310.
        Assert.Equal(310, table.NextExpiryDue());
        Span<ExpiredSession<Payload32>> expired = new ExpiredSession<Payload32>[4];
        Assert.Equal(1, table.ExpireIdle(320, expired));
        Assert.Equal(1010, table.NextExpiryDue());
        Assert.Equal(1, table.ExpireIdle(1020, expired));
        Assert.Equal(long.MaxValue, table.NextExpiryDue());
    }

    [Fact]
    public void SessionTable_PayloadByRef_WritesThrough()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Udp(1), Keys.Udp(1).Reversed(), default, 0, 10, out var handle);

        table.Payload(handle).B = 99;

        Assert.Equal(99, table.Payload(handle).B);
    }

    [Fact]
    public void SessionTable_EitherKeyLive_RefusesWithKeyInUseAndKeepsTheSession()
    {
        var table = NewTable(16);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), Payload32.From(1), 0, 10, out var handle);

        Assert.Equal(SessionInsertResult.KeyInUse, table.TryInsert(Keys.Tcp(1), Keys.Tcp(3), Payload32.From(2), 0, 10, out var refused));
        Assert.Equal(SessionInsertResult.KeyInUse, table.TryInsert(Keys.Tcp(4), Keys.Tcp(2), Payload32.From(2), 0, 10, out _));
        Assert.Equal(SessionInsertResult.KeyInUse, table.TryInsert(Keys.Tcp(2), Keys.Tcp(1), Payload32.From(2), 0, 10, out _));
        Assert.Equal(SessionInsertResult.KeyInUse, table.TryInsert(Keys.Tcp(5), Keys.Tcp(5), Payload32.From(2), 0, 10, out _));

        Assert.Equal(-1, refused);
        Assert.Equal(1, table.Count);
        Assert.Equal(Payload32.From(1), table.Payload(handle));
        Assert.False(table.TryFind(Keys.Tcp(3), out _, out _));
        Assert.False(table.TryFind(Keys.Tcp(4), out _, out _));
    }

    [Fact]
    public void SessionTable_Full_RefusesWithTableFullAndKeepsEverySessionFindable()
    {
        const int capacity = 1000;
        var table = NewTable(capacity);
        for (var id = 0; id < capacity; id++)
        {
            Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Tcp(id), Keys.Ipv6(id), Payload32.From(id), 0, 10, out _));
        }

        Assert.Equal(SessionInsertResult.TableFull, table.TryInsert(Keys.Tcp(capacity), Keys.Ipv6(capacity), default, 0, 10, out var refused));
        Assert.Equal(SessionInsertResult.KeyInUse, table.TryInsert(Keys.Tcp(0), Keys.Ipv6(capacity), default, 0, 10, out _));

        Assert.Equal(-1, refused);
        Assert.Equal(capacity, table.Count);
        Assert.False(table.TryFind(Keys.Tcp(capacity), out _, out _));
        for (var id = 0; id < capacity; id++)
        {
            Assert.True(table.TryFind(Keys.Tcp(id), out var handle, out var direction));
            Assert.Equal(SessionDirection.Forward, direction);
            Assert.Equal(Payload32.From(id), table.Payload(handle));
            Assert.True(table.TryFind(Keys.Ipv6(id), out var reverseHandle, out direction));
            Assert.Equal((handle, SessionDirection.Reverse), (reverseHandle, direction));
        }
    }

    [Fact]
    public void SessionTable_RemovedOneOfMany_OthersStayFindableAndSlotIsReused()
    {
        const int capacity = 2000;
        var table = NewTable(capacity);
        var handles = new int[capacity];
        for (var id = 0; id < capacity; id++)
        {
            table.TryInsert(Keys.Tcp(id), Keys.Udp(id), Payload32.From(id), 0, 10, out handles[id]);
        }

        for (var id = 0; id < capacity; id += 3)
        {
            table.Remove(handles[id]);
        }

        for (var id = 0; id < capacity; id++)
        {
            Assert.Equal(id % 3 != 0, table.TryFind(Keys.Tcp(id), out _, out _));
            Assert.Equal(id % 3 != 0, table.TryFind(Keys.Udp(id), out _, out _));
        }

        var generation = table.Generation(handles[0]);
        Assert.False(table.IsLive(handles[0]));
        for (var id = 0; id < capacity; id += 3)
        {
            Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Ipv6(id), Keys.Icmp(id), default, 0, 10, out _));
        }

        Assert.Equal(capacity, table.Count);
        Assert.True(table.IsLive(handles[0]));
        Assert.NotEqual(generation, table.Generation(handles[0]));
    }

    [Fact]
    public void SessionTable_HoldingFewSessions_UsesOnlyTheFirstSlotsAndFreedOnesFirst()
    {
        // A router's table is sized for its busiest hour (65 536 by default): slots are taken lowest first and a freed
        // slot before a never-used one, so the memory behind the slots a router never needed is never touched.
        const int capacity = 1000;
        var table = NewTable(capacity);
        var handles = new int[4];
        for (var id = 0; id < 4; id++)
        {
            table.TryInsert(Keys.Tcp(id), Keys.Udp(id), default, 0, 10, out handles[id]);
        }

        Assert.Equal([0, 1, 2, 3], handles);
        table.Remove(handles[1]);
        table.Remove(handles[2]);
        table.TryInsert(Keys.Tcp(10), Keys.Udp(10), default, 0, 10, out var reused1);
        table.TryInsert(Keys.Tcp(11), Keys.Udp(11), default, 0, 10, out var reused2);
        table.TryInsert(Keys.Tcp(12), Keys.Udp(12), default, 0, 10, out var fresh);
        Assert.Equal([1, 2], new[] { reused1, reused2 }.Order());
        Assert.Equal(4, fresh);

        // The rest of the slots still fill the table to its capacity, and not beyond.
        for (var id = 100; table.Count < capacity; id++)
        {
            Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Tcp(id), Keys.Udp(id), default, 0, 10, out _));
        }

        Assert.Equal(SessionInsertResult.TableFull, table.TryInsert(Keys.Tcp(99_999), Keys.Udp(99_999), default, 0, 10, out var refused));
        Assert.Equal(-1, refused);
    }

    [Fact]
    public void SessionTable_RemoveTwice_SecondIsIgnored()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), default, 0, 10, out var first);
        table.TryInsert(Keys.Tcp(3), Keys.Tcp(4), default, 0, 10, out var second);

        table.Remove(first);
        table.Remove(first);
        table.Remove(12345);
        table.Remove(-1);

        Assert.Equal(1, table.Count);
        Assert.True(table.TryFind(Keys.Tcp(3), out var found, out _));
        Assert.Equal(second, found);
        Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Tcp(5), Keys.Tcp(6), default, 0, 10, out var third));
        Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Tcp(7), Keys.Tcp(8), default, 0, 10, out var fourth));
        Assert.NotEqual(third, fourth);
    }

    [Fact]
    public void SessionTable_Touch_MovesLastSeenForwardOnly()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), default, 100, 10, out var handle);

        table.Touch(handle, 250);
        table.Touch(handle, 200);

        Assert.Equal(250, table.LastSeen(handle));
    }

    [Fact]
    public void SessionTable_TryFindAndTouch_AllocateNothing()
    {
        var table = NewTable(10_000);
        var keys = new SessionKey[20_000];
        for (var id = 0; id < 10_000; id++)
        {
            keys[2 * id] = Keys.Tcp(id);
            keys[(2 * id) + 1] = Keys.Ipv6(id);
            table.TryInsert(keys[2 * id], keys[(2 * id) + 1], Payload32.From(id), 0, 1_000_000, out _);
        }

        var hits = Run(table, keys, 1000);
        var allocated = ThreadAllocations.During(() =>
        {
            hits += Run(table, keys, 100_000);
        });

        Assert.Equal(0, allocated);
        Assert.Equal(101_000, hits);

        static int Run(SessionTable<Payload32> table, SessionKey[] keys, int lookups)
        {
            var hits = 0;
            for (var i = 0; i < lookups; i++)
            {
                if (table.TryFind(keys[(i * 7919) % keys.Length], out var handle, out _))
                {
                    table.Touch(handle, i);
                    hits++;
                }
            }

            return hits;
        }
    }

    [Fact]
    public void SessionTable_InsertRemoveAndExpire_AllocateNothing()
    {
        var table = NewTable(1000);
        var expired = new ExpiredSession<Payload32>[64];
        Churn(table, expired, 0);

        var allocated = ThreadAllocations.During(() => Churn(table, expired, 1));

        Assert.Equal(0, allocated);

        static void Churn(SessionTable<Payload32> table, ExpiredSession<Payload32>[] expired, int round)
        {
            for (var i = 0; i < 5000; i++)
            {
                var now = (round * 5000L) + i;
                table.TryInsert(Keys.Tcp(i), Keys.Udp(i), default, now, 50, out var handle);
                if (i % 5 == 0)
                {
                    table.Remove(handle);
                }

                table.ExpireIdle(now, expired);
            }
        }
    }

    [Fact]
    public void TryFindBatch_MixedHitsAndMisses_SameResultsAsTryFindPerKey()
    {
        var table = NewTable(3000);
        for (var id = 0; id < 3000; id++)
        {
            table.TryInsert(Keys.Tcp(id), Keys.Ipv6(id), default, 0, 10, out _);
        }

        var keys = new SessionKey[1001];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = (i % 3) switch { 0 => Keys.Tcp(i * 5), 1 => Keys.Ipv6(i * 2), _ => Keys.Udp(i) };
        }

        var handles = new int[keys.Length];
        var directions = new SessionDirection[keys.Length];

        var hits = table.TryFindBatch(keys, handles, directions);

        var expectedHits = 0;
        for (var i = 0; i < keys.Length; i++)
        {
            var found = table.TryFind(keys[i], out var handle, out var direction);
            expectedHits += found ? 1 : 0;
            Assert.Equal(found ? (handle, direction) : (-1, SessionDirection.Forward), (handles[i], directions[i]));
        }

        Assert.Equal(expectedHits, hits);
        Assert.InRange(hits, 500, 700);
    }

    [Fact]
    public void TryFindBatch_AfterWarmUp_AllocatesNothing()
    {
        var table = NewTable(1000);
        var keys = new SessionKey[64];
        for (var id = 0; id < keys.Length; id++)
        {
            keys[id] = Keys.Tcp(id);
            table.TryInsert(keys[id], Keys.Udp(id), default, 0, 10, out _);
        }

        var handles = new int[64];
        var directions = new SessionDirection[64];
        table.TryFindBatch(keys, handles, directions);

        var hits = 0;
        var allocated = ThreadAllocations.During(() =>
        {
            for (var round = 0; round < 2000; round++)
            {
                hits += table.TryFindBatch(keys, handles, directions);
            }
        });

        Assert.Equal(0, allocated);
        Assert.Equal(2000 * 64, hits);
    }

    [Fact]
    public void SessionTable_ThirtyTwoBytePayload_EntryIs128BytesAndUnder170PerSessionWithIndex()
    {
        var table = new SessionTable<Payload32>(100_000);
        var empty = new SessionTable<EmptyPayload>(100_000);

        var perSession = (double)table.AllocatedBytes / table.Capacity;
        var perEmptySession = (double)empty.AllocatedBytes / empty.Capacity;

        Assert.InRange(perSession, 128 + 12 + 20, 170);
        Assert.InRange(perEmptySession, 96, perSession - 20);
    }

    [Fact]
    public void SessionTable_CapacityOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionTable<Payload32>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SessionTable<Payload32>(SessionTable<Payload32>.MaxCapacity + 1));
    }
}
