using Fabric.Router;
using Fabric.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace Fabric.Tests.Deploy;

/// <summary>docker-compose.yml starts every router with the router's runtime settings, as the lab, the systemd unit and the Kubernetes manifest do.</summary>
public sealed class ComposeFileTests
{
    [Fact]
    public void Routers_MergeTheRouterRuntimeSettings_IntoTheirEnvironment()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(Repository.Read("docker-compose.yml")));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var runtime = (YamlMappingNode)root["x-router-runtime"];
        var router = root["x-router"];
        var merge = new YamlScalarNode("<<");

        Assert.Equal(FabricExecutable.RouterRuntime, runtime.Select(e => $"{e.Key}={e.Value}"));
        var routers = ((YamlMappingNode)root["services"]).Children
            .Where(s => ((YamlMappingNode)s.Value).Children.TryGetValue(merge, out var from) && ReferenceEquals(from, router))
            .ToList();
        Assert.Equal(["dc1a", "br1a", "br2a"], routers.Select(s => s.Key.ToString()));
        Assert.All(routers, s => Assert.Same(runtime, ((YamlMappingNode)((YamlMappingNode)s.Value)["environment"])[merge]));
    }
}
