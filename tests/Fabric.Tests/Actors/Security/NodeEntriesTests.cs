using Akka.Event;
using Fabric.Actors.Security;

namespace Fabric.Tests.Actors.Security;

/// <summary>
/// A reader's verdict on a node's entry (<see cref="NodeEntries"/>) follows what it knows of the node's router: an entry
/// read before the reader's configuration said which router its node is part of is judged again once it does. Before,
/// the verdict was kept for the entry alone, so a router that read a forged instance before applying its first
/// configuration kept believing it (RegistryForgeryTests failed now and then under load that way: br1a never refused
/// br2a's instance at dc1).
/// </summary>
public sealed class NodeEntriesTests
{
    private const string Key = "web/evil@br2a";

    [Fact]
    public void Believe_RouterOfTheNodeLearnedAfterTheEntry_SameEntryJudgedAgainAndRefused_CountedOnce()
    {
        var refusals = new ControlPlaneRefusals();
        var reader = new NodeEntries(null, TimeProvider.System, NoLogger.Instance, "registered instance", refusals);
        var entry = new object();

        Assert.True(Believe(reader, entry, notAllowed: null));
        Assert.False(Believe(reader, entry, notAllowed: "node br2a is part of router br2, not dc1"));
        Assert.False(Believe(reader, entry, notAllowed: "node br2a is part of router br2, not dc1"));

        Assert.Equal(1, refusals.ForeignEntries);
    }

    [Fact]
    public void Believe_NodeMovedIntoTheRouter_SameEntryBelievedAgain()
    {
        var refusals = new ControlPlaneRefusals();
        var reader = new NodeEntries(null, TimeProvider.System, NoLogger.Instance, "registered instance", refusals);
        var entry = new object();

        Assert.False(Believe(reader, entry, notAllowed: "node br2a is no router node of the configuration in force"));
        Assert.True(Believe(reader, entry, notAllowed: null));
        Assert.True(Believe(reader, entry, notAllowed: null));
        Assert.Equal(1, refusals.ForeignEntries);
    }

    /// <summary>
    /// A forged entry reaches a reader several times, each time as another copy (gossip from each replica that holds it
    /// deserializes its own): one entry refused, counted once (RegistryForgeryTests read 5 refusals of 3 entries in CI).
    /// </summary>
    [Fact]
    public void Believe_SameEntryArrivingAgainAsAnotherCopy_RefusedAgain_CountedOnce()
    {
        var refusals = new ControlPlaneRefusals();
        var reader = new NodeEntries(null, TimeProvider.System, NoLogger.Instance, "registered instance", refusals);
        const string NotAllowed = "node br2a is part of router br2, not dc1";

        Assert.False(Believe(reader, new object(), NotAllowed));
        Assert.False(Believe(reader, new object(), NotAllowed));
        Assert.False(Believe(reader, new object(), NotAllowed));

        Assert.Equal(1, refusals.ForeignEntries);
    }

    /// <summary>Reads the entry as a registry reader does; without cluster TLS no seal is checked, so the statement is never made.</summary>
    private static bool Believe(NodeEntries reader, object entry, string? notAllowed) =>
        reader.Believe(Key, entry, "br2a", Key, _ => throw new InvalidOperationException("no seal is checked without cluster TLS"), null, notAllowed);
}
