using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fabric.Dataplane.Io.Linux;
using Tmds.Linux;

namespace Fabric.Bench;

/// <summary>
/// The UDP probes of <c>fabric bench lab</c>, on sockets the caller made inside the lab's namespaces: a receiver that
/// counts with recvmmsg(2), an echo responder, and a round-trip prober (the small-packet load is <see cref="PacketRingSender"/>). Each runs on the calling thread until its
/// deadline or cancellation. Not thread-safe: one thread per socket.
/// </summary>
public static unsafe class UdpProbes
{
    /// <summary>Datagrams one recvmmsg call takes.</summary>
    private const int Batch = 64;

    private const int MsgWaitForOne = 0x10000;

    /// <summary>Counts datagrams arriving on a bound socket until <paramref name="stop"/> is cancelled (seen within 100 ms).</summary>
    public static long Count(Socket bound, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(bound);
        bound.ReceiveTimeout = 100;
        const int room = 2048;
        var buffers = GC.AllocateArray<byte>(Batch * room, pinned: true);
        var vectors = stackalloc iovec[Batch];
        var messages = stackalloc mmsghdr[Batch];
        long received = 0;
        fixed (byte* data = buffers)
        {
            for (var i = 0; i < Batch; i++)
            {
                vectors[i] = new iovec { iov_base = data + (i * room), iov_len = room };
                var header = (msghdr*)&messages[i];
                header->msg_iov = &vectors[i];
                header->msg_iovlen = 1;
            }

            var fd = (int)bound.Handle;
            while (!stop.IsCancellationRequested)
            {
                // recvmmsg's own timeout is only checked after a datagram; the socket's receive timeout (100 ms) ends an empty wait.
                var result = LinuxNative.recvmmsg(fd, messages, Batch, MsgWaitForOne, null);
                if (result > 0)
                {
                    received += result;
                }
            }
        }

        return received;
    }

    /// <summary>Sends every datagram back to where it came from until <paramref name="stop"/> is cancelled.</summary>
    public static void Echo(Socket bound, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(bound);
        bound.ReceiveTimeout = 100;
        var buffer = new byte[2048];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var length = bound.ReceiveFrom(buffer, ref from);
                bound.SendTo(buffer.AsSpan(0, length), SocketFlags.None, from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
            }
        }
    }

    /// <summary>
    /// Round trips of one small datagram to an echo on a connected socket, one every <paramref name="interval"/>, for
    /// <paramref name="count"/> probes or until <paramref name="stop"/>; returns each answered round trip in
    /// microseconds (a probe unanswered within a second is left out and counted in <paramref name="lost"/>).
    /// </summary>
    public static List<double> RoundTrips(Socket connected, int count, TimeSpan interval, CancellationToken stop, out int lost)
    {
        ArgumentNullException.ThrowIfNull(connected);
        connected.ReceiveTimeout = 1000;
        var probe = new byte[64];
        var answer = new byte[2048];
        var times = new List<double>(Math.Min(count, 4096));
        lost = 0;
        for (var i = 0; i < count && !stop.IsCancellationRequested; i++)
        {
            BitConverter.TryWriteBytes(probe, i);
            var start = Stopwatch.GetTimestamp();
            connected.Send(probe);
            try
            {
                // A late answer to an earlier probe is skipped: only this probe's answer ends its round trip.
                while (connected.Receive(answer) < 4 || BitConverter.ToInt32(answer) != i)
                {
                }

                times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                lost++;
            }

            Thread.Sleep(interval);
        }

        return times;
    }

    /// <summary>The <paramref name="percentile"/> (0–100) of <paramref name="values"/> by the nearest-rank method; NaN when empty.</summary>
    public static double Percentile(IReadOnlyList<double> values, double percentile)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
