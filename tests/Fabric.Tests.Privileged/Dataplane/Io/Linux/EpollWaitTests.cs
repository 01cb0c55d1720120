using System.Diagnostics;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.Linux;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Dataplane.Io.Linux;

/// <summary>The idle worker's sleep on real sockets: it ends for a frame or a wake, and otherwise stays asleep.</summary>
public sealed class EpollWaitTests
{
    [Fact]
    public void Wait_NoTimeout_EndsWhenAnotherThreadWakes()
    {
        using var wire = new NetworkNamespaces();
        var (a, _) = Pair(wire, "w");
        using var port = AfPacketPort.Open(a);
        using var wait = new EpollWait([port]);

        var waker = new Thread(() =>
        {
            Thread.Sleep(100);
            wait.Wake();
        });
        waker.Start();
        wait.Wait(-1);
        waker.Join();

        Assert.Equal(1, wait.Wakes);
    }

    [Fact]
    public void Wait_WakeBeforeTheWait_IsNotLost()
    {
        using var wire = new NetworkNamespaces();
        var (a, _) = Pair(wire, "l");
        using var port = AfPacketPort.Open(a);
        using var wait = new EpollWait([port]);

        wait.Wake();
        wait.Wait(-1);

        Assert.Equal(1, wait.Wakes);
    }

    /// <summary>On a ring the socket turns readable when the kernel hands over the block (full, or its retire timeout).</summary>
    [Theory]
    [InlineData(PacketIo.Recvmmsg, "f")]
    [InlineData(PacketIo.Ring, "g")]
    public void Wait_FrameArrives_EndsTheWaitAndTheFrameIsThere(PacketIo io, string tag)
    {
        using var wire = new NetworkNamespaces();
        var (a, b) = Pair(wire, tag);
        using var receiver = AfPacketPort.Open(a, io: io);
        using var sender = AfPacketPort.Open(b);
        using var wait = new EpollWait([receiver]);
        var frame = new byte[60];
        receiver.Mac.Write(frame);
        sender.Mac.Write(frame.AsSpan(6));
        frame[12] = 0x88;
        frame[13] = 0xB5; // local experimental EtherType: no stack answers it

        var sending = new Thread(() =>
        {
            Thread.Sleep(100);
            sender.Send(frame);
        });
        sending.Start();
        wait.Wait(-1);
        sending.Join();

        Assert.Equal(0, wait.Wakes);
        Assert.Equal(1, receiver.Receive(new PacketBatch(4)));
    }

    [Fact]
    public void Wait_NothingHappens_SleepsUntilTheTimeout()
    {
        using var wire = new NetworkNamespaces();
        var (a, _) = Pair(wire, "t");
        using var port = AfPacketPort.Open(a);
        using var wait = new EpollWait([port]);

        var clock = Stopwatch.StartNew();
        wait.Wait(200);

        Assert.True(clock.ElapsedMilliseconds >= 190, $"woke after {clock.ElapsedMilliseconds} ms with nothing to do");
        Assert.Equal((1L, 0L), (wait.Waits, wait.Wakes));
    }

    /// <summary>A wake that comes after the wait was disposed (a commit racing the router's stop) does nothing: no exception, no write.</summary>
    [Fact]
    public void Wake_AfterDispose_WritesNowhere()
    {
        using var wire = new NetworkNamespaces();
        var (a, _) = Pair(wire, "d");
        using var port = AfPacketPort.Open(a);
        var wait = new EpollWait([port]);
        wait.Dispose();

        // The descriptors the wait closed are the lowest free ones: a pipe made now most likely takes one of them.
        using var server = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.In);
        using var client = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.Out, server.ClientSafePipeHandle);
        wait.Wake();
        client.WriteByte(7);

        Assert.Equal(7, server.ReadByte());
    }

    private static (string A, string B) Pair(NetworkNamespaces wire, string tag)
    {
        var a = $"fe{tag}a-{NetworkNamespaces.Suffix}";
        var b = $"fe{tag}b-{NetworkNamespaces.Suffix}";
        wire.AddVethPair(a, b);
        return (a, b);
    }
}
