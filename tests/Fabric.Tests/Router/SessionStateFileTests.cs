using Fabric.Router;
using Fabric.Dataplane.Pipeline;
using Fabric.Dataplane.Sessions;

namespace Fabric.Tests.Router;

/// <summary>The file a stopping router node leaves its sessions in for the next start (docs/sessions.md "Restarts").</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class SessionStateFileTests : IDisposable
{
    private static readonly DateTimeOffset Written = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);
    private static readonly SessionStateOwner Br1 = new("br1", "br1", "identity-of-br1", "1111111111111111");

    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-sessions-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static SessionHandOver HandOver() => new(7,
    [
        [new SessionRecord { Forward = SessionKey.V4(0x0a14010a, 0x0a0a011e, 40000, 5201, 6), State = new SessionState { Tenant = 1, Service = 2, ForwardBytes = 12345 }, Tcp = 0x0301 }],
        [],
    ]);

    private SessionHandOver? Take(SessionStateOwner owner, int workers, DateTimeOffset at, out string? refusal) =>
        SessionStateFile.Take(_dir, owner, workers, at, out refusal);

    [Fact]
    public void Written_TakenBySameNodeSoonAfter_SameSessionsAndTheFileIsGone()
    {
        SessionStateFile.Write(_dir, Br1, HandOver(), Written);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SessionStateFile.PathIn(_dir)));
        var taken = Take(Br1, 2, Written.AddSeconds(3), out var refusal);

        Assert.Null(refusal);
        Assert.NotNull(taken);
        Assert.Equal(7, taken.Version);
        Assert.Equal(HandOver().Shards[0], taken.Shards[0]);
        Assert.Empty(taken.Shards[1]);
        Assert.False(File.Exists(SessionStateFile.PathIn(_dir)));
    }

    [Fact]
    public void NoFile_NothingTakenNothingRefused()
    {
        Assert.Null(Take(Br1, 2, Written, out var refusal));
        Assert.Null(refusal);
    }

    public static TheoryData<string, SessionStateOwner, int, double, string> Refusals => new()
    {
        { "another node", Br1 with { Node = "br2" }, 2, 1, "it was written by router br1 node br1, not br1 node br2" },
        { "another identity", Br1 with { Identity = "identity-of-mallory" }, 2, 1, "it was written with identity \"identity-of-br1\", not this node's \"identity-of-mallory\"" },
        { "no identity now", Br1 with { Identity = null }, 2, 1, "it was written with identity \"identity-of-br1\", not this node's \"none\"" },
        { "too old", Br1, 2, 61, "it was written 61 s ago, more than 60 s" },
        { "from the future", Br1, 2, -61, "it was written in the future (the clock stepped back)" },
        { "another configuration", Br1 with { Configuration = "2222222222222222" }, 2, 1, "its sessions were made under another configuration (111111111111) than the one this node starts with (222222222222)" },
        { "other workers", Br1, 1, 1, "it was written by 2 workers, this node runs 1" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Written_TakenByAnotherOrTooLate_RefusedSayingWhyAndTheFileIsGone(string what, SessionStateOwner owner, int workers, double secondsLater, string why)
    {
        SessionStateFile.Write(_dir, Br1, HandOver(), Written);

        Assert.Null(Take(owner, workers, Written.AddSeconds(secondsLater), out var refusal));

        Assert.True(why == refusal, $"{what}: {refusal}");
        Assert.False(File.Exists(SessionStateFile.PathIn(_dir)));
    }

    [Fact]
    public void FileOfAnotherFormat_Refused()
    {
        File.WriteAllBytes(SessionStateFile.PathIn(_dir), MessagePack.MessagePackSerializer.Serialize(new object[] { 2, "br1" }, cancellationToken: TestContext.Current.CancellationToken));
        File.SetUnixFileMode(SessionStateFile.PathIn(_dir), UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Assert.Null(Take(Br1, 2, Written, out var refusal));

        Assert.Equal("it is of format 2, this build reads format 1", refusal);
    }

    [Fact]
    public void FileOthersMayWrite_Refused()
    {
        SessionStateFile.Write(_dir, Br1, HandOver(), Written);
        File.SetUnixFileMode(SessionStateFile.PathIn(_dir), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite);

        Assert.Null(Take(Br1, 2, Written, out var refusal));

        Assert.Contains("the session state file", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedFile_RefusedAsNotDecoding()
    {
        SessionStateFile.Write(_dir, Br1, HandOver(), Written);
        var path = SessionStateFile.PathIn(_dir);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);

        Assert.Null(Take(Br1, 2, Written, out var refusal));

        Assert.StartsWith("it does not decode", refusal, StringComparison.Ordinal);
    }
}
