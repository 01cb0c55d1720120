using System.Runtime.CompilerServices;
using Fabric.Dataplane.Wire;

namespace Fabric.Dataplane.Sessions;

/// <summary>Where a TCP connection stands, as seen from the flags of the segments crossing the router.</summary>
public enum TcpState : byte
{
    /// <summary>No SYN seen: the session was opened by a segment in the middle of a connection, or not yet used.</summary>
    None,

    /// <summary>The opener's SYN seen.</summary>
    SynSent,

    /// <summary>The responder's SYN-ACK seen.</summary>
    SynReceived,

    /// <summary>The opener's ACK of the SYN-ACK seen: the handshake is complete.</summary>
    Established,

    /// <summary>One side sent a FIN; the other side may still send.</summary>
    FinWait,

    /// <summary>Both sides sent a FIN; at least one FIN is not acknowledged yet.</summary>
    Closing,

    /// <summary>Both FINs sent and acknowledged.</summary>
    Closed,

    /// <summary>A RST crossed the router.</summary>
    Reset,
}

/// <summary>What the pipeline learns from one TCP segment of a session.</summary>
public enum TcpVerdict : byte
{
    /// <summary>The segment fits what the tracker has seen.</summary>
    Allow,

    /// <summary>
    /// A segment other than a SYN while no SYN was seen (or a SYN-ACK with no SYN): the flow started before this
    /// router saw it. Transport-state enforcement decides whether it passes, is reset or is dropped.
    /// </summary>
    MidFlowWithoutHandshake,

    /// <summary>A segment after a RST, other than a SYN opening a new connection on the same tuple.</summary>
    InvalidAfterReset,
}

/// <summary>
/// Per-session TCP state from segment flags alone, enough for SVR's transport-state enforcement (no mid-flow
/// segment without a seen handshake) and for shortening the idle timeout of finished connections. Sequence
/// numbers are not checked: an ACK from one side after the other side's FIN counts as acknowledging that FIN.
/// A segment given a verdict other than <see cref="TcpVerdict.Allow"/> leaves the state unchanged, so a
/// dropped segment teaches the tracker nothing. Two bytes; lives inside the session entry. Not thread-safe.
/// </summary>
public struct TcpTracker
{
    /// <summary>
    /// Suggested idle timeout for a session whose connection <see cref="IsClosed"/> (tunable, not from a
    /// specification): long enough for retransmitted final ACKs and FINs, short enough to free the slot soon.
    /// </summary>
    public static readonly TimeSpan ClosedLinger = TimeSpan.FromSeconds(10);

    private const byte OpenerIsReverse = 0x01;
    private const byte FinForward = 0x02;
    private const byte FinReverse = 0x04;
    private const byte FinForwardAcked = 0x08;
    private const byte FinReverseAcked = 0x10;

    private TcpState _state;
    private byte _marks;

    public readonly TcpState State => _state;

    /// <summary>The whole tracker in 16 bits (state, then marks), as session replication carries it; <see cref="FromPacked"/> restores it.</summary>
    public readonly ushort Packed => (ushort)(((int)_state << 8) | _marks);

    /// <summary>The tracker <see cref="Packed"/> gave; an unknown state becomes <see cref="TcpState.None"/>.</summary>
    public static TcpTracker FromPacked(ushort packed)
    {
        var state = (TcpState)(packed >> 8);
        return new TcpTracker { _state = Enum.IsDefined(state) ? state : TcpState.None, _marks = (byte)packed };
    }

    /// <summary>The handshake completed and the connection is neither closed nor reset (it may be half-closed).</summary>
    public readonly bool IsEstablished => _state is TcpState.Established or TcpState.FinWait or TcpState.Closing;

    /// <summary>Both FINs were sent and acknowledged, or a RST was seen: only stragglers remain.</summary>
    public readonly bool IsClosed => _state is TcpState.Closed or TcpState.Reset;

    /// <summary>Advances the state with one segment's flags (as in <see cref="TcpSegment.Flags"/>) and judges it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public TcpVerdict Observe(byte tcpFlags, SessionDirection direction)
    {
        var flags = (TcpFlags)tcpFlags;
        var syn = (flags & TcpFlags.Syn) != 0;
        var ack = (flags & TcpFlags.Ack) != 0;

        if (_state == TcpState.Reset)
        {
            if (syn && !ack && (flags & TcpFlags.Rst) == 0)
            {
                Open(direction);
                return TcpVerdict.Allow;
            }

            return TcpVerdict.InvalidAfterReset;
        }

        if ((flags & TcpFlags.Rst) != 0)
        {
            if (_state == TcpState.None)
            {
                return TcpVerdict.MidFlowWithoutHandshake;
            }

            _state = TcpState.Reset;
            return TcpVerdict.Allow;
        }

        if (syn)
        {
            return ObserveSyn(ack, direction);
        }

        switch (_state)
        {
            case TcpState.None:
                return TcpVerdict.MidFlowWithoutHandshake;
            case TcpState.SynSent:
                return TcpVerdict.Allow;
            case TcpState.SynReceived:
                if (!ack || direction != Opener)
                {
                    return TcpVerdict.Allow;
                }

                _state = TcpState.Established;
                break;
        }

        ObserveClose(ack, (flags & TcpFlags.Fin) != 0, direction);
        return TcpVerdict.Allow;
    }

    private readonly SessionDirection Opener =>
        (_marks & OpenerIsReverse) != 0 ? SessionDirection.Reverse : SessionDirection.Forward;

    private TcpVerdict ObserveSyn(bool ack, SessionDirection direction)
    {
        if (!ack)
        {
            // A first SYN, a retransmitted one, a simultaneous open, or a new connection on a closed tuple.
            if (_state is TcpState.None or TcpState.Closed)
            {
                Open(direction);
            }
            else if (_state == TcpState.SynSent && direction != Opener)
            {
                _state = TcpState.SynReceived;
            }

            return TcpVerdict.Allow;
        }

        if (_state == TcpState.None)
        {
            return TcpVerdict.MidFlowWithoutHandshake;
        }

        if (_state == TcpState.SynSent && direction != Opener)
        {
            _state = TcpState.SynReceived;
        }

        return TcpVerdict.Allow;
    }

    private void Open(SessionDirection direction)
    {
        _state = TcpState.SynSent;
        _marks = direction == SessionDirection.Reverse ? OpenerIsReverse : (byte)0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ObserveClose(bool ack, bool fin, SessionDirection direction)
    {
        var forward = direction == SessionDirection.Forward;
        if (ack && (_marks & (forward ? FinReverse : FinForward)) != 0)
        {
            _marks |= forward ? FinReverseAcked : FinForwardAcked;
        }

        if (fin)
        {
            _marks |= forward ? FinForward : FinReverse;
        }

        const byte bothFins = FinForward | FinReverse;
        const byte bothAcked = FinForwardAcked | FinReverseAcked;
        _state = (_marks & bothAcked) == bothAcked ? TcpState.Closed
            : (_marks & bothFins) == bothFins ? TcpState.Closing
            : (_marks & bothFins) != 0 ? TcpState.FinWait
            : TcpState.Established;
    }
}
