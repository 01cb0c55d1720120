using System.Buffers.Binary;
using Fabric.Dataplane.Forwarding;
using Fabric.Dataplane.Svr;
using Fabric.Dataplane.Svr.Security;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Pipeline;

// Arrival and sealing. Receive reads and checks the metadata block of a packet to a waypoint (it stays in the
// packet) and maps what it names to the snapshot; Unseal verifies or decrypts the packet with the peer's keys and
// strips trailer and block. Seal is the way out: payload encrypted or authenticated, trailer appended. A packet that
// fails any check is dropped with its reason; nothing is answered.
public static partial class SvrStage
{
    /// <summary>
    /// Reads and checks the metadata of a packet that arrived on a waypoint port, and names the peer that sent
    /// it. The block stays in the packet until <see cref="Unseal"/> has verified the packet and strips it.
    /// </summary>
    public static Verdict Receive(ref PacketContext context, ForwardingSnapshot snapshot, WorkerResources resources)
    {
        ref var metadata = ref context.ReceiveMetadata(resources);
        if (!snapshot.TryFindPeer(context.Key.Source, context.Key.IsIpv6, out var peer))
        {
            return context.Fail(DropReason.NotAPeer);
        }

        metadata.PeerKeys = peer.KeysId;
        metadata.UnauthenticatedAllowed = peer.AcceptsUnauthenticatedMetadata;
        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        if (!MetadataInsertion.TryLocate(ip, context.IpLength, out var block, out var error))
        {
            return error switch
            {
                MetadataError.None => Verdict.Continue,
                MetadataError.BadVersion => context.Fail(DropReason.MetadataVersion),
                _ => context.Fail(DropReason.MetadataMalformed),
            };
        }

        var reason = ReadMetadata(block, snapshot, ref metadata);
        if (reason != DropReason.None)
        {
            return context.Fail(reason);
        }

        metadata.BlockLength = block.TotalLength;
        metadata.Present = !block.IsBare;
        return Verdict.Continue;
    }

    /// <summary>
    /// What a session takes from a checked block (<see cref="MetadataFields"/>), names matched against the snapshot's:
    /// <see cref="DropReason.None"/>, or why the packet is dropped (see <see cref="MetadataFields.SessionError"/>).
    /// </summary>
    private static DropReason ReadMetadata(MetadataBlock block, ForwardingSnapshot snapshot, ref ReceivedMetadata metadata)
    {
        if (block.IsPayloadEncrypted)
        {
            // This router keeps metadata payload TLVs in clear (authenticated); it does not open encrypted ones.
            return DropReason.MetadataMismatch;
        }

        var fields = MetadataFields.Read(block);
        switch (fields.SessionError)
        {
            case MetadataError.None:
                break;
            default:
                return DropReason.MetadataMalformed;
        }

        metadata.HasSecurityId = fields.HasSecurityId;
        metadata.SecurityId = fields.SecurityId;
        metadata.HasForwardContext = fields.HasForwardContext;
        metadata.ForwardContext = fields.ForwardContext.Key;
        metadata.HasReverseContext = fields.HasReverseContext;
        metadata.ReverseContext = fields.ReverseContext.Key;
        if (fields.HasDestinationRouter && !fields.DestinationRouter.SequenceEqual(snapshot.RouterUtf8))
        {
            metadata.RoutedOnward = true;
            metadata.OnwardPath = UsablePathTo(snapshot.PeerPaths, fields.DestinationRouter);
            metadata.DestinationRouter = ForwardingSnapshot.IndexOfUtf8(snapshot.RouterNamesUtf8, fields.DestinationRouter);
        }
        else if (fields.HasDestinationRouter)
        {
            metadata.NamesThisRouter = true;
        }

        metadata.TenantNamed = fields.HasTenant;
        metadata.Tenant = fields.HasTenant ? ForwardingSnapshot.IndexOfUtf8(snapshot.TenantsUtf8, fields.Tenant) : 0;
        metadata.ServiceNamed = fields.HasService;
        metadata.Service = fields.HasService ? ForwardingSnapshot.IndexOfUtf8(snapshot.ServicesUtf8, fields.Service) : 0;
        metadata.Announcement = fields.HasControl && fields.Control == MetadataControl.Keepalive;
        metadata.HasSessionsInService = fields.HasSessionsInService;
        metadata.SessionsInService = (long)Math.Min(fields.SessionsInService, long.MaxValue);
        metadata.SessionId = fields.HasSessionId ? BinaryPrimitives.ReadUInt32BigEndian(fields.SessionId[12..]) : 0;
        return DropReason.None;
    }

