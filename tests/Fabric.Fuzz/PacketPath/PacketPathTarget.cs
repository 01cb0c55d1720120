using Fabric.Dataplane.Io;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// The whole packet path: each input is a <see cref="FrameScript"/> of frames handed, through the worker's public
/// entry (<see cref="PacketWorker.Process"/>, <see cref="PacketWorker.ProcessSuperPacket"/>), to a port of one router of
/// a <see cref="PacketFabric"/> with live local, SVR and sealed sessions; between frames the routers run
/// (<see cref="ForwardingEngine.RunOnce"/>) so that what a frame caused reaches the others. A finding is an exception
/// thrown anywhere in a router (escaped, or caught by the worker's own guard) or a packet the counters lose: every
/// received packet is forwarded, dropped with a reason, or consumed (answered, held for a neighbour), and each
/// verdict moves exactly its counter.
/// </summary>
/// <remarks>
/// A fabric costs tens of milliseconds to build (each snapshot's route tries are large), a frame
/// microseconds: so <see cref="Run"/> reuses one fabric for <see cref="InputsPerFabric"/> inputs, and an input meets
/// what the ones before it left (sessions, neighbours, the clock). A finding is confirmed on a fresh fabric: if the
/// input alone reproduces it, it is thrown as is; if not, the inputs the fabric ran are written as one script that
/// does (to the folder in <c>FABRIC_FUZZ_HISTORY</c>) and the finding says so. <see cref="RunFresh"/> runs an input
/// on a fabric of its own. Not thread-safe.
/// </remarks>
public sealed class PacketPathTarget : FuzzTarget, IDisposable
{
    public const int InputsPerFabric = 100;

    private readonly List<byte[]> _history = [];
    private PacketFabric? _fabric;

    public override string Name => "packet-path";

    public override string Description => "frames to the ports of br1, dc1 and br2 with live sessions: nothing throws, every packet accounted";

    public override void Run(byte[] input)
    {
        if (_fabric is null || _history.Count == InputsPerFabric)
        {
            _fabric?.Dispose();
            _fabric = CoverageMap.Hidden(() => new PacketFabric());
            _history.Clear();
        }

        _history.Add(input);
        try
        {
            RunOn(_fabric, input);
        }
        catch (Exception seen)
        {
            var history = Script(_history);
            var earlier = _history.Count - 1;
            _fabric.Dispose();
            _fabric = null;
            _history.Clear();
            if (earlier == 0)
            {
                throw;
            }

            RunFresh(input);
            var saved = SaveHistory(history);
            throw new FuzzFinding(
                $"only after the {earlier} inputs run before it on the same fabric; all of them as one script reproduce it{(saved is null ? "" : $": {saved}")}",
                seen);
        }
    }

    public void Dispose()
    {
        _fabric?.Dispose();
        _fabric = null;
        _history.Clear();
    }

    public override void RunAlone(byte[] input) => RunFresh(input);

    /// <summary>Runs an input on a fabric of its own.</summary>
    public static void RunFresh(byte[] input)
    {
        using var fabric = CoverageMap.Hidden(() => new PacketFabric());
        RunOn(fabric, input);
    }

    /// <summary>Inputs run one after the other on one fabric, as one script: the last record of each settles, as the end of an input does.</summary>
    public static byte[] Script(IEnumerable<byte[]> inputs)
    {
        var script = new List<byte>();
        foreach (var input in inputs)
        {
            var reader = new FrameScript(input);
            var records = new List<byte[]>();
            while (reader.Next(out var record))
            {
                records.Add(record.Write());
            }

            if (records.Count > 0)
            {
                records[^1][1] |= (byte)FrameFlags.Settle;
            }

            records.ForEach(script.AddRange);
        }

        return [.. script];
    }

