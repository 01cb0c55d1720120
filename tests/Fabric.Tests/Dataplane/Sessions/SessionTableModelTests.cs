using Fabric.Dataplane.Sessions;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>
/// The session table against a dictionary model over random operation scripts with a fake clock. The wheel
/// tick is one clock tick, so expiry is exact and the model can demand the same sessions.
/// </summary>
public class SessionTableModelTests
{
    [Property(MaxTest = 300, EndSize = 1200)]
    public void SessionTable_RandomOperations_AgreeWithModel(byte capacitySeed, ulong hashSeed, byte[] script)
    {
        script ??= [];
        var run = new ModelRun(1 + (capacitySeed % 12), keyCount: 24, hashSeed);
        for (var i = 0; i + 3 < script.Length; i += 4)
        {
            run.Step(script[i], script[i + 1], script[i + 2], script[i + 3]);
        }

        run.CheckEverySession();
    }

    [Fact]
    public void SessionTable_LongSeededScript_AgreesWithModel()
    {
        var random = new Random(20_261_126);
        var run = new ModelRun(capacity: 60, keyCount: 150, hashSeed: 99);
        var bytes = new byte[4];
        for (var i = 0; i < 300_000; i++)
        {
            random.NextBytes(bytes);
            run.Step(bytes[0], bytes[1], bytes[2], bytes[3]);
        }

        run.CheckEverySession();
        Assert.True(run.Expired > 1000, $"only {run.Expired} sessions expired");
        Assert.True(run.Refused > 1000, $"only {run.Refused} inserts refused");
    }

    private sealed class ModelRun(int capacity, int keyCount, ulong hashSeed)
    {
        private readonly SessionTable<Payload32> _table = new(capacity, 1, hashSeed);
        private readonly Dictionary<int, Session> _byHandle = [];
        private readonly Dictionary<SessionKey, (int Handle, SessionDirection Direction)> _byKey = [];
        private readonly ExpiredSession<Payload32>[] _expired = new ExpiredSession<Payload32>[4];
        private long _now;
        private int _serial;

        public int Expired { get; private set; }

        public int Refused { get; private set; }

        public void Step(byte operation, byte a, byte b, byte c)
        {
            switch (operation % 8)
            {
                case 0:
                case 1:
                    Insert(Key(a), Key(b), c % 20);
                    break;
                case 2:
                    Find(Key(a));
                    break;
                case 3:
                    Remove(a % (capacity + 1));
                    break;
                case 4:
                    Touch(a % capacity);
                    break;
                case 5:
                    SetIdleTimeout(a % capacity, b % 20);
                    break;
                case 6:
                    _now += a % 8;
                    break;
                default:
                    Expire(1 + (a % _expired.Length));
                    break;
            }

            Assert.Equal(_byHandle.Count, _table.Count);
        }

        public void CheckEverySession()
        {
            foreach (var (key, (handle, direction)) in _byKey)
            {
                Assert.True(_table.TryFind(key, out var found, out var foundDirection));
                Assert.Equal((handle, direction), (found, foundDirection));
                var session = _byHandle[handle];
                Assert.Equal(session.Payload, _table.Payload(handle));
                Assert.Equal(session.LastSeen, _table.LastSeen(handle));
                Assert.True(_table.IsLive(handle));
            }
        }

        private SessionKey Key(byte id) => Keys.Tcp(id % keyCount);

        private void Insert(SessionKey forward, SessionKey reverse, long timeout)
        {
            var payload = Payload32.From(++_serial);
            var expected = forward == reverse || _byKey.ContainsKey(forward) || _byKey.ContainsKey(reverse)
                ? SessionInsertResult.KeyInUse
                : _byHandle.Count == capacity ? SessionInsertResult.TableFull
                : SessionInsertResult.Inserted;

            var result = _table.TryInsert(forward, reverse, payload, _now, timeout, out var handle);

            Assert.Equal(expected, result);
            if (result != SessionInsertResult.Inserted)
            {
                Assert.Equal(-1, handle);
                Refused++;
                return;
            }

            Assert.False(_byHandle.ContainsKey(handle));
            Assert.True(_table.IsLive(handle));
            _byHandle[handle] = new Session(forward, reverse, payload, _now, timeout);
            _byKey[forward] = (handle, SessionDirection.Forward);
            _byKey[reverse] = (handle, SessionDirection.Reverse);
        }

        private void Find(SessionKey key)
        {
            var found = _table.TryFind(key, out var handle, out var direction);

            Assert.Equal(_byKey.TryGetValue(key, out var expected), found);
            if (found)
            {
                Assert.Equal(expected, (handle, direction));
            }
        }

        private void Remove(int handle)
        {
            var generation = _table.Generation(Math.Min(handle, capacity - 1));
            _table.Remove(handle);
            if (_byHandle.Remove(handle, out var session))
            {
                _byKey.Remove(session.Forward);
                _byKey.Remove(session.Reverse);
                Assert.NotEqual(generation, _table.Generation(handle));
            }

            Assert.False(_table.IsLive(handle));
        }

        private void Touch(int handle)
        {
            if (_byHandle.TryGetValue(handle, out var session))
            {
                _table.Touch(handle, _now);
                _byHandle[handle] = session with { LastSeen = Math.Max(session.LastSeen, _now) };
            }
        }

        private void SetIdleTimeout(int handle, long timeout)
        {
            _table.SetIdleTimeout(handle, timeout);
            if (_byHandle.TryGetValue(handle, out var session))
            {
                _byHandle[handle] = session with { Timeout = timeout };
            }
        }

        private void Expire(int room)
        {
            var due = 0;
            foreach (var session in _byHandle.Values)
            {
                due += _now - session.LastSeen > session.Timeout ? 1 : 0;
            }

            var count = _table.ExpireIdle(_now, _expired.AsSpan(0, room));

            Assert.Equal(Math.Min(room, due), count);
            for (var i = 0; i < count; i++)
            {
                var expired = _expired[i];
                Assert.True(_byHandle.Remove(expired.Handle, out var session), "expired twice or never inserted");
                Assert.True(_now - session.LastSeen > session.Timeout, "expired before its timeout");
                Assert.Equal((session.Forward, session.Reverse), (expired.Forward, expired.Reverse));
                Assert.Equal((session.Payload, session.LastSeen), (expired.Payload, expired.LastSeen));
                Assert.False(_table.IsLive(expired.Handle));
                _byKey.Remove(session.Forward);
                _byKey.Remove(session.Reverse);
                Expired++;
            }
        }
    }

    private sealed record Session(SessionKey Forward, SessionKey Reverse, Payload32 Payload, long LastSeen, long Timeout);
}
