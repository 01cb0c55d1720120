using System.Reflection;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;
using FsCheck;
using FsCheck.Fluent;
using MessagePack;

namespace Fabric.Tests.Dataplane.Sessions;

/// <summary>The one serialized form of a session (<see cref="SessionRecords"/>), as the HA pair and the restart hand-over use it.</summary>
public class SessionRecordsTests
{
    /// <summary>Values that cover each integer width's edges as well as its middle.</summary>
    private static readonly Gen<ulong> Values = Gen.Frequency(
        (1, Gen.Constant(0UL)),
        (1, Gen.Constant(ulong.MaxValue)),
        (2, Gen.Elements(1UL, 0x7fUL, 0x80UL, 0xffUL, 0x7fffUL, 0x8000UL, 0xffffUL, 0x8000_0000UL, 0xffff_ffffUL, 0x8000_0000_0000_0000UL)),
        (6, from high in Gen.Choose(int.MinValue, int.MaxValue)
            from low in Gen.Choose(int.MinValue, int.MaxValue)
            select ((ulong)(uint)high << 32) | (uint)low));

    /// <summary>
    /// Records with every travelling field drawn (found by reflection, so a field added to <see cref="SessionState"/> or
    /// <see cref="SessionRecord"/> is covered without touching this test); fields that do not travel stay default.
    /// </summary>
    private static readonly Gen<SessionRecord> Records =
        from values in Gen.ArrayOf(Values, 64)
        select Fill(values);

    private static SessionRecord Fill(ulong[] values)
    {
        var next = 0;
        ulong Next() => values[next++ % values.Length];
        object state = default(SessionState);
        foreach (var field in Keyed(typeof(SessionState)))
        {
            field.SetValue(state, Convert(field.FieldType, Next()));
        }

        SessionKey Key() => new(new UInt128(Next(), Next()), new UInt128(Next(), Next()), (ushort)Next(), (ushort)Next(), (byte)Next(), (Next() & 1) == 1);
        object record = default(SessionRecord);
        foreach (var field in Keyed(typeof(SessionRecord)))
        {
            field.SetValue(record, field.FieldType == typeof(SessionState) ? state
                : field.FieldType == typeof(SessionKey) ? Key()
                : field.FieldType == typeof(SessionKey?) ? ((Next() & 1) == 1 ? Key() : null)
                : Convert(field.FieldType, Next()));
        }

        return (SessionRecord)record;
    }

    private static IEnumerable<FieldInfo> Keyed(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Instance).Where(f => f.GetCustomAttribute<KeyAttribute>() is not null);

    private static object Convert(Type type, ulong bits) => type switch
    {
        _ when type == typeof(bool) => (bits & 1) == 1,
        _ when type == typeof(byte) => (byte)bits,
        _ when type == typeof(short) => (short)bits,
        _ when type == typeof(ushort) => (ushort)bits,
        _ when type == typeof(int) => (int)bits,
        _ when type == typeof(uint) => (uint)bits,
        _ when type == typeof(long) => (long)bits,
        _ when type == typeof(ulong) => bits,
        _ when type.IsEnum => Enum.ToObject(type, (byte)bits),
        _ => throw new InvalidOperationException($"the generator does not know how to draw a {type.Name}: teach it"),
    };

    [FsCheck.Xunit.Property(MaxTest = 300)]
    public Property Records_SerializedAndRead_EqualToTheOriginals() =>
        Prop.ForAll(Gen.ArrayOf(Records).ToArbitrary(), records =>
            SessionRecords.Deserialize(SessionRecords.Serialize(records)).SequenceEqual(records));

    [Fact]
    public void Record_WithProcessLocalFields_TheyDoNotTravel()
    {
        var record = new SessionRecord { State = new SessionState { Tenant = 3, Runtime = 9, WaypointPool = 4, PeerKeys = 2, ReverseSeenAt = 77 } };

        var back = Assert.Single(SessionRecords.Deserialize(SessionRecords.Serialize([record])));

        Assert.Equal(new SessionState { Tenant = 3 }, back.State);
    }

    [Fact]
    public void Record_OfASenderThatKnowsNoPins_ReadsAsUnpinned()
    {
        // What a node of the version before pins travelled sends its partner: each record an array of the first eight fields.
        var record = new SessionRecord { State = new SessionState { Tenant = 3 }, Tcp = 5 };
        var bytes = SessionRecords.Serialize([record]);
        Assert.Equal([0x91, 0x99], bytes[..2]);
        Assert.Equal(0xc0, bytes[^1]);
        bytes[1] = 0x98;

        var back = Assert.Single(SessionRecords.Deserialize(bytes.AsMemory(0, bytes.Length - 1)));

        Assert.Equal(record, back);
        Assert.Null(back.PinnedInstance);
    }

    [Fact]
    public void Bytes_Truncated_RefusedSayingWhy()
    {
        var bytes = SessionRecords.Serialize([Fill([.. Enumerable.Range(1, 64).Select(i => (ulong)i * 0x0101_0101_0101)])]);

        var error = Assert.Throws<SessionRecordsException>(() => SessionRecords.Deserialize(bytes.AsMemory(0, bytes.Length - 3)));

        Assert.StartsWith("session records do not decode: ", error.Message, StringComparison.Ordinal);
    }
}
