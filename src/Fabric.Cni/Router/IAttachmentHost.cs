using Fabric.Model;

namespace Fabric.Cni.Router;

/// <summary>What a router node gives its <see cref="AttachmentDesk"/>: its committed document, its ports, its compiler.</summary>
public interface IAttachmentHost
{
    /// <summary>The router (of the document) this node is part of.</summary>
    string RouterName { get; }

    /// <summary>The document the node runs now (without attachments).</summary>
    FabricConfig Committed { get; }

    /// <summary>Opens the device <paramref name="device"/> as one of the node's ports; throws with the reason when it cannot.</summary>
    void Plug(string device);

    /// <summary>Closes the port of <paramref name="device"/> (no effect when none is open), once no worker uses it.</summary>
    void Unplug(string device);

    /// <summary>Compiles the committed document with <paramref name="workloads"/> merged and swaps it in.</summary>
    void Recompile(IReadOnlyList<AttachedWorkload> workloads);
}
