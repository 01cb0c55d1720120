namespace Fabric.Dataplane.Forwarding;

/// <summary>What a forwarding port is attached to.</summary>
public enum PortRole : byte
{
    /// <summary>A port the configuration does not mention: everything arriving on it is dropped.</summary>
    Unused,

    /// <summary>A router interface (WAN or transit); its addresses are the router's own.</summary>
    Interface,

    /// <summary>The router's device on a bridge shared by several containers.</summary>
    BridgedNetwork,

    /// <summary>One container's own link (host-based model).</summary>
    HostBasedContainer,
}