    private static string? SaveHistory(byte[] script)
    {
        if (Environment.GetEnvironmentVariable("FABRIC_FUZZ_HISTORY") is not { Length: > 0 } folder)
        {
            return null;
        }

        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(script).AsSpan(0, 16)));
        File.WriteAllBytes(path, script);
        return path;
    }

    private static void RunOn(PacketFabric fabric, byte[] input)
    {
        var watch = ThrowWatch.Current;
        watch.Reset();
        var script = new FrameScript(input);
        var index = 0;
        while (script.Next(out var record))
        {
            var router = fabric.Routers[record.Router];
            if (record.ClockStepMicroseconds > 0)
            {
                fabric.Lab.Time.Advance(TimeSpan.FromMicroseconds(record.ClockStepMicroseconds));
                Watched(watch, index, () => fabric.Settle(rounds: 1));
            }

            var port = record.Port % router.Ports.Length;
            var buffer = new byte[record.SuperPacket ? PacketBuffer.SuperPacketCapacity : PacketBuffer.DefaultCapacity];
            var length = Math.Min(record.Frame.Length, buffer.Length);
            record.Frame[..length].CopyTo(buffer);
            if (record.Repair)
            {
                FrameRepair.Repair(buffer.AsSpan(0, length));
            }

            if (record.SuperPacket)
            {
                var offload = SuperPacketOffload.For(buffer.AsSpan(0, length), record.SegmentSize, record.ChecksumPartial);
                Watched(watch, index, () => ProcessSuperPacket(router, buffer, length, offload, port));
            }
            else
            {
                Watched(watch, index, () => Process(router, buffer, length, port));
            }

            if (record.Settle)
            {
                Watched(watch, index, () => fabric.Settle());
            }

            index++;
        }

        Watched(watch, index, () => fabric.Settle());
        foreach (var router in fabric.Routers)
        {
            CheckTotals(router);
        }
    }

    public override IEnumerable<(string Name, byte[] Input)> Seeds() => PacketPathSeeds.All();

    /// <summary>One frame through <see cref="PacketWorker.Process"/>: the verdict moves exactly its counters.</summary>
    private static void Process(ForwardingEngine router, byte[] buffer, int length, int port)
    {
        var worker = router.Worker;
        var before = Counts.Of(worker);
        var verdict = worker.Process(buffer, length, port, router.Now, router.Snapshot);
        var after = Counts.Of(worker);
        var (received, forwarded, dropped) = (after.Received - before.Received, after.Forwarded - before.Forwarded, after.Dropped - before.Dropped);
        if (received != 1)
        {
            throw new FuzzFinding($"{router.Name}: one frame counted as {received} received");
        }

        if (after.DropRecords - before.DropRecords != dropped)
        {
            throw new FuzzFinding($"{router.Name}: {dropped} drops counted but {after.DropRecords - before.DropRecords} drop records");
        }

        var consistent = verdict switch
        {
            Verdict.Forward => (forwarded == 1 && dropped == 0) || (forwarded == 0 && dropped == 1 && LastDrop(worker) == DropReason.TransmitFailed),
            Verdict.Drop => forwarded == 0 && dropped == 1 && LastDrop(worker) != DropReason.None,
            Verdict.Consumed => forwarded == 0 && dropped == 0,
            _ => false,
        };
        if (!consistent)
        {
            throw new FuzzFinding($"{router.Name}: verdict {verdict} on port {port} moved forwarded by {forwarded} and dropped by {dropped} (last drop {LastDrop(worker)})");
        }
    }

    /// <summary>A super-packet stands for as many received packets as it returns; each is forwarded, dropped or consumed.</summary>
    private static void ProcessSuperPacket(ForwardingEngine router, byte[] buffer, int length, SegmentationOffload offload, int port)
    {
        var worker = router.Worker;
        var before = Counts.Of(worker);
        var packets = worker.ProcessSuperPacket(buffer, length, offload, port, router.Now, router.Snapshot);
        var after = Counts.Of(worker);
        var (received, forwarded, dropped) = (after.Received - before.Received, after.Forwarded - before.Forwarded, after.Dropped - before.Dropped);
        if (packets < 1 || received != packets || forwarded + dropped > received || after.DropRecords - before.DropRecords != dropped)
        {
            throw new FuzzFinding(
                $"{router.Name}: a super-packet standing for {packets} packets moved received by {received}, forwarded by {forwarded}, dropped by {dropped}, drop records by {after.DropRecords - before.DropRecords}");
        }
    }

    /// <summary>
    /// After the routers ran on their own: no packet dropped because a stage threw (the worker's guard caught it; the
    /// throw watch has seen it already, this says which stage), nothing forwarded or dropped that was not received,
    /// every drop recorded with a reason.
    /// </summary>
    private static void CheckTotals(ForwardingEngine router)
    {
        if (router.Worker.Faults.Total != 0)
        {
            throw new FuzzFinding($"{router.Name}: {router.Worker.Faults.Total} packets dropped as {DropReason.PipelineFault}, the last: {router.Worker.Faults.Last}");
        }

        var counts = Counts.Of(router.Worker);
        if (counts.Forwarded + counts.Dropped > counts.Received || counts.DropRecords != counts.Dropped || router.Worker.Drops.Total(DropReason.None) != 0)
        {
            throw new FuzzFinding(
                $"{router.Name}: {counts.Received} received, {counts.Forwarded} forwarded, {counts.Dropped} dropped, {counts.DropRecords} drop records, {router.Worker.Drops.Total(DropReason.None)} without a reason");
        }
    }

    private static DropReason LastDrop(PacketWorker worker)
    {
        var recent = worker.Drops.Recent.Snapshot();
        return recent.Length == 0 ? DropReason.None : recent[^1].Reason;
    }

    /// <summary>Runs <paramref name="action"/> with the throw watch on; an exception thrown inside, caught or not, is a finding.</summary>
    private static void Watched(ThrowWatch watch, int record, Action action)
    {
        watch.Watching = true;
        try
        {
            action();
        }
        catch (Exception e) when (e is not FuzzFinding)
        {
            throw new FuzzFinding($"record {record}: an exception escaped the routers", e);
        }
        finally
        {
            watch.Watching = false;
        }

        if (watch.First is { } thrown)
        {
            throw new FuzzFinding($"record {record}: {thrown.GetType().Name} thrown inside a router (and caught): {thrown.Message}\n{watch.Where}", thrown);
        }
    }

    private readonly record struct Counts(long Received, long Forwarded, long Dropped, long DropRecords)
    {
        public static Counts Of(PacketWorker worker) =>
            new(worker.Counters.Received, worker.Counters.Forwarded, worker.Counters.Dropped, worker.Drops.Recent.Written);
    }
}
