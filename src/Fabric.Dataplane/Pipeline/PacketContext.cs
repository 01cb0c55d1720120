using System.Runtime.CompilerServices;
using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Svr.Security;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What the stages know about the packet in hand: where its headers are, its 5-tuple, and what
/// has been decided. Lives on the worker's stack for one packet; nothing in it allocates. Its headers and 5-tuple
/// are read and written where the context was given them (<see cref="PacketHeaders"/>), its received metadata where
/// <see cref="ReceiveMetadata"/> put it: the context itself stays small, as every packet builds one.
/// </summary>
public ref struct PacketContext
{
    /// <param name="room">The whole buffer the frame sits at the start of: metadata insertion grows the frame into it.</param>
    /// <param name="headers">Where the packet's headers are written (cleared, or as the parse left them): the context reads and writes them there.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PacketContext(Span<byte> frame, Span<byte> room, int ingressPort, long now, ref PacketHeaders headers)
    {
        Frame = frame;
        Room = room;
        _headers = ref headers;
        IngressPort = ingressPort;
        Now = now;
        Tenant = -1;
        Service = -1;
        EgressPort = -1;
        Session = -1;
        Segments = 1;
        Lookup = -1;
        _metadata = ref ReceivedMetadata.Absent;
    }

    /// <summary>The whole frame, Ethernet header first.</summary>
    public Span<byte> Frame;

    /// <summary>The buffer the frame starts; <see cref="Frame"/> is its first part.</summary>
    public Span<byte> Room;

    public readonly int IngressPort;

    public readonly long Now;

    private ref PacketHeaders _headers;

    /// <summary>The packet's headers and 5-tuple where the context was given them (the properties below read them there).</summary>
    public readonly ref PacketHeaders Headers => ref _headers;

    public readonly ref ushort EtherType => ref _headers.EtherType;

    /// <summary>Offset of the IP header in <see cref="Frame"/>.</summary>
    public readonly ref int NetworkOffset => ref _headers.NetworkOffset;

    /// <summary>Offset of the transport header (TCP, UDP, ICMP) in <see cref="Frame"/>.</summary>
    public readonly ref int TransportOffset => ref _headers.TransportOffset;

    public readonly ref bool IsIpv6 => ref _headers.IsIpv6;

    /// <summary>The packet's 5-tuple as it arrived (for ICMP errors: the flow the error is about, seen from the error's direction).</summary>
    public readonly ref SessionKey Key => ref _headers.Key;

    /// <summary>For TCP, the segment's flags; else 0.</summary>
    public readonly ref byte TcpFlags => ref _headers.TcpFlags;

    /// <summary>For TCP, the segment's sequence number as the parse read it; else 0.</summary>
    public readonly uint TcpSequence => _headers.TcpSequence;

    /// <summary>For TCP, the segment's header length in octets as the parse read it; else 0.</summary>
    public readonly int TcpHeaderLength => _headers.TcpHeaderLength;

    /// <summary>An ICMP error about a flow: NAT applies to the quoted packet too.</summary>
    public readonly ref bool IsIcmpError => ref _headers.IsIcmpError;

    /// <summary>Bytes of the IP packet (header and payload).</summary>
    public readonly ref int IpLength => ref _headers.IpLength;

    public int Tenant;

    public int Service;

    public int Session;

    /// <summary>The packet's place in its batch's session lookups (<see cref="WorkerResources.Lookups"/>); −1: looked up alone.</summary>
    public int Lookup;

    public SessionDirection Direction;

    public int EgressPort;

    public DropReason Drop;

    /// <summary>The rule behind <see cref="Drop"/> where the reason does not name it (see <see cref="DropRule"/>).</summary>
    public DropRule Rule;

    /// <summary>The packet came from a peer router to one of our waypoints (SVR).</summary>
    public bool ToWaypoint;

    /// <summary>
    /// What the metadata block the packet carried said (already stripped); <see cref="ReceivedMetadata.Present"/> is false
    /// when it had none. Every packet but one to a waypoint reads <see cref="ReceivedMetadata.Absent"/>: the ~150 octets
    /// of what a block can say live in the worker's resources (<see cref="ReceiveMetadata"/>), not in every packet's context.
    /// </summary>
    public readonly ref readonly ReceivedMetadata Metadata => ref _metadata;

    private ref readonly ReceivedMetadata _metadata;

    /// <summary>
    /// Starts reading the metadata of the packet in hand into the worker's <see cref="WorkerResources.ReceivedMetadata"/>, cleared,
    /// and returns it to be filled: <see cref="Metadata"/> reads it from now on. The worker runs one packet at a time, so
    /// one place per worker holds what the packet in hand received.
    /// </summary>
    public ref ReceivedMetadata ReceiveMetadata(WorkerResources resources)
    {
        ref var metadata = ref resources.ReceivedMetadata;
        metadata = default;
        _metadata = ref metadata;
        return ref metadata;
    }

    /// <summary>
    /// The packet is a super-packet going through whole: <see cref="Segments"/> TCP segments or UDP datagrams of
    /// <see cref="SegmentSize"/> payload octets behind <see cref="SegmentHeaderLength"/> octets of IP and
    /// transport headers. Stages treat it as one packet of its session; counts and MTU checks use the packets
    /// it stands for. Its transport checksum is rewritten when it leaves, so stages need not keep it.
    /// </summary>
    public bool IsSuperPacket;

    /// <summary>How many packets the frame stands for: 1 unless <see cref="IsSuperPacket"/>.</summary>
    public int Segments;

    public int SegmentSize;

    public int SegmentHeaderLength;

    /// <summary>
    /// Set by <see cref="SvrStage.Rewrite"/> on a super-packet of an encrypted session that went through whole unsealed:
    /// the peer path keys each of its segments is sealed with once cut, as it leaves (<see cref="SvrStage.SealSegment"/>);
    /// null for every other packet.
    /// </summary>
    public PeerPathKeys? SegmentKeys;

    /// <summary>Octets of IP the packets the frame stands for carry in all (each repeats the headers).</summary>
    public readonly int PacketBytes => IpLength + ((Segments - 1) * SegmentHeaderLength);

    /// <summary>The IP length of the largest packet the frame stands for: what must fit the egress MTU.</summary>
    public readonly int LargestPacketLength => IsSuperPacket ? Math.Min(IpLength, SegmentHeaderLength + SegmentSize) : IpLength;

    public Verdict Fail(DropReason reason)
    {
        Drop = reason;
        return Verdict.Drop;
    }

    /// <summary>Drops the packet for <paramref name="reason"/> under <paramref name="rule"/>.</summary>
    public Verdict Fail(DropReason reason, DropRule rule)
    {
        Drop = reason;
        Rule = rule;
        return Verdict.Drop;
    }
}
