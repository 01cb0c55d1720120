using Fabric.Router;

namespace Fabric.Tests.Router;

/// <summary>
/// Which program a lab starts its routers with (<see cref="FabricExecutable.LeanRouter(string)"/>): the build's lean publish
/// only when it is there and was made from this build, never an older publish that would run older code.
/// </summary>
public sealed class LeanRouterTests : IDisposable
{
    private readonly string _build = Directory.CreateTempSubdirectory("fabric-build-").FullName;
    private readonly DateTime _built = new(2026, 12, 7, 6, 0, 0, DateTimeKind.Utc);

    public LeanRouterTests()
    {
        Write(Path.Combine(_build, "fabric.dll"), _built);
        Write(Path.Combine(_build, "Fabric.Dataplane.dll"), _built);
    }

    public void Dispose() => Directory.Delete(_build, recursive: true);

    [Fact]
    public void PublishedAfterTheBuild_IsTheRouterProgram()
    {
        Publish(_built.AddSeconds(30));

        Assert.Equal(Path.Combine(_build, FabricExecutable.LeanRouterFolder, "fabric"), FabricExecutable.LeanRouter(_build));
    }

    [Fact]
    public void NoPublish_RoutersRunTheBuildItself()
    {
        Assert.Null(FabricExecutable.LeanRouter(_build));
    }

    [Fact]
    public void PublishedInTheSameSecondAsTheBuild_IsTheRouterProgram()
    {
        Publish(_built);

        Assert.NotNull(FabricExecutable.LeanRouter(_build));
    }

    [Theory]
    [InlineData("Fabric.Dataplane.dll")]
    [InlineData("fabric.dll")]
    public void AnAssemblyOfTheBuildNewerThanThePublish_RoutersRunTheBuildItself(string assembly)
    {
        Publish(_built.AddSeconds(30));
        File.SetLastWriteTimeUtc(Path.Combine(_build, assembly), _built.AddMinutes(5));

        Assert.Null(FabricExecutable.LeanRouter(_build));
    }

    [Theory]
    [InlineData("fabric")]
    [InlineData("fabric.dll")]
    public void PublishWithoutOneOfItsFiles_RoutersRunTheBuildItself(string file)
    {
        Publish(_built.AddSeconds(30));
        File.Delete(Path.Combine(_build, FabricExecutable.LeanRouterFolder, file));

        Assert.Null(FabricExecutable.LeanRouter(_build));
    }

    private void Publish(DateTime at)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_build, FabricExecutable.LeanRouterFolder)).FullName;
        Write(Path.Combine(folder, "fabric"), at);
        Write(Path.Combine(folder, "fabric.dll"), at);
    }

    private static void Write(string path, DateTime at)
    {
        File.WriteAllBytes(path, [0]);
        File.SetLastWriteTimeUtc(path, at);
    }
}
