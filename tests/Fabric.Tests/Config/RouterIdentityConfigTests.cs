using Fabric.Config;
using Fabric.Tests.Support;

namespace Fabric.Tests.Config;

/// <summary>Pinned router identities (X25519 public keys) in the configuration: read, written back, validated with their path.</summary>
public sealed class RouterIdentityConfigTests
{
    private static readonly string Key = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private static string LabWith(string identity) => Repository.Read("hocon/lab.conf")
        .Replace("dc1a { management-address = \"10.99.0.11\" }", $"dc1a {{ management-address = \"10.99.0.11\", identity = \"{identity}\" }}");

    [Fact]
    public void Identity_Base64Of32Bytes_LoadsAsThePinnedKey()
    {
        var result = FabricConfigLoader.Load(LabWith(Key));

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        var node = result.Config!.FindRouter("dc1")!.Nodes[0];
        Assert.Equal(Enumerable.Range(1, 32).Select(i => (byte)i), node.IdentityKey()!);
        Assert.Null(result.Config.FindRouter("br1")!.Nodes[0].Identity);
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("AQIDBA==")]
    public void Identity_NotA32ByteKey_ErrorWithItsPath(string identity)
    {
        var result = FabricConfigLoader.Load(LabWith(identity));

        var error = Assert.Single(result.Errors);
        Assert.Equal("fabric.routers.dc1.nodes.dc1a.identity", error.Path);
        Assert.Contains("base64 of exactly 32 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Identity_SurvivesTheCanonicalForm()
    {
        var config = FabricConfigLoader.Load(LabWith(Key)).Config!;
        var again = FabricConfigLoader.Load(Fabric.Config.Canonical.HoconWriter.ToHocon(Fabric.Config.Canonical.CanonicalTree.Of(config)));

        Assert.True(again.IsValid, string.Join("\n", again.Errors));
        Assert.Equal(Key, again.Config!.FindRouter("dc1")!.Nodes[0].Identity);
    }
}