    /// <summary>
    /// Verifies (and for <paramref name="encrypted"/> sessions decrypts) a waypoint packet, then removes its
    /// trailer and metadata, leaving the packet as the sending router had it before sealing. A packet is sealed
    /// when its metadata names an epoch or its session requires encryption. Once the peer path has keys,
    /// metadata must come sealed: unprotected metadata is dropped, so a forged block never makes a session.
    /// </summary>
    public static Verdict Unseal(ref PacketContext context, WorkerResources resources, ForwardingSnapshot snapshot, bool encrypted)
    {
        ref readonly var metadata = ref context.Metadata;
        var keys = snapshot.Runtimes.PeerKeys[metadata.PeerKeys];
        var ip = context.Frame.Slice(context.NetworkOffset, context.IpLength);
        if ((metadata.HasSecurityId || encrypted || metadata.BlockLength > 0) && !TransportChecksumValid(ip))
        {
            // Stripping or opening recomputes the checksum: a damaged packet must not come out whole.
            return context.Fail(DropReason.BadChecksum);
        }

        if (metadata.HasSecurityId || encrypted)
        {
            if (!keys.HasKeys)
            {
                return context.Fail(encrypted && !metadata.HasSecurityId ? DropReason.NoPeerKeys : DropReason.UnknownKey);
            }

            var transportAt = context.TransportOffset - context.NetworkOffset;
            var payloadAt = transportAt + TransportHeaderLength(ip, transportAt) + metadata.BlockLength;
            var trailerAt = context.IpLength - PacketSealer.TrailerLength;
            if (trailerAt < payloadAt)
            {
                return context.Fail(DropReason.Tampered);
            }

            var associated = AssociatedData(resources, ip, transportAt, metadata.BlockLength);
            var protection = encrypted ? PayloadProtection.Encrypt : PayloadProtection.IntegrityOnly;
            var opened = metadata.HasSecurityId
                ? keys.Open(metadata.SecurityId, associated, ip[payloadAt..trailerAt], ip[trailerAt..], protection, context.Now)
                : keys.Open(associated, ip[payloadAt..trailerAt], ip[trailerAt..], protection, context.Now);
            switch (opened)
            {
                case OpenVerdict.Ok:
                    break;
                case OpenVerdict.Replayed:
                    return context.Fail(DropReason.Replayed);
                case OpenVerdict.UnknownEpoch:
                    return context.Fail(DropReason.UnknownKey);
                default:
                    return context.Fail(DropReason.Tampered);
            }

            MetadataInsertion.TryResizeTail(ip, context.IpLength, -PacketSealer.TrailerLength, out var unsealed);
            context.IpLength = unsealed;
        }
        else if (metadata.Present && (keys.HasKeys || !metadata.UnauthenticatedAllowed))
        {
            // Metadata that is not sealed is believed only from a peer without keys whose neighborhood allows it.
            return context.Fail(DropReason.Unauthenticated);
        }

        if (metadata.BlockLength > 0)
        {
            MetadataInsertion.TryStrip(context.Frame.Slice(context.NetworkOffset, context.IpLength), context.IpLength, out var stripped);
            context.IpLength = stripped;
        }

        context.Frame = context.Frame[..(context.NetworkOffset + context.IpLength)];
        return Verdict.Continue;
    }

    /// <summary>
    /// Seals the packet with the peer path's current epoch: the original payload is encrypted in place (or, for
    /// metadata of a session that is not encrypted, only authenticated) and the 24-octet trailer appended. The
    /// associated data is the outer tuple and the whole metadata block.
    /// </summary>
    private static Verdict Seal(ref PacketContext context, WorkerResources resources, PeerPathKeys keys, Span<byte> ip, int blockLength, bool encrypt)
    {
        if (context.IpLength + PacketSealer.TrailerLength > ip.Length)
        {
            return context.Fail(DropReason.TooBig);
        }

        if (blockLength == 0 && !TransportChecksumValid(ip[..context.IpLength]))
        {
            return context.Fail(DropReason.BadChecksum);
        }

        var protection = encrypt ? PayloadProtection.Encrypt : PayloadProtection.IntegrityOnly;
        if (!TrySealInPlace(resources, keys, ip, context.IpLength, context.TransportOffset - context.NetworkOffset, blockLength, protection, out var sealedLength))
        {
            return context.Fail(DropReason.NoPeerKeys);
        }

        context.IpLength = sealedLength;
        return Verdict.Continue;
    }

