using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Fabric.Actors.Cluster;
using Fabric.Actors.Configuration;
using Fabric.Actors.Hosting;
using Fabric.Conductor.Configuration;
using Fabric.Conductor.Hosting;
using Fabric.Config;
using Fabric.Dataplane.Io;
using Fabric.Dataplane.Io.InMemory;
using Fabric.Dataplane.Routing;
using Fabric.Dataplane.Wire;
using Fabric.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Fabric.Bench;

/// <summary>
/// <c>fabric bench control-plane</c>: commit-to-applied latency with many routers simulated in one
/// process: a conductor node (SQLite history in a scratch directory) and a few router actor systems,
/// each hosting several routers' configuration appliers and forwarding engines, all joined over
/// loopback with real Akka remoting. For each commit it times, from the commit request: the moment
/// every router's engine runs the new snapshot (applied) and the moment the conductor sees every
/// ack (acked). Baseline from the same run: compiling every router's snapshot one after the other
/// on one thread, the work the fabric does in parallel.
/// </summary>
public static class ControlPlaneBench
{
    public const int RouterSystems = 5;

    /// <summary>Simulated routers forward no packets: a small session table keeps 50 of them in memory.</summary>
    private static readonly RouterOptions Simulated = new(SessionCapacity: 1024);

    public sealed record Figures(int Routers, int Commits, double AppliedMedianMs, double AppliedP95Ms, double AppliedMaxMs, double AckedMedianMs, double AckedP95Ms, double CompileAllMs);

    public static async Task<IReadOnlyList<Figures>> Run(bool quick, Action<string> progress)
    {
        var results = new List<Figures>();
        foreach (var routers in new[] { 10, 50 })
        {
            progress($"{routers} routers in {RouterSystems} router actor systems and one conductor");
            results.Add(await Measure(routers, quick ? 5 : 20, progress));
        }

        return results;
    }

    private static async Task<Figures> Measure(int routerCount, int commits, Action<string> progress)
    {
        var dir = Directory.CreateTempSubdirectory("fabric-bench-control-plane-").FullName;
        IHost? conductorHost = null;
        var routerNodes = new List<FabricNode>();
        try
        {
            var storage = new StorageSettings(StorageProvider.Sqlite, Path.Combine(dir, "conductor.db"), null);
            var key = Fabric.Actors.Security.ConductorSigningKey.Generate();
            conductorHost = ConductorHost.Build(new ClusterNodeSettings("127.0.0.1", 0, [], Insecure: true), storage, key);
            await conductorHost.StartAsync();
            var system = conductorHost.Services.GetRequiredService<ActorSystem>();
            var cluster = Akka.Cluster.Cluster.Get(system);
            cluster.Join(cluster.SelfAddress);
            var conductor = conductorHost.Services.GetRequiredService<ActorRegistry>().Get<ConductorActor>();

            var first = Document(routerCount, 0);
            var model = FabricConfigLoader.Load(first).Config ?? throw new InvalidOperationException(string.Join("\n", FabricConfigLoader.Load(first).Errors));
            var engines = new List<ForwardingEngine>();
            foreach (var group in model.Routers.Chunk((routerCount + RouterSystems - 1) / RouterSystems))
            {
                var targets = new List<RouterNodeTarget>();
                foreach (var router in group)
                {
                    var engine = new ForwardingEngine(router.Name, [new DiscardPort("wan0", new MacAddress(0x02_00_00_00_00_01UL))], Simulated);
                    engines.Add(engine);
                    targets.Add(new RouterNodeTarget(router.Nodes[0].Name, new EngineForwardingTarget(engine)));
                }

                var node = RouterHost.Build(new ClusterNodeSettings("127.0.0.1", 0, [cluster.SelfAddress.ToString()], Insecure: true), key.Pin, targets);
                routerNodes.Add(node);
                await node.StartAsync();
            }

            // Version 1 forms the cluster and warms every path; it is not timed.
            await Commit(conductor, first);
            await Until(() => engines.All(e => e.AppliedVersion == 1), TimeSpan.FromSeconds(60));
            // The baseline, once the code is warm: every router's snapshot compiled one after the other on this thread.
            var baseline = model.Routers.Select(r => new ForwardingEngine(r.Name, [new DiscardPort("wan0", new MacAddress(0x02_00_00_00_00_01UL))], Simulated)).ToList();
            var compile = Stopwatch.StartNew();
            foreach (var engine in baseline)
            {
                engine.Apply(model, 1);
            }

            var compileAllMs = compile.Elapsed.TotalMilliseconds;
            var applied = new List<double>();
            var acked = new List<double>();
            for (var i = 1; i <= commits; i++)
            {
                var version = i + 1L;
                var clock = Stopwatch.StartNew();
                await Commit(conductor, Document(routerCount, i));
                await Until(() => engines.All(e => e.AppliedVersion == version), TimeSpan.FromSeconds(30));
                applied.Add(clock.Elapsed.TotalMilliseconds);
                while ((await conductor.Ask<ConfigRolloutView>(new GetConfigRollout(), TimeSpan.FromSeconds(10))) is var view
                    && !(view.Running == version && view.Converged))
                {
                    await Task.Delay(2);
                }

                acked.Add(clock.Elapsed.TotalMilliseconds);
                progress($"  commit {i}/{commits}: applied {applied[^1]:F0} ms, acked {acked[^1]:F0} ms");
            }

            applied.Sort();
            acked.Sort();
            return new Figures(routerCount, commits, Percentile(applied, 0.5), Percentile(applied, 0.95), applied[^1], Percentile(acked, 0.5), Percentile(acked, 0.95), compileAllMs);
        }
        finally
        {
            foreach (var node in Enumerable.Reverse(routerNodes))
            {
                await node.StopAsync();
                node.Dispose();
            }

            if (conductorHost is not null)
            {
                await conductorHost.StopAsync();
                conductorHost.Dispose();
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task Commit(IActorRef conductor, string text)
    {
        var result = await conductor.Ask<ConfigCommandResult>(new CommitConfig(text, "bench", "bench"), TimeSpan.FromSeconds(30));
        if (!result.Accepted)
        {
            throw new InvalidOperationException("the bench's commit was refused: " + string.Join("; ", result.Errors));
        }
    }

    private static async Task Until(Func<bool> done, TimeSpan limit)
    {
        var deadline = Stopwatch.StartNew();
        while (!done())
        {
            if (deadline.Elapsed > limit)
            {
                throw new TimeoutException($"the routers did not apply the commit within {limit.TotalSeconds} s");
            }

            await Task.Delay(1);
        }
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>A fabric of <paramref name="routers"/> routers on one WAN; each <paramref name="revision"/> renames the authority, a new version that costs every router the same compile.</summary>
    private static string Document(int routers, int revision)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"fabric {{\n  name = bench-r{revision}\n  tenants {{ engineering {{}} }}\n");
        text.Append("  neighborhoods { wan {} }\n  routers {\n");
        for (var r = 1; r <= routers; r++)
        {
            text.Append(CultureInfo.InvariantCulture, $$"""
                    r{{r}} {
                      nodes { r{{r}}a { management-address = "10.99.{{r / 250}}.{{(r % 250) + 1}}" } }
                      interfaces { wan0 { addresses = ["172.16.{{r / 250}}.{{(r % 250) + 1}}/16"], neighborhoods = [wan] } }
                    }

                """);
        }

        return text.Append("  }\n}\n").ToString();
    }
}
