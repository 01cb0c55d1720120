using Akka.Actor;
using SerializationException = System.Runtime.Serialization.SerializationException;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Serialization;
using Fabric.Conductor.Configuration;

namespace Fabric.Tests.Conductor;

public sealed class FabricSerializerTests : IDisposable
{
    private readonly ActorSystem _system = ActorSystem.Create("serializer-test");
    private readonly FabricSerializer _serializer;

    public FabricSerializerTests() => _serializer = new FabricSerializer((ExtendedActorSystem)_system);

    public void Dispose() => _system.Dispose();

    [Fact]
    public void Committed_RoundTrips_WithStringManifest()
    {
        var message = new ConfigCommitted(3, "fabric { }", "alice", new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.FromHours(1)), "msg", 1);

        var manifest = _serializer.Manifest(message);
        var back = _serializer.FromBinary(_serializer.ToBinary(message), manifest);

        Assert.Equal("fabric.config.committed.v1", manifest);
        Assert.Equal(message, back);
    }

    [Fact]
    public void Commands_RoundTrip()
    {
        object[] messages = [new CommitConfig("text", "bob", "why"), new RollbackConfig(2, "carol", "")];
        foreach (var message in messages)
        {
            Assert.Equal(message, _serializer.FromBinary(_serializer.ToBinary(message), _serializer.Manifest(message)));
        }
    }

    [Fact]
    public void UnmarkedType_RefusedOnTheWayOut()
    {
        var error = Assert.Throws<SerializationException>(() => _serializer.ToBinary(new Uri("http://example")));
        Assert.Contains("is not a wire message", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownManifest_RefusedOnTheWayIn()
    {
        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary([0x80], "System.Diagnostics.Process"));
        Assert.Equal("unknown wire message manifest \"System.Diagnostics.Process\": refused", error.Message);
    }

    [Fact]
    public void GarbageBytes_ForKnownManifest_FailWithoutCrashing()
    {
        Assert.ThrowsAny<Exception>(() => _serializer.FromBinary([0xc1, 0xff, 0x00], "fabric.config.commit.v1"));
    }

    // Found by fuzzing (tests/Fabric.Fuzz/crashes/serializer): MessagePack's own exception escaped FromBinary.
    [Fact]
    public void FromBinary_TruncatedMessage_RefusedWithTheSerializersOwnError()
    {
        var message = new ConfigCommitted(3, "fabric { }", "alice", DateTimeOffset.UnixEpoch, "msg", null);
        var bytes = _serializer.ToBinary(message);

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes[..^4], "fabric.config.committed.v1"));
        Assert.StartsWith("wire message \"fabric.config.committed.v1\" does not decode: ", error.Message, StringComparison.Ordinal);
    }

    // Found by fuzzing: a nil where the record declares a string decoded into a message with a null member.
    [Fact]
    public void FromBinary_NilInPlaceOfANonNullMember_RefusedNamingTheMember()
    {
        var bytes = _serializer.ToBinary(new ConfigCommitted(3, "fabric { }", null!, DateTimeOffset.UnixEpoch, "msg", null));

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.config.committed.v1"));
        Assert.Equal("wire message \"fabric.config.committed.v1\" lacks ConfigCommitted.Author: refused", error.Message);
    }

    [Fact]
    public void FromBinary_NilAmongAListsRecords_Refused()
    {
        var bytes = _serializer.ToBinary(new PairSessionBatch("dc1a", 1, [null!]));

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.ha.sessions.v1"));
        Assert.Equal("wire message \"fabric.ha.sessions.v1\" lacks PairSessionBatch.Sessions[0]: refused", error.Message);
    }

    [Fact]
    public void FromBinary_NilWhereTheRecordAllowsIt_Decodes()
    {
        var message = new ConfigCommitted(3, "fabric { }", "alice", DateTimeOffset.UnixEpoch, "msg", RestoredFrom: null);

        Assert.Equal(message, _serializer.FromBinary(_serializer.ToBinary(message), "fabric.config.committed.v1"));
    }

    [Fact]
    public void Registry_HoldsOnlyMarkedFabricTypes()
    {
        var registry = WireMessageRegistry.FromApplicationAssemblies();
        Assert.Contains("fabric.config.committed.v1", registry.Manifests);
        Assert.All(registry.Manifests, m => Assert.StartsWith("fabric.", m, StringComparison.Ordinal));
    }
}
