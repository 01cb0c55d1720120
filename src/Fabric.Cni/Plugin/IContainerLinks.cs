using Fabric.Cni.Admin;

namespace Fabric.Cni.Plugin;

/// <summary>The container's link to the router: a veth, the router's end in the plugin's (the router's) namespace.</summary>
public interface IContainerLinks
{
    /// <summary>
    /// Makes the veth (the router's end named <see cref="Attachment.Name"/>, the container's <see cref="Attachment.InterfaceName"/>
    /// in <paramref name="netns"/>) with the address and a default route via the gateway; returns both ends' MAC addresses.
    /// Throws <see cref="Spec.CniException"/> and leaves nothing behind when it cannot.
    /// </summary>
    (string RouterMac, string ContainerMac) Create(Attachment attachment, string netns);

    /// <summary>Removes the veth: by the router's end when <paramref name="routerEnd"/> is known, else by the container's. Nothing there is no error.</summary>
    void Remove(string? routerEnd, string? netns, string interfaceName);

    /// <summary>Throws <see cref="Spec.CniException"/> unless the container's interface is there, up, with the attachment's address.</summary>
    void Check(Attachment attachment, string netns);
}
