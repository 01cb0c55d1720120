namespace Fabric.Dataplane.Wire;

/// <summary>EtherType values from the IEEE registry (specification constants).</summary>
public static class EtherType
{
    public const ushort Ipv4 = 0x0800;
    public const ushort Arp = 0x0806;

    /// <summary>The tag protocol identifier of an IEEE 802.1Q VLAN tag.</summary>
    public const ushort Vlan = 0x8100;

    public const ushort Ipv6 = 0x86DD;
}
