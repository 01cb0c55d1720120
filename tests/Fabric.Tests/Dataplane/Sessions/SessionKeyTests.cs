using Fabric.Dataplane.Sessions;
using Fabric.Dataplane.Wire;
using FsCheck.Xunit;

namespace Fabric.Tests.Dataplane.Sessions;

public class SessionKeyTests
{
    [Fact]
    public void SessionKey_Reversed_SwapsEndsAndKeepsProtocol()
    {
        var key = SessionKey.V4(1, 2, 1000, 443, IpProtocol.Tcp);

        Assert.Equal(SessionKey.V4(2, 1, 443, 1000, IpProtocol.Tcp), key.Reversed());
    }

    [Property]
    public void SessionKey_ReversedTwice_IsTheKey(ulong source, ulong destination, ushort sourcePort, ushort destinationPort, byte protocol, bool ipv6)
    {
        var key = new SessionKey(new UInt128(source, ~source), destination, sourcePort, destinationPort, protocol, ipv6);

        Assert.Equal(key, key.Reversed().Reversed());
    }

    [Property]
    public void SessionKey_EqualKeys_HashEqual(ulong seed, ulong address, ushort port)
    {
        var a = SessionKey.V4((uint)address, 7, port, 80, IpProtocol.Udp);
        var b = SessionKey.V4((uint)address, 7, port, 80, IpProtocol.Udp);

        Assert.Equal(a.Hash(seed), b.Hash(seed));
    }

    [Fact]
    public void SessionKey_NeighbouringKeys_SpreadOverTheTagBits()
    {
        // The table takes the upper 32 bits as tag and home slot: sequential ports and addresses must not share them.
        var tags = new HashSet<uint>();
        for (var id = 0; id < 100_000; id++)
        {
            tags.Add((uint)(Keys.Tcp(id).Hash(12345) >> 32));
            tags.Add((uint)(Keys.Ipv6(id).Hash(12345) >> 32));
        }

        Assert.True(tags.Count > 199_990, $"{tags.Count} distinct tags of 200000");
    }

    [Fact]
    public void SessionKey_Layout_TakesFortyBytes()
    {
        Assert.Equal(40, System.Runtime.CompilerServices.Unsafe.SizeOf<SessionKey>());
    }
}
