namespace Fabric.Tests.Dataplane.Svr;

/// <summary>Metadata blocks written byte by byte from the SVR format, as lower-case hex. They double as fuzz seeds.</summary>
public static class SvrFixtures
{
    /// <summary>
    /// A first-packet block: header TLV security id 7; payload TLVs forward context IPv4
    /// 10.0.0.1:50000 → 192.168.1.100:443 TCP, session id 6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1, tenant
    /// "dev.engineering", service "web". Header length 20 (12 + 8), payload length 63 (17 + 20 + 19 + 7), 83 octets.
    /// </summary>
    public const string FirstPacket =
        "4c48dbc6ddf6670c" // cookie
        + "1014" + "003f" // version 1, header length 0x014 = 20; payload length 0x3f = 63
        + "0010" + "0004" + "00000007" // security id (16) = 7
        + "0002" + "000d" + "0a000001" + "c0a80164" + "c350" + "01bb" + "06" // forward context v4 (2)
        + "0006" + "0010" + "6f1e2d3c4b5a49788695a4b3c2d1e0f1" // session id (6)
        + "0007" + "000f" + "6465762e656e67696e656572696e67" // tenant (7) "dev.engineering"
        + "000a" + "0003" + "776562"; // service (10) "web"

    /// <summary>A bare block: header length 12, payload length 0.</summary>
    public const string Bare = "4c48dbc6ddf6670c" + "100c" + "0000";

    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);
}
