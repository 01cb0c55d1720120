using System.Buffers;
using Akka.Actor;
using MessagePack;
using SerializationException = System.Runtime.Serialization.SerializationException;
using Fabric.Actors.HighAvailability;
using Fabric.Actors.Security;
using Fabric.Actors.Serialization;
using Fabric.Actors.Telemetry;
using Fabric.Bench;
using Fabric.Conductor.Configuration;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

[Collection(AllocationMeasurement.Name)]
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
        var bytes = _serializer.ToBinary(new Fabric.Actors.Sessions.SessionEventBatch("dc1a", "dc1", [null!], 0));

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.sessions.events.v1"));
        Assert.Equal("wire message \"fabric.sessions.events.v1\" lacks SessionEventBatch.Events[0]: refused", error.Message);
    }

    [Fact]
    public void FromBinary_NilInsideANestedRecord_RefusedWithItsPath()
    {
        var bytes = _serializer.ToBinary(new TelemetryReport(new CounterSample("br1a", null!, 5, new Dictionary<string, long>()), null));

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.telemetry.report.v1"));
        Assert.Equal("wire message \"fabric.telemetry.report.v1\" lacks TelemetryReport.Sample.Router: refused", error.Message);
    }

    // Each router's report reaches the conductor every 5 s, with hundreds of counters: checking it must not box each one.
    [Fact]
    public void RequiredMembers_SealedReportWithManyCounters_AllocatesNothing()
    {
        var counters = Enumerable.Range(0, 500).ToDictionary(i => $"tenant.t{i}.packets", i => (long)i);
        var report = new TelemetryReport(new CounterSample("br1a", "br1", 5, counters), new NodeSeal(new byte[300], new byte[64]));
        // Reflection reads a property through an interpreter at first and builds a faster invoker on a later call (a one-time
        // cost per property, whichever test calls first): warm past that before measuring the steady state.
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(RequiredMembers.FirstMissing(report));
        }

        var (missing, allocated) = ThreadAllocations.During(() => RequiredMembers.FirstMissing(report));

        Assert.Equal(0, allocated);
        Assert.Null(missing);
    }

    // Found by fuzzing (crashes/serializer/telemetry-*): a nil map key reached Dictionary.Add, whose ArgumentNullException
    // was the refusal's cause.
    [Fact]
    public void FromBinary_NilMapKey_RefusedNamingTheEntry()
    {
        var bytes = SampleWithCounters((ref MessagePackWriter writer) => writer.WriteNil());

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.telemetry.sample.v1"));
        Assert.Equal("wire message \"fabric.telemetry.sample.v1\" does not decode: the key of entry 1 of a map is nil", error.Message);
        Assert.DoesNotContain(Causes(error), e => e is ArgumentException);
    }

    [Fact]
    public void FromBinary_MapKeyTwice_RefusedNamingTheEntry()
    {
        var bytes = SampleWithCounters((ref MessagePackWriter writer) => writer.Write("received"));

        var error = Assert.Throws<SerializationException>(() => _serializer.FromBinary(bytes, "fabric.telemetry.sample.v1"));
        Assert.Equal("wire message \"fabric.telemetry.sample.v1\" does not decode: the key of entry 1 of a map occurs twice", error.Message);
        Assert.DoesNotContain(Causes(error), e => e is ArgumentException);
    }

    [Fact]
    public void Sample_WithCounters_RoundTrips()
    {
        var message = new CounterSample("br1", "br1", 5, new Dictionary<string, long> { ["received"] = 7, ["drop.NoRoute"] = 1 });

        var back = (CounterSample)_serializer.FromBinary(_serializer.ToBinary(message), "fabric.telemetry.sample.v1");

        Assert.Equal(message.Counters, back.Counters);
    }

    [Fact]
    public void FromBinary_NilWhereTheRecordAllowsIt_Decodes()
    {
        var message = new ConfigCommitted(3, "fabric { }", "alice", DateTimeOffset.UnixEpoch, "msg", RestoredFrom: null);

        Assert.Equal(message, _serializer.FromBinary(_serializer.ToBinary(message), "fabric.config.committed.v1"));
    }

    /// <summary>A telemetry sample whose counters map holds <c>received</c> and then an entry whose key <paramref name="secondKey"/> writes.</summary>
    private static byte[] SampleWithCounters(MessagePackWriterAction secondKey)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteMapHeader(4);
        writer.Write(nameof(CounterSample.Node));
        writer.Write("br1");
        writer.Write(nameof(CounterSample.Router));
        writer.Write("br1");
        writer.Write(nameof(CounterSample.UnixMilliseconds));
        writer.Write(5);
        writer.Write(nameof(CounterSample.Counters));
        writer.WriteMapHeader(2);
        writer.Write("received");
        writer.Write(7);
        secondKey(ref writer);
        writer.Write(1);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private delegate void MessagePackWriterAction(ref MessagePackWriter writer);

    private static IEnumerable<Exception> Causes(Exception error)
    {
        for (var cause = error.InnerException; cause is not null; cause = cause.InnerException)
        {
            yield return cause;
        }
    }

    [Fact]
    public void Registry_HoldsOnlyMarkedFabricTypes()
    {
        var registry = WireMessageRegistry.FromApplicationAssemblies();
        Assert.Contains("fabric.config.committed.v1", registry.Manifests);
        Assert.All(registry.Manifests, m => Assert.StartsWith("fabric.", m, StringComparison.Ordinal));
    }

    [Fact]
    public void Registry_ReadFromMetadata_HoldsEveryMarkedTypeReflectionFinds()
    {
        // The registry loads only the types the files' metadata names; loading every type of every application assembly
        // must find no other marked type and no other manifest.
        var everyType = Directory.EnumerateFiles(AppContext.BaseDirectory, "Fabric.*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => WireMessageRegistry.IsApplicationAssembly(n!))
            .SelectMany(n => System.Reflection.Assembly.Load(new System.Reflection.AssemblyName(n!)).GetTypes());
        var byReflection = new WireMessageRegistry(everyType);

        var registry = WireMessageRegistry.FromApplicationAssemblies();

        Assert.Equal(byReflection.Manifests.Order(StringComparer.Ordinal), registry.Manifests.Order(StringComparer.Ordinal));
        Assert.All(byReflection.Manifests, m => Assert.Equal(byReflection.TypeOf(m), registry.TypeOf(m)));
        Assert.Contains(typeof(Fabric.Conductor.Configuration.ConfigCommitted), registry.Manifests.Select(registry.TypeOf));
    }
}
