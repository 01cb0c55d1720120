using Fabric.Dataplane.Wire;

namespace Fabric.Tests.Dataplane.Wire;

public class EthernetFrameTests
{
    [Fact]
    public void EthernetFrame_ArpRequestFixture_ReadsEveryField()
    {
        var bytes = Fixtures.Bytes(Fixtures.ArpRequest);

        Assert.True(EthernetFrame.TryCreate(bytes, out var frame, out var error));

        Assert.Equal(WireError.None, error);
        Assert.Equal(MacAddress.Broadcast, frame.Destination);
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:0a"), frame.Source);
        Assert.Equal(EtherType.Arp, frame.EtherType);
        Assert.False(frame.HasVlanTag);
        Assert.Equal(0, frame.VlanId);
        Assert.Equal(14, frame.HeaderLength);
        Assert.Equal(28, frame.Payload.Length);
    }

    [Theory]
    [InlineData(Fixtures.ArpRequest)]
    [InlineData(Fixtures.TcpSyn)]
    [InlineData(Fixtures.Icmpv6NeighborSolicitation)]
    public void EthernetHeader_Fixture_EmitReproducesHeaderBytes(string hex)
    {
        var bytes = Fixtures.Bytes(hex);

        Assert.True(EthernetHeader.TryParse(bytes, out var header));
        var emitted = new byte[header.EmitLength];
        var written = header.Emit(emitted);

        Assert.Equal(14, written);
        Assert.Equal(bytes[..14], emitted);
    }

    [Fact]
    public void EthernetHeader_WithVlanTag_RoundTripsThroughEmitAndView()
    {
        var header = new EthernetHeader(
            MacAddress.Parse("02:00:00:00:00:0b"),
            MacAddress.Parse("02:00:00:00:00:0a"),
            EtherType.Ipv6,
            HasVlanTag: true,
            VlanId: 0x0ABC,
            Priority: 5,
            DropEligible: true);
        var bytes = new byte[header.EmitLength + 4];

        Assert.Equal(18, header.Emit(bytes));

        Assert.Equal("02000000000b02000000000a8100babc86dd", Convert.ToHexStringLower(bytes.AsSpan(0, 18)));
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame));
        Assert.True(frame.HasVlanTag);
        Assert.Equal(0x0ABC, frame.VlanId);
        Assert.Equal(5, frame.Priority);
        Assert.True(frame.DropEligible);
        Assert.Equal(EtherType.Ipv6, frame.EtherType);
        Assert.Equal(18, frame.HeaderLength);
        Assert.Equal(4, frame.Payload.Length);
        Assert.True(EthernetHeader.TryParse(bytes, out var parsed));
        Assert.Equal(header, parsed);
    }

    [Fact]
    public void EthernetFrame_EveryTruncatedPrefix_IsRejected()
    {
        var untagged = Fixtures.Bytes(Fixtures.ArpRequest);
        var tagged = new byte[18];
        new EthernetHeader(MacAddress.Broadcast, MacAddress.Zero, EtherType.Ipv4, HasVlanTag: true, VlanId: 7).Emit(tagged);

        for (var length = 0; length < 14; length++)
        {
            Assert.False(EthernetFrame.TryCreate(untagged.AsSpan(0, length), out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }

        for (var length = 0; length < 18; length++)
        {
            Assert.False(EthernetFrame.TryCreate(tagged.AsSpan(0, length), out _, out var error));
            Assert.Equal(WireError.Truncated, error);
        }

        Assert.True(EthernetFrame.TryCreate(tagged, out _));
    }

    [Fact]
    public void EthernetFrame_SetAddresses_WritesWireOrder()
    {
        var bytes = Fixtures.Bytes(Fixtures.TcpSyn);
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame));

        frame.Destination = MacAddress.Parse("aa:bb:cc:dd:ee:ff");
        frame.Source = MacAddress.Parse("10:20:30:40:50:60");

        Assert.Equal("aabbccddeeff102030405060", Convert.ToHexStringLower(bytes.AsSpan(0, 12)));
        Assert.Equal(EtherType.Ipv4, frame.EtherType);
    }
}

public class MacAddressTests
{
    [Theory]
    [InlineData("02:00:00:00:00:0a", 0x02000000000aUL)]
    [InlineData("AA-BB-CC-DD-EE-FF", 0xaabbccddeeffUL)]
    public void MacAddress_Parse_ReadsOctetsInWireOrder(string text, ulong expected) =>
        Assert.Equal(expected, MacAddress.Parse(text).Value);

    [Theory]
    [InlineData("")]
    [InlineData("02:00:00:00:00")]
    [InlineData("02:00:00:00:00:0g")]
    [InlineData("02:00:00:00:00:0a:")]
    [InlineData("02.00:00:00:00:0a")]
    public void MacAddress_TryParseMalformed_ReturnsFalse(string text) =>
        Assert.False(MacAddress.TryParse(text, out _));

    [Fact]
    public void MacAddress_ToString_FormatsLowerCaseColonSeparated() =>
        Assert.Equal("aa:bb:0c:dd:ee:f0", new MacAddress(0xaabb0cddeef0UL).ToString());

    [Fact]
    public void MacAddress_GroupBit_MarksMulticast()
    {
        Assert.True(MacAddress.Parse("33:33:ff:00:00:02").IsMulticast);
        Assert.False(MacAddress.Parse("02:00:00:00:00:0a").IsMulticast);
        Assert.True(MacAddress.Broadcast.IsBroadcast);
    }

    [FsCheck.Xunit.Property]
    public bool MacAddress_FormatThenParse_RoundTrips(ulong value)
    {
        var address = new MacAddress(value);
        var bytes = new byte[6];
        address.Write(bytes);
        return MacAddress.Parse(address.ToString()) == address && MacAddress.Read(bytes) == address;
    }
}
