using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace Fabric.Dataplane.Sessions;

/// <summary>
/// The serializer of <see cref="SessionRecord"/>s: a MessagePack array of records, each an array of its keyed fields
/// (so a reader skips nothing and a key never moves), read in MessagePack's untrusted-data mode. What the HA pair
/// sends (sealed by the sending node) and what a stopping router leaves for the next process. Thread-safe.
/// </summary>
public static class SessionRecords
{
    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(CompositeResolver.Create([SessionKeyFormatter.Instance], [StandardResolver.Instance]))
        .WithSecurity(MessagePackSecurity.UntrustedData);

    public static byte[] Serialize(ReadOnlySpan<SessionRecord> records) => MessagePackSerializer.Serialize(records.ToArray(), Options);

    /// <summary>The records <paramref name="bytes"/> hold; throws <see cref="SessionRecordsException"/> saying why when they do not decode.</summary>
    public static SessionRecord[] Deserialize(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            return MessagePackSerializer.Deserialize<SessionRecord[]>(bytes, Options) ?? [];
        }
        catch (MessagePackSerializationException e)
        {
            throw new SessionRecordsException($"session records do not decode: {(e.InnerException ?? e).Message}", e);
        }
    }

    /// <summary>A key as an array of its fields, each address as two 64-bit halves (MessagePack has no 128-bit integer).</summary>
    private sealed class SessionKeyFormatter : IMessagePackFormatter<SessionKey>
    {
        public static readonly SessionKeyFormatter Instance = new();

        private const int Fields = 8;

        public void Serialize(ref MessagePackWriter writer, SessionKey value, MessagePackSerializerOptions options)
        {
            writer.WriteArrayHeader(Fields);
            writer.Write((ulong)(value.Source >> 64));
            writer.Write((ulong)value.Source);
            writer.Write((ulong)(value.Destination >> 64));
            writer.Write((ulong)value.Destination);
            writer.Write(value.SourcePort);
            writer.Write(value.DestinationPort);
            writer.Write(value.Protocol);
            writer.Write(value.IsIpv6);
        }

        public SessionKey Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        {
            if (reader.ReadArrayHeader() != Fields)
            {
                throw new MessagePackSerializationException($"a session key has {Fields} fields");
            }

            return new SessionKey(
                new UInt128(reader.ReadUInt64(), reader.ReadUInt64()),
                new UInt128(reader.ReadUInt64(), reader.ReadUInt64()),
                reader.ReadUInt16(),
                reader.ReadUInt16(),
                reader.ReadByte(),
                reader.ReadBoolean());
        }
    }
}

/// <summary>Bytes that were to hold session records do not: the message says why.</summary>
public sealed class SessionRecordsException(string message, Exception inner) : Exception(message, inner);