    /// <summary>
    /// Seals one segment cut from an encrypted session's super-packet that went through whole (<see cref="SealsEachSegment"/>),
    /// as <see cref="Seal"/> seals a packet cut before the pipeline: the same keys in the same order, so each segment takes
    /// the next sequence (and nonce) of the peer path, and leaves byte for byte as that packet would. <paramref name="ip"/>
    /// starts at the segment's IP header and must have room for the trailer after its <paramref name="ipLength"/> octets
    /// (<see cref="PacketWorker"/> cuts each segment into a slot sized for its headers, its payload and the trailer). The
    /// transport checksum is not verified first: the cut (<see cref="SuperPacket"/>) has just computed it over these bytes.
    /// Returns <see cref="DropReason.None"/> and the sealed IP length, or why the segment is dropped.
    /// </summary>
    public static DropReason SealSegment(WorkerResources resources, PeerPathKeys keys, Span<byte> ip, int ipLength, int transportAt, out int sealedLength) =>
        TrySealInPlace(resources, keys, ip, ipLength, transportAt, blockLength: 0, PayloadProtection.Encrypt, out sealedLength)
            ? DropReason.None
            : DropReason.NoPeerKeys;

    /// <summary>
    /// Encrypts or authenticates the payload after the block in place with the peer path's current epoch and appends the
    /// trailer, fixing lengths and the transport checksum; false (nothing sent) when the keys are gone.
    /// </summary>
    private static bool TrySealInPlace(
        WorkerResources resources, PeerPathKeys keys, Span<byte> ip, int ipLength, int transportAt, int blockLength, PayloadProtection protection, out int sealedLength)
    {
        sealedLength = ipLength;
        var payloadAt = transportAt + TransportHeaderLength(ip, transportAt) + blockLength;
        var associated = AssociatedData(resources, ip, transportAt, blockLength);
        var trailer = ip.Slice(ipLength, PacketSealer.TrailerLength);
        return keys.Seal(associated, ip[payloadAt..ipLength], trailer, protection) != 0
            && MetadataInsertion.TryResizeTail(ip, ipLength, PacketSealer.TrailerLength, out sealedLength);
    }

    /// <summary>
    /// The bytes a sealed packet's tag covers besides its payload: outer source, destination, source port,
    /// destination port, protocol (what must not change between the two routers: 13 octets over IPv4 waypoints, 37
    /// over IPv6 ones) and the metadata block.
    /// </summary>
    private static ReadOnlySpan<byte> AssociatedData(WorkerResources resources, Span<byte> ip, int transportAt, int blockLength)
    {
        var scratch = resources.AssociatedScratch.AsSpan();
        var addresses = ip[0] >> 4 == Ipv6Packet.Version6 ? ip.Slice(Ipv6Packet.SourceOffset, 32) : ip.Slice(Ipv4Packet.SourceOffset, 8);
        addresses.CopyTo(scratch);
        var at = addresses.Length;
        ip.Slice(transportAt, 4).CopyTo(scratch[at..]);
        scratch[at + 4] = TransportProtocol(ip, transportAt);
        var blockAt = transportAt + TransportHeaderLength(ip, transportAt);
        ip.Slice(blockAt, blockLength).CopyTo(scratch[(at + 5)..]);
        return scratch[..(at + 5 + blockLength)];
    }

    /// <summary>
    /// True when the TCP or UDP checksum of the IPv4 or IPv6 packet verifies (a UDP/IPv4 checksum of 0 means none);
    /// false when the bytes do not read as a packet.
    /// </summary>
    private static bool TransportChecksumValid(Span<byte> ip)
    {
        if (ip.Length > 0 && ip[0] >> 4 == Ipv6Packet.Version6)
        {
            return Ipv6Packet.TryCreate(ip, out var v6) && v6.UpperLayerProtocol switch
            {
                IpProtocol.Tcp => TcpSegment.TryCreate(v6.UpperLayer, out var tcp) && tcp.IsChecksumValid(v6.PseudoHeaderSum()),
                IpProtocol.Udp => UdpDatagram.TryCreate(v6.UpperLayer, out var udp) && udp.IsChecksumValid(v6.PseudoHeaderSum()),
                _ => true,
            };
        }

        if (!Ipv4Packet.TryCreate(ip, out var v4))
        {
            return false;
        }

        return v4.Protocol switch
        {
            IpProtocol.Tcp => TcpSegment.TryCreate(v4.Payload, out var tcp) && tcp.IsChecksumValid(v4.PseudoHeaderSum()),
            IpProtocol.Udp => UdpDatagram.TryCreate(v4.Payload, out var udp) && (!udp.HasChecksum || udp.IsChecksumValid(v4.PseudoHeaderSum())),
            _ => true,
        };
    }
}
