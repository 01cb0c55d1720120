using Fabric.Actors.Configuration;
using Fabric.Model;

namespace Fabric.Router;

/// <summary>A router process as the control plane's target: each version the conductor pushes is swapped in and kept on disk.</summary>
public sealed class RouterProcessTarget(RouterProcess process) : IForwardingTarget
{
    public string RouterName => process.RouterName;

    public void Apply(FabricConfig config, long version) => process.Apply(config, version);
}
