using Fabric.Cli;
using Fabric.Tests.Config;
using Fabric.Tests.Support;

namespace Fabric.Tests.Cli;

/// <summary>The config verbs as a user runs them: exit codes, what goes to stdout and what to stderr.</summary>
public sealed class ConfigCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = FabricCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void Validate_LabConf_ExitsZero()
    {
        var (exit, output, error) = Run("config", "validate", Repository.PathOf("hocon/lab.conf"));
        Assert.Equal(0, exit);
        Assert.Equal("lab.conf: valid (3 tenants, 3 services, 3 routers)\n", output);
        Assert.Empty(error);
    }

    [Fact]
    public void Validate_UnauthenticatedMetadataAllowed_ExitsZero_WarnsWithThePath()
    {
        var file = Write("open.conf", LabDocuments.AllowingUnauthenticatedMetadata);
        var (exit, output, error) = Run("config", "validate", file);
        Assert.Equal(0, exit);
        Assert.Equal("open.conf: valid (3 tenants, 3 services, 3 routers)\n", output);
        Assert.StartsWith("open.conf: warning: fabric.neighborhoods.wan.allow-unauthenticated-metadata: routers take unauthenticated metadata", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Validate_Invalid_ExitsTwo_ErrorsOnStderrWithFileName()
    {
        var file = Write("bad.conf", Documents.With("policy = standard", "policy = gold"));
        var (exit, output, error) = Run("config", "validate", file);
        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Equal(
            "bad.conf: fabric.services.web.policy: unknown service policy \"gold\" (line 12)\nbad.conf: 1 error\n",
            error);
    }

    [Fact]
    public void Validate_MissingFile_ExitsTwo_SaysWhichFile()
    {
        var (exit, _, error) = Run("config", "validate", Path.Combine(_dir, "nope.conf"));
        Assert.Equal(2, exit);
        Assert.StartsWith("nope.conf: cannot read ", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Show_Json_IsCanonicalAndParsesBack()
    {
        var (exit, output, _) = Run("config", "show", "--json", Repository.PathOf("hocon/lab.conf"));
        Assert.Equal(0, exit);
        Assert.StartsWith("{\n  \"fabric\": {\n    \"name\": \"lab\",", output, StringComparison.Ordinal);
        Assert.Equal(Documents.LoadValid(Repository.Read("hocon/lab.conf")), Documents.LoadValid(output));
    }

    [Fact]
    public void Show_Hocon_FillsDefaults()
    {
        var (exit, output, _) = Run("config", "show", Repository.PathOf("hocon/lab.conf"));
        Assert.Equal(0, exit);
        Assert.Contains("      idle-timeout {\n        tcp = 1900s\n        udp = 1m\n        icmp = 30s\n        half-open = 20s\n      }\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Diff_Equal_ExitsZero_PrintsNothing()
    {
        var lab = Repository.PathOf("hocon/lab.conf");
        var (exit, output, _) = Run("config", "diff", lab, lab);
        Assert.Equal(0, exit);
        Assert.Empty(output);
    }

    [Fact]
    public void Diff_Different_ExitsOne_PrintsChanges()
    {
        var old = Write("old.conf", Documents.Valid);
        var now = Write("new.conf", Documents.With("load-balancing = hunt", "load-balancing = proportional"));
        var (exit, output, _) = Run("config", "diff", old, now);
        Assert.Equal(1, exit);
        Assert.Equal("~ fabric.service-policies.standard.load-balancing: hunt -> proportional\n", output);
    }

    [Fact]
    public void Diff_InvalidSide_ExitsTwo()
    {
        var old = Write("old.conf", Documents.Valid);
        var now = Write("new.conf", "fabric {");
        var (exit, _, error) = Run("config", "diff", old, now);
        Assert.Equal(2, exit);
        Assert.Contains("new.conf: line 1, column 8: unterminated object", error, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownVerb_ExitsTwo_PointsAtHelp()
    {
        var (exit, _, error) = Run("config", "frobnicate");
        Assert.Equal(2, exit);
        Assert.Contains("Try 'fabric --help'.", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("config", "--help")]
    [InlineData("config", "validate", "--help")]
    [InlineData("config", "show", "--help")]
    [InlineData("config", "diff", "--help")]
    public void Help_EveryVerb_DescribesItself(params string[] args)
    {
        var (exit, output, _) = Run(args);
        Assert.Equal(0, exit);
        Assert.Contains("Description:", output, StringComparison.Ordinal);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
    }
}
