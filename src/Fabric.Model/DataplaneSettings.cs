namespace Fabric.Model;

/// <summary>
/// How a router's nodes run their dataplane (docs/dataplane.md "Workers"): how many packet workers, and how long an
/// idle worker keeps polling its ports before it sleeps, and how the ports take frames from the kernel. Read when a node
/// starts. Thread-safe: immutable.
/// </summary>
/// <param name="Workers">Packet workers per node; null: <see cref="WorkersFor"/> the node's processor count.</param>
/// <param name="BusyPoll">After an empty batch a worker polls this long before it blocks in epoll; zero sleeps at once.</param>
/// <param name="Io">How each port receives frames (docs/dataplane.md "Receive paths").</param>
public sealed record DataplaneSettings(int? Workers, TimeSpan BusyPoll, PacketIo Io = PacketIo.Recvmmsg)
{
    public static DataplaneSettings Default { get; } = new(null, TimeSpan.Zero);

    /// <summary>The most workers a document may give: past the cores of any machine a router runs on.</summary>
    public const int MaximumWorkers = 64;

    /// <summary>
    /// The longest busy poll a document may give (tens of microseconds): a longer spin holds a core the kernel, the
    /// other workers and the control plane need, for less latency than one scheduler wake-up saves.
    /// </summary>
    public static TimeSpan MaximumBusyPoll { get; } = TimeSpan.FromMicroseconds(100);

    /// <summary>
    /// The workers a node with <paramref name="processorCount"/> cores runs: the configured count, else one on a
    /// machine of two cores or fewer (the kernel and the control plane need the other), else one per core but one.
    /// </summary>
    public int WorkersFor(int processorCount) => Workers ?? (processorCount <= 2 ? 1 : processorCount - 1);
}
