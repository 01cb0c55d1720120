using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Sessions;

public class TcpTrackerTests
{
    private const SessionDirection Forward = SessionDirection.Forward;
    private const SessionDirection Reverse = SessionDirection.Reverse;

    [Fact]
    public void Observe_ThreeWayHandshake_Established()
    {
        var tracker = default(TcpTracker);

        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Syn, Forward));
        Assert.Equal(TcpState.SynSent, tracker.State);
        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Syn | TcpFlags.Ack, Reverse));
        Assert.Equal(TcpState.SynReceived, tracker.State);
        Assert.False(tracker.IsEstablished);
        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Ack, Forward));

        Assert.Equal(TcpState.Established, tracker.State);
        Assert.True(tracker.IsEstablished);
        Assert.False(tracker.IsClosed);
    }

    [Fact]
    public void Observe_HandshakeOpenedFromReverseSide_EstablishedOnlyByTheOpenersAck()
    {
        var tracker = default(TcpTracker);
        Observe(ref tracker, TcpFlags.Syn, Reverse);
        Observe(ref tracker, TcpFlags.Syn | TcpFlags.Ack, Forward);

        Observe(ref tracker, TcpFlags.Ack, Forward);
        Assert.False(tracker.IsEstablished);
        Observe(ref tracker, TcpFlags.Ack, Reverse);

        Assert.True(tracker.IsEstablished);
    }

    [Fact]
    public void Observe_RetransmittedSyn_AllowedAndStillSynSent()
    {
        var tracker = default(TcpTracker);
        Observe(ref tracker, TcpFlags.Syn, Forward);

        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Syn, Forward));
        Assert.Equal(TcpState.SynSent, tracker.State);
        Observe(ref tracker, TcpFlags.Syn | TcpFlags.Ack, Reverse);
        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Syn | TcpFlags.Ack, Reverse));
        Assert.Equal(TcpState.SynReceived, tracker.State);
    }

    [Fact]
    public void Observe_FinBothWaysAndAcked_Closed()
    {
        var tracker = Established();

        Observe(ref tracker, TcpFlags.Fin | TcpFlags.Ack, Forward);
        Assert.Equal(TcpState.FinWait, tracker.State);
        Observe(ref tracker, TcpFlags.Ack, Reverse);
        Assert.Equal(TcpState.FinWait, tracker.State);
        Observe(ref tracker, TcpFlags.Psh | TcpFlags.Ack, Reverse);
        Observe(ref tracker, TcpFlags.Fin | TcpFlags.Ack, Reverse);
        Assert.Equal(TcpState.Closing, tracker.State);
        Assert.False(tracker.IsClosed);
        Observe(ref tracker, TcpFlags.Ack, Forward);

        Assert.Equal(TcpState.Closed, tracker.State);
        Assert.True(tracker.IsClosed);
        Assert.False(tracker.IsEstablished);
    }

    [Fact]
    public void Observe_BothFinsButLastUnacked_NotClosed()
    {
        var tracker = Established();

        Observe(ref tracker, TcpFlags.Fin | TcpFlags.Ack, Forward);
        Observe(ref tracker, TcpFlags.Fin | TcpFlags.Ack, Reverse);

        Assert.Equal(TcpState.Closing, tracker.State);
        Assert.False(tracker.IsClosed);
    }

    [Fact]
    public void Observe_Rst_ResetAndLaterSegmentsInvalid()
    {
        var tracker = Established();

        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Rst | TcpFlags.Ack, Reverse));

        Assert.Equal(TcpState.Reset, tracker.State);
        Assert.True(tracker.IsClosed);
        Assert.Equal(TcpVerdict.InvalidAfterReset, Observe(ref tracker, TcpFlags.Ack, Forward));
        Assert.Equal(TcpVerdict.InvalidAfterReset, Observe(ref tracker, TcpFlags.Rst, Forward));
    }

    [Fact]
    public void Observe_RstAnsweringSyn_Reset()
    {
        var tracker = default(TcpTracker);
        Observe(ref tracker, TcpFlags.Syn, Forward);

        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Rst | TcpFlags.Ack, Reverse));
        Assert.Equal(TcpState.Reset, tracker.State);
    }

    [Fact]
    public void Observe_SynAfterResetOrClose_OpensANewConnection()
    {
        var reset = Established();
        Observe(ref reset, TcpFlags.Rst, Forward);
        var closed = Established();
        Observe(ref closed, TcpFlags.Fin | TcpFlags.Ack, Forward);
        Observe(ref closed, TcpFlags.Fin | TcpFlags.Ack, Reverse);
        Observe(ref closed, TcpFlags.Ack, Forward);

        Assert.Equal(TcpVerdict.Allow, Observe(ref reset, TcpFlags.Syn, Reverse));
        Assert.Equal(TcpVerdict.Allow, Observe(ref closed, TcpFlags.Syn, Forward));

        Assert.Equal(TcpState.SynSent, reset.State);
        Assert.Equal(TcpState.SynSent, closed.State);
    }

    [Theory]
    [InlineData(TcpFlags.Ack)]
    [InlineData(TcpFlags.Psh | TcpFlags.Ack)]
    [InlineData(TcpFlags.Fin | TcpFlags.Ack)]
    [InlineData(TcpFlags.Rst)]
    [InlineData(TcpFlags.Syn | TcpFlags.Ack)]
    public void Observe_MidFlowSegmentWithoutHandshake_FlaggedAndStateUnchanged(TcpFlags flags)
    {
        var tracker = default(TcpTracker);

        Assert.Equal(TcpVerdict.MidFlowWithoutHandshake, Observe(ref tracker, flags, Forward));
        Assert.Equal(TcpVerdict.MidFlowWithoutHandshake, Observe(ref tracker, flags, Reverse));

        Assert.Equal(TcpState.None, tracker.State);
        Assert.False(tracker.IsEstablished);
        Assert.Equal(TcpVerdict.Allow, Observe(ref tracker, TcpFlags.Syn, Forward));
    }

    [Fact]
    public void TcpTracker_Size_IsTwoBytes()
    {
        Assert.Equal(2, System.Runtime.CompilerServices.Unsafe.SizeOf<TcpTracker>());
    }

    private static TcpTracker Established()
    {
        var tracker = default(TcpTracker);
        Observe(ref tracker, TcpFlags.Syn, Forward);
        Observe(ref tracker, TcpFlags.Syn | TcpFlags.Ack, Reverse);
        Observe(ref tracker, TcpFlags.Ack, Forward);
        Assert.True(tracker.IsEstablished);
        return tracker;
    }

    private static TcpVerdict Observe(ref TcpTracker tracker, TcpFlags flags, SessionDirection direction) =>
        tracker.Observe((byte)flags, direction);
}
