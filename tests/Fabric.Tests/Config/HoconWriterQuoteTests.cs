using System.Text.Json;
using Fabric.Config.Canonical;
using Fabric.Config.Hocon;

namespace Fabric.Tests.Config;

/// <summary>
/// How the canonical text quotes a string. A node's fingerprint hashes that text (RouterProcess.Fingerprint) and two
/// nodes compare fingerprints, so the quoting must stay byte for byte what JSON's default escaping writes.
/// </summary>
public sealed class HoconWriterQuoteTests
{
    [Theory]
    [InlineData("true", "\"true\"")]
    [InlineData("a b", "\"a b\"")]
    [InlineData("dc1's <web> & a+b", "\"dc1\\u0027s \\u003Cweb\\u003E \\u0026 a\\u002Bb\"")]
    [InlineData("quote \" back \\ tab \t nl \n", "\"quote \\u0022 back \\\\ tab \\t nl \\n\"")]
    [InlineData("é ü 東京", "\"\\u00E9 \\u00FC \\u6771\\u4EAC\"")]
    [InlineData("\u0001\u007f", "\"\\u0001\\u007F\"")]
    public void QuotedScalar_IsJsonsDefaultEscaping(string text, string expected)
    {
        var written = HoconWriter.Inline(new HoconScalar(SourcePosition.None, text, ScalarKind.Quoted));

        Assert.Equal(expected, written);
        Assert.Equal(JsonSerializer.Serialize(text), written);
    }

    [Theory]
    [InlineData("\ud800 lone high")]
    [InlineData("lone low \udc00")]
    [InlineData("pair \ud83d\ude00")]
    public void QuotedScalar_WithSurrogates_IsWhatTheSerializerWrites(string text) =>
        Assert.Equal(JsonSerializer.Serialize(text), HoconWriter.Inline(new HoconScalar(SourcePosition.None, text, ScalarKind.Quoted)));
}
