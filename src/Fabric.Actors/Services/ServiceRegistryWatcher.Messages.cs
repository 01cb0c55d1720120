using Fabric.Actors.Serialization;

namespace Fabric.Actors.Services;

/// <summary>One instance as the registry shows it.</summary>
/// <param name="State"><see cref="Up"/>, <see cref="Down"/> or <see cref="Unreachable"/>.</param>
/// <param name="Sessions">Active sessions on it, as its node last published them.</param>
[WireMessage("fabric.services.instance-view.v1")]
public sealed record InstanceView(string Service, string Instance, string Router, string Node, string? Container, string Address, string State, long Sessions)
{
    public const string Up = "up";
    public const string Down = "down";
    public const string Unreachable = "unreachable";
}

/// <summary>Ask a node for the live instance registry as it sees it.</summary>
[WireMessage("fabric.services.get-registry.v1")]
public sealed record GetServiceRegistry;

/// <summary>The live instance registry: every registered instance of every service, where it lives and its load.</summary>
[WireMessage("fabric.services.registry.v1")]
public sealed record ServiceRegistryView(IReadOnlyList<InstanceView> Instances);
