using Fabric.Dataplane.Sessions;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>
/// A batch's lookups, taken one by one while the table changes between them (inserts, removals, rekeys) and keys
/// change after the batch was looked up, answer what a lookup of the table answers at that moment.
/// </summary>
public class SessionLookupBatchTests
{
    [Property(MaxTest = 300, EndSize = 600)]
    public void TryFind_TableChangedBetweenLookups_AgreesWithTable(ulong hashSeed, byte[] script)
    {
        script ??= [];
        var table = new SessionTable<Payload32>(8, 1, hashSeed);
        var lookups = new SessionLookupBatch<Payload32>(table, 16);
        var batch = new SessionKey[16];
        for (var i = 0; i + 3 < script.Length; i += 4)
        {
            var (operation, a, b) = (script[i], script[i + 1], script[i + 2]);
            switch (operation % 6)
            {
                case 0:
                    lookups.Clear();
                    for (var k = 0; k < batch.Length; k++)
                    {
                        batch[k] = Keys.Udp((a + (k * b)) % 24);
                        lookups.Add(batch[k]);
                    }

                    lookups.Run();
                    break;
                case 1:
                    table.TryInsert(Keys.Udp(a % 24), Keys.Udp(b % 24), Payload32.From(a), 0, 100, out _);
                    break;
                case 2:
                    table.Remove(a % 8);
                    break;
                case 3:
                    table.TryRekey(a % 8, b % 2 == 0 ? SessionDirection.Forward : SessionDirection.Reverse, Keys.Udp(b % 24));
                    break;
                default:
                    // A place with its own key, or with another (a stage changed the packet's key).
                    var place = a % 20;
                    var key = operation % 6 == 4 && place < batch.Length ? batch[place] : Keys.Udp(b % 24);
                    var found = lookups.TryFind(place, key, out var handle, out var direction);
                    var expected = table.TryFind(key, out var expectedHandle, out var expectedDirection);
                    Assert.Equal(expected, found);
                    if (expected)
                    {
                        Assert.Equal((expectedHandle, expectedDirection), (handle, direction));
                    }

                    break;
            }
        }
    }

    [Fact]
    public void TryFind_KeyInsertedAfterBatchMissedIt_Found()
    {
        var table = new SessionTable<Payload32>(4, 1, 7);
        var lookups = new SessionLookupBatch<Payload32>(table, 4);
        lookups.Add(Keys.Udp(1));
        lookups.Run();
        table.TryInsert(Keys.Udp(1), Keys.Udp(2), default, 0, 100, out var handle);

        Assert.True(lookups.TryFind(0, Keys.Udp(1), out var found, out var direction));
        Assert.Equal((handle, SessionDirection.Forward), (found, direction));
    }

    [Fact]
    public void TryFind_SessionRemovedAfterBatchFoundIt_Missed()
    {
        var table = new SessionTable<Payload32>(4, 1, 7);
        table.TryInsert(Keys.Udp(1), Keys.Udp(2), default, 0, 100, out var handle);
        var lookups = new SessionLookupBatch<Payload32>(table, 4);
        lookups.Add(Keys.Udp(2));
        lookups.Run();
        table.Remove(handle);

        Assert.False(lookups.TryFind(0, Keys.Udp(2), out _, out _));
    }

    [Fact]
    public void Run_FullBatch_ExtraKeysLookedUpAlone()
    {
        var table = new SessionTable<Payload32>(4, 1, 7);
        table.TryInsert(Keys.Udp(1), Keys.Udp(2), default, 0, 100, out var handle);
        var lookups = new SessionLookupBatch<Payload32>(table, 1);

        Assert.Equal(0, lookups.Add(Keys.Udp(3)));
        Assert.Equal(-1, lookups.Add(Keys.Udp(2)));
        lookups.Run();
        Assert.True(lookups.TryFind(-1, Keys.Udp(2), out var found, out var direction));
        Assert.Equal((handle, SessionDirection.Reverse), (found, direction));
    }
}
