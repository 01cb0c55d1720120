using Fabric.Dataplane.Sessions;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>Idle expiry through the timer wheel, on a fake clock of 1000 ticks per second.</summary>
public class SessionTableExpiryTests
{
    private const long TicksPerSecond = 1000;
    private const long WheelTick = TicksPerSecond / 8;

    private static SessionTable<Payload32> NewTable(int capacity) => new(capacity, WheelTick, 42);

    private static long Seconds(double seconds) => (long)(seconds * TicksPerSecond);

    [Fact]
    public void ExpireIdle_DefaultTimeoutsPerProtocol_EachSessionLeavesAfterItsOwn()
    {
        var table = NewTable(8);
        Insert(table, Keys.Icmp(1), 1);
        Insert(table, Keys.Udp(1), 2);
        Insert(table, Keys.Tcp(1), 3);
        var expired = new ExpiredSession<Payload32>[8];

        Assert.Equal(0, table.ExpireIdle(Seconds(29.8), expired));
        Assert.Equal([1L], Expire(table, Seconds(30.3), expired));
        Assert.Equal(0, table.ExpireIdle(Seconds(179.8), expired));
        Assert.Equal([2L], Expire(table, Seconds(180.3), expired));
        Assert.Equal(0, table.ExpireIdle(Seconds(1899.8), expired));
        Assert.Equal([3L], Expire(table, Seconds(1900.3), expired));
        Assert.Equal(0, table.Count);

        static void Insert(SessionTable<Payload32> table, SessionKey key, long id)
        {
            var timeout = DefaultIdleTimeouts.ToTicks(DefaultIdleTimeouts.ForProtocol(key.Protocol), TicksPerSecond);
            Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(key, key.Reversed(), Payload32.From(id), 0, timeout, out _));
        }
    }

    [Fact]
    public void ExpireIdle_IdleSession_ComesOutWithItsKeysAndPayloadAndFreesItsKeys()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Udp(7), Keys.Ipv6(7), Payload32.From(7), Seconds(1), Seconds(10), out var handle);
        var expired = new ExpiredSession<Payload32>[4];

        var count = table.ExpireIdle(Seconds(12), expired);

        Assert.Equal(1, count);
        Assert.Equal(new ExpiredSession<Payload32>(handle, Keys.Udp(7), Keys.Ipv6(7), Payload32.From(7), Seconds(1)), expired[0]);
        Assert.False(table.IsLive(handle));
        Assert.False(table.TryFind(Keys.Udp(7), out _, out _));
        Assert.False(table.TryFind(Keys.Ipv6(7), out _, out _));
        Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Udp(7), Keys.Ipv6(7), default, Seconds(12), Seconds(10), out _));
    }

    [Fact]
    public void ExpireIdle_TouchedSession_StaysWhileUntouchedOneLeaves()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Udp(1), Keys.Udp(1).Reversed(), Payload32.From(1), 0, Seconds(10), out var touched);
        table.TryInsert(Keys.Udp(2), Keys.Udp(2).Reversed(), Payload32.From(2), 0, Seconds(10), out _);
        var expired = new ExpiredSession<Payload32>[4];

        for (var second = 1; second <= 60; second++)
        {
            table.Touch(touched, Seconds(second));
            var removed = table.ExpireIdle(Seconds(second) + 1, expired);
            Assert.Equal(second == 11 ? 1 : 0, removed);
        }

        Assert.True(table.IsLive(touched));
        Assert.Equal([1L], Expire(table, Seconds(71), expired));
    }

    [Fact]
    public void ExpireIdle_SmallSpan_ReturnsTheRestOnLaterCallsAndNoneTwice()
    {
        var table = NewTable(100);
        for (var id = 0; id < 100; id++)
        {
            table.TryInsert(Keys.Tcp(id), Keys.Udp(id), Payload32.From(id), id, Seconds(5) + (id * 37 % 500), out _);
        }

        var expired = new ExpiredSession<Payload32>[7];
        var seen = new HashSet<long>();
        var calls = 0;
        int count;
        do
        {
            count = table.ExpireIdle(Seconds(20), expired);
            for (var i = 0; i < count; i++)
            {
                Assert.True(seen.Add(expired[i].Payload.A), $"session {expired[i].Payload.A} expired twice");
            }

            calls++;
        }
        while (count > 0);

        Assert.Equal(100, seen.Count);
        Assert.Equal(16, calls);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void ExpireIdle_TimeoutBeyondOneWheelTurn_ExpiresOnTimeNotAtAnEarlierTurn()
    {
        var turn = SessionTable<Payload32>.WheelSize * WheelTick;
        var table = NewTable(4);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), Payload32.From(1), 0, (3 * turn) + 500, out _);
        var expired = new ExpiredSession<Payload32>[4];

        for (var now = 0L; now <= 3 * turn; now += turn / 4)
        {
            Assert.Equal(0, table.ExpireIdle(now, expired));
        }

        Assert.Equal(0, table.ExpireIdle((3 * turn) + 500, expired));
        Assert.Equal([1L], Expire(table, (3 * turn) + 500 + WheelTick, expired));
    }

    [Fact]
    public void ExpireIdle_LongPauseBetweenCalls_StillExpiresEverythingDue()
    {
        var table = NewTable(300);
        for (var id = 0; id < 300; id++)
        {
            table.TryInsert(Keys.Tcp(id), Keys.Udp(id), Payload32.From(id), id * 1000L, Seconds(3), out _);
        }

        var expired = new ExpiredSession<Payload32>[300];

        var count = table.ExpireIdle(100 * SessionTable<Payload32>.WheelSize * WheelTick, expired);

        Assert.Equal(300, count);
    }

    [Fact]
    public void SetIdleTimeout_Shortened_ExpiresByTheNewTimeout()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), Payload32.From(1), 0, Seconds(1900), out var handle);
        table.Touch(handle, Seconds(100));
        var expired = new ExpiredSession<Payload32>[4];

        table.SetIdleTimeout(handle, DefaultIdleTimeouts.ToTicks(TcpTracker.ClosedLinger, TicksPerSecond));

        Assert.Equal(0, table.ExpireIdle(Seconds(109), expired));
        Assert.Equal([1L], Expire(table, Seconds(111), expired));
    }

    [Fact]
    public void SetIdleTimeout_Lengthened_KeepsTheSessionPastTheOldTimeout()
    {
        var table = NewTable(4);
        table.TryInsert(Keys.Udp(1), Keys.Udp(2), Payload32.From(1), 0, Seconds(10), out var handle);
        var expired = new ExpiredSession<Payload32>[4];

        table.SetIdleTimeout(handle, Seconds(60));

        Assert.Equal(0, table.ExpireIdle(Seconds(59), expired));
        Assert.Equal([1L], Expire(table, Seconds(61), expired));
    }

    [Fact]
    public void ExpireIdle_SlotReused_GenerationChanges()
    {
        var table = NewTable(1);
        table.TryInsert(Keys.Udp(1), Keys.Udp(2), Payload32.From(1), 0, Seconds(1), out var first);
        var generation = table.Generation(first);
        var expired = new ExpiredSession<Payload32>[1];
        Assert.Equal(SessionInsertResult.TableFull, table.TryInsert(Keys.Udp(3), Keys.Udp(4), default, 0, Seconds(1), out _));

        Assert.Equal(1, table.ExpireIdle(Seconds(2), expired));
        Assert.Equal(SessionInsertResult.Inserted, table.TryInsert(Keys.Udp(3), Keys.Udp(4), default, Seconds(2), Seconds(1), out var second));

        Assert.Equal(first, second);
        Assert.NotEqual(generation, table.Generation(second));
        Assert.True(table.IsLive(second));
    }

    [Fact]
    public void ExpireIdle_TcpTrackerOfReusedSlot_StartsOver()
    {
        var table = NewTable(1);
        table.TryInsert(Keys.Tcp(1), Keys.Tcp(2), default, 0, Seconds(1), out var handle);
        table.Tcp(handle).Observe((byte)Fabric.Dataplane.Wire.TcpFlags.Syn, SessionDirection.Forward);
        table.ExpireIdle(Seconds(2), new ExpiredSession<Payload32>[1]);

        table.TryInsert(Keys.Tcp(3), Keys.Tcp(4), default, Seconds(2), Seconds(1), out handle);

        Assert.Equal(TcpState.None, table.Tcp(handle).State);
    }

    private static long[] Expire(SessionTable<Payload32> table, long now, ExpiredSession<Payload32>[] expired)
    {
        var count = table.ExpireIdle(now, expired);
        var ids = new long[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = expired[i].Payload.A;
        }

        return ids;
    }
}
