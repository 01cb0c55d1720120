using System.Net;
using Akka.Actor;
using Akka.DistributedData;
using Fabric.Actors.Cluster;
using Fabric.Actors.Services;
using Fabric.Model;
using Fabric.Tests.Support;

namespace Fabric.Tests.Actors;

/// <summary>
/// A router node's directory registers what the CNI plugin attaches or detaches there at once (docs/mobility.md "A client
/// moves by the CNI plugin"), not at its next periodic reading: here an hour away, so only the attachment's own signal
/// can bring the entries into the attached-client registry within the test's deadline.
/// </summary>
public sealed class ServiceDirectoryTests
{
    private static readonly TimeSpan AnHour = TimeSpan.FromHours(1);

    [Fact]
    public async Task ClientAttachedThenDetached_AnHourBeforeTheNextReading_RegistryFollowsAtOnce()
    {
        using var engine = ControlPlaneNodes.Engine(ControlPlaneNodes.Load(LabDocuments.Lab), "br1a");
        await using var nodes = new ControlPlaneNodes();
        var member = await nodes.StartMember("br1a", asSeed: true);
        var target = new AttachingEngineTarget(engine);
        target.Attach(Client("eng3", "10.20.1.30"));
        member.ActorOf(
            ServiceDirectory.Props("br1a", "br1", new EngineServiceDataplane(engine), interval: AnHour, remoteInstances: target),
            ServiceDirectory.NameFor("br1a"));

        // The directory's first reading, at its start, registers eng3; the next periodic one is an hour away.
        await ControlPlaneNodes.Until(() => Clients(member), clients => clients == "client/eng3@br1a", "the first reading registering eng3");

        target.Attach(Client("eng4", "10.20.1.40"));
        await ControlPlaneNodes.Until(() => Clients(member), clients => clients == "client/eng3@br1a client/eng4@br1a", "eng4's attach reaching the registry");

        target.Detach("eng3");
        await ControlPlaneNodes.Until(() => Clients(member), clients => clients == "client/eng4@br1a", "eng3's detach reaching the registry");
    }

    /// <summary>A burst of attaches (a runtime starting many containers) is registered whole, the last of them included.</summary>
    [Fact]
    public async Task TwentyClientsAttachedInABurst_AnHourBeforeTheNextReading_AllRegistered()
    {
        using var engine = ControlPlaneNodes.Engine(ControlPlaneNodes.Load(LabDocuments.Lab), "br1a");
        await using var nodes = new ControlPlaneNodes();
        var member = await nodes.StartMember("br1a", asSeed: true);
        var target = new AttachingEngineTarget(engine);
        target.Attach(Client("eng100", "10.20.1.100"));
        member.ActorOf(
            ServiceDirectory.Props("br1a", "br1", new EngineServiceDataplane(engine), interval: AnHour, remoteInstances: target),
            ServiceDirectory.NameFor("br1a"));
        await ControlPlaneNodes.Until(() => Clients(member), clients => clients == "client/eng100@br1a", "the first reading registering eng100");

        for (var i = 101; i <= 120; i++)
        {
            target.Attach(Client($"eng{i}", $"10.20.1.{i}"));
        }

        var expected = string.Join(" ", Enumerable.Range(100, 21).Select(i => $"client/eng{i}@br1a").Order(StringComparer.Ordinal));
        await ControlPlaneNodes.Until(() => Clients(member), clients => clients == expected, "every client of the burst reaching the registry");
    }

    private static AttachedWorkload Client(string name, string address) =>
        new(name, "br1", "hosts", IPAddress.Parse(address), "engineering", Service: null);

    /// <summary>The keys of the attached-client registry in <paramref name="member"/>'s replica, in order.</summary>
    private static async Task<string> Clients(ActorSystem member)
    {
        var response = await DistributedData.Get(member).Replicator.Ask<IGetResponse>(
            Dsl.Get(AttachedClients.Registry, ReadLocal.Instance), ControlPlaneNodes.Deadline, TestContext.Current.CancellationToken);
        return response is GetSuccess success
            ? string.Join(" ", success.Get(AttachedClients.Registry).ByName().Keys.Order(StringComparer.Ordinal))
            : string.Empty;
    }
}
