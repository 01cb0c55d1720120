using Fabric.Config;
using Fabric.Config.Canonical;
using Fabric.Model.Validation;
using Fabric.Tests.Support;
using FsCheck.Xunit;

namespace Fabric.Tests.Config;

public class CanonicalFormTests
{
    [Property(MaxTest = 300)]
    public void Json_OfRandomValidModel_ReadsBackEqual(int seed)
    {
        var model = RandomFabric.Create(seed);
        Assert.Empty(FabricValidator.Validate(model));
        var json = HoconWriter.ToJson(CanonicalTree.Of(model));
        var back = FabricConfigLoader.Load(json);
        Assert.True(back.IsValid, string.Join("\n", back.Errors) + "\n" + json);
        Assert.Equal(model, back.Config);
    }

    [Property(MaxTest = 300)]
    public void Hocon_OfRandomValidModel_ReadsBackEqual(int seed)
    {
        var model = RandomFabric.Create(seed);
        var hocon = HoconWriter.ToHocon(CanonicalTree.Of(model));
        var back = FabricConfigLoader.Load(hocon);
        Assert.True(back.IsValid, string.Join("\n", back.Errors) + "\n" + hocon);
        Assert.Equal(model, back.Config);
    }

    [Property(MaxTest = 100)]
    public void Models_FromDifferentSeeds_CompareByContent(int seed)
    {
        // Equality is what the round trips rely on: it must see every difference.
        var a = RandomFabric.Create(seed);
        var b = RandomFabric.Create(seed + 1);
        Assert.Equal(a, RandomFabric.Create(seed));
        Assert.Equal(HoconWriter.ToJson(CanonicalTree.Of(a)) == HoconWriter.ToJson(CanonicalTree.Of(b)), a == b);
    }

    [Fact]
    public void LabConf_ShownAsJson_ReadsBackEqual()
    {
        var lab = Documents.LoadValid(Repository.Read("hocon/lab.conf"));
        var back = Documents.LoadValid(HoconWriter.ToJson(CanonicalTree.Of(lab)));
        Assert.Equal(lab, back);
    }

    [Fact]
    public void Json_IsStable_SortedByName()
    {
        var json = HoconWriter.ToJson(CanonicalTree.Of(Documents.LoadValid(Repository.Read("hocon/lab.conf"))));
        Assert.True(json.IndexOf("\"bulk\"", StringComparison.Ordinal) < json.IndexOf("\"db\"", StringComparison.Ordinal));
        Assert.True(json.IndexOf("\"db\"", StringComparison.Ordinal) < json.IndexOf("\"web\"", StringComparison.Ordinal));
        Assert.Contains("\"tcp\": \"1900s\"", json, StringComparison.Ordinal);
    }
}
