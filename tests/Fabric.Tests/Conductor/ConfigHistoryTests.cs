using Fabric.Conductor.Configuration;
using Fabric.Tests.Support;

namespace Fabric.Tests.Conductor;

public class ConfigHistoryTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Lab = Repository.Read("hocon/lab.conf");
    private static readonly string LabWithHr = Lab.Replace("    finance {}\n", "    finance {}\n    hr {}\n", StringComparison.Ordinal);

    private static ConfigHistory Commit(ConfigHistory history, string text, string message = "change")
    {
        var decision = history.Decide(new CommitConfig(text, "alice", message), T0.AddMinutes(history.Versions.Count));
        Assert.True(decision.Accepted, string.Join("\n", decision.Errors));
        return history.Apply(decision.Event!);
    }

    [Fact]
    public void Commit_ValidDocument_BecomesRunningVersionOneWithAuthorTimeMessage()
    {
        var history = Commit(ConfigHistory.Empty, Lab, "first lab");

        var running = history.Running!;
        Assert.Equal((1L, "alice", "first lab", T0), (running.Number, running.Author, running.Message, running.Time));
        Assert.Equal(["br1", "br2", "dc1"], running.Model.Routers.Select(r => r.Name));
    }

    [Fact]
    public void Commit_CommandWithoutDocumentOrAuthor_RefusedWithTheMissingField()
    {
        var history = Commit(ConfigHistory.Empty, Lab);

        // What a JSON body of {"author":"x"} decodes to: no document, no message.
        Assert.Equal("a commit needs a document", history.Decide(new CommitConfig(null!, "x", null!), T0).Errors.Single().Message);
        Assert.Equal("a commit needs an author", history.Decide(new CommitConfig(LabWithHr, null!, "m"), T0).Errors.Single().Message);
        Assert.Equal("a rollback needs an author", history.Decide(new RollbackConfig(1, null!, null!), T0).Errors.Single().Message);
        Assert.Equal("", history.Apply(history.Decide(new CommitConfig(LabWithHr, "x", null!), T0).Event!).Running!.Message);
    }

    [Fact]
    public void Commit_SecondVersion_RecordsTheDiff()
    {
        var history = Commit(Commit(ConfigHistory.Empty, Lab), LabWithHr);

        Assert.Equal(2, history.Running!.Number);
        Assert.Equal(["+ fabric.tenants.hr = { members = [] }"], history.Running.Changes.Select(c => c.ToString()));
    }

    [Fact]
    public void Commit_InvalidDocument_RefusedWithEveryErrorAndNothingChanges()
    {
        var history = Commit(ConfigHistory.Empty, Lab);
        var broken = Lab.Replace("access = [finance]", "access = [finanse]", StringComparison.Ordinal).Replace("policy = bulk", "policy = bulky", StringComparison.Ordinal);

        var decision = history.Decide(new CommitConfig(broken, "bob", "oops"), T0);

        Assert.False(decision.Accepted);
        Assert.Equal(2, decision.Errors.Count);
        Assert.Contains(decision.Errors, e => e.ToString().StartsWith("fabric.services.db.access[0]: unknown tenant \"finanse\"", StringComparison.Ordinal));
        Assert.Single(history.Versions);
    }

    [Fact]
    public void Commit_SameContentAsRunning_RefusedAsNoChanges()
    {
        var history = Commit(ConfigHistory.Empty, Lab);
        var decision = history.Decide(new CommitConfig(Lab + "\n# only a comment\n", "bob", "noop"), T0);

        Assert.False(decision.Accepted);
        Assert.Equal("no changes: the document equals the running version 1", decision.Errors.Single().Message);
    }

    [Fact]
    public void Rollback_ToEarlierVersion_IsNewVersionWithThatContent()
    {
        var history = Commit(Commit(ConfigHistory.Empty, Lab), LabWithHr);

        var decision = history.Decide(new RollbackConfig(1, "carol", ""), T0.AddHours(1));
        history = history.Apply(decision.Event!);

        var running = history.Running!;
        Assert.Equal((3L, 1L, "rollback to version 1"), (running.Number, running.RestoredFrom!.Value, running.Message));
        Assert.Equal(history.Find(1)!.Model, running.Model);
        Assert.Equal(["- fabric.tenants.hr"], running.Changes.Select(c => c.ToString()));
        Assert.Equal(3, history.Versions.Count);
    }

    [Theory]
    [InlineData(0, "no version 0: versions are 1 to 2")]
    [InlineData(7, "no version 7: versions are 1 to 2")]
    [InlineData(2, "no changes: version 2 equals the running version 2")]
    public void Rollback_Refused(long version, string expected)
    {
        var history = Commit(Commit(ConfigHistory.Empty, Lab), LabWithHr);
        Assert.Equal(expected, history.Decide(new RollbackConfig(version, "carol", ""), T0).Errors.Single().Message);
    }

    [Fact]
    public void Replay_SameEvents_RebuildTheSameHistory()
    {
        var events = new List<ConfigCommitted>();
        var history = ConfigHistory.Empty;
        foreach (var text in new[] { Lab, LabWithHr })
        {
            var decision = history.Decide(new CommitConfig(text, "alice", "m"), T0);
            events.Add(decision.Event!);
            history = history.Apply(decision.Event!);
        }

        var rollback = history.Decide(new RollbackConfig(1, "bob", "back"), T0).Event!;
        events.Add(rollback);
        history = history.Apply(rollback);

        var replayed = events.Aggregate(ConfigHistory.Empty, (h, e) => h.Apply(e));
        Assert.Equal(history.Versions.Select(v => (v.Number, v.Text, v.Author, v.Message, v.RestoredFrom)), replayed.Versions.Select(v => (v.Number, v.Text, v.Author, v.Message, v.RestoredFrom)));
        Assert.Equal(history.Running!.Model, replayed.Running!.Model);
    }

    [Fact]
    public void Apply_OutOfOrder_Throws()
    {
        var decision = ConfigHistory.Empty.Decide(new CommitConfig(Lab, "alice", "m"), T0);
        Assert.Throws<InvalidOperationException>(() => ConfigHistory.Empty.Apply(decision.Event! with { Version = 5 }));
    }
}
