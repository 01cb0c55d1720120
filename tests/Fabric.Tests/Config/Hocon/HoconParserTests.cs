using System.Diagnostics;
using Fabric.Config.Hocon;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Fabric.Tests.Config.Hocon;

public class HoconParserTests
{
    private static HoconParseResult Parse(string text) => HoconParser.Parse(text);

    /// <summary>
    /// Parses on another thread and fails if the parse itself took longer than <paramref name="limit"/>
    /// (Akka's parser hangs forever on some of these inputs; ours must always end). The wait for the
    /// thread is far longer, so a busy machine delaying the thread's start cannot fail the test.
    /// </summary>
    private static HoconParseResult ParseEnding(string text, TimeSpan limit)
    {
        HoconParser.Parse("warm = up");
        var task = Task.Run(() =>
        {
            var watch = Stopwatch.StartNew();
            var result = HoconParser.Parse(text);
            return (result, watch.Elapsed);
        });
        Assert.True(task.Wait(TimeSpan.FromSeconds(60)), "parsing did not end within a minute");
        var (parsed, elapsed) = task.Result;
        Assert.True(elapsed < limit, $"parsing took {elapsed.TotalMilliseconds} ms, more than {limit.TotalMilliseconds} ms");
        return parsed;
    }

    private static string[] Lines(HoconParseResult result) => [.. result.Errors.Select(e => e.ToString())];

    [Fact]
    public void Parse_ObjectsListsAndScalars_KeepsValuesAndPositions()
    {
        var result = Parse("""
            # a comment
            a { b = 1, c: "two" }   // another
            list = [x, "y z", 3]
            """);
        Assert.Empty(result.Errors);
        Assert.True(result.Root.TryGet("a", out var a));
        var inner = Assert.IsType<HoconObject>(a.Value);
        Assert.True(inner.TryGet("c", out var c));
        Assert.Equal("two", Assert.IsType<HoconScalar>(c.Value).Text);
        Assert.Equal(new SourcePosition(2, 1), a.Position);
        Assert.True(result.Root.TryGet("list", out var list));
        Assert.Equal(["x", "y z", "3"], Assert.IsType<HoconArray>(list.Value).Items.Select(i => ((HoconScalar)i).Text));
    }

    [Fact]
    public void Parse_DottedKeyPaths_NestAndMergeIntoEarlierObjects()
    {
        var result = Parse("a { x = 1 }\na.y = 2\n\"q.r\" = 3");
        Assert.Empty(result.Errors);
        Assert.True(result.Root.TryGet("a", out var a));
        Assert.Equal(["x", "y"], ((HoconObject)a.Value).Fields.Select(f => f.Key));
        Assert.True(result.Root.TryGet("q.r", out _));
    }

    [Fact]
    public void Parse_UnquotedWords_JoinWithTheirSpaces()
    {
        var result = Parse("message = hello   big world\n");
        Assert.True(result.Root.TryGet("message", out var m));
        Assert.Equal("hello   big world", ((HoconScalar)m.Value).Text);
    }

    [Fact]
    public void Trap_StrayClosingBrace_ReportedWithLine_RestStillRead()
    {
        var result = ParseEnding("a = 1\n}\nb = 2\n", TimeSpan.FromSeconds(1));
        Assert.Equal(["line 2, column 1: unbalanced '}': nothing is open here"], Lines(result));
        Assert.True(result.Root.TryGet("b", out _), "text after the stray brace must not be dropped");
    }

    [Fact]
    public void Trap_BadToken_ReportedWithLine() =>
        Assert.Equal(
            ["line 2, column 8: unexpected character '@'"],
            Lines(ParseEnding("a = 1\nport = @80\n", TimeSpan.FromSeconds(1))));

    [Fact]
    public void Trap_UnterminatedObject_ReportedWhereItOpens() =>
        Assert.Equal(
            ["line 2, column 9: unterminated object: the '{' opened here is never closed with '}'"],
            Lines(ParseEnding("a = 1\nrouters {\n  dc1 { x = 1 }\n", TimeSpan.FromSeconds(1))));

    [Fact]
    public void Trap_UnterminatedString_ReportedWithLine() =>
        Assert.Equal(
            ["line 2, column 8: unterminated string (a string must close on the line it opens)"],
            Lines(ParseEnding("a = 1\nname = \"lab\nb = 2\n", TimeSpan.FromSeconds(1))));

    [Fact]
    public void Trap_UnterminatedArray_EndsAndIsReported() =>
        Assert.Equal(
            ["line 1, column 11: unterminated list: the '[' opened here is never closed with ']'"],
            Lines(ParseEnding("members = [\"10.0.0.0/8\",\n \"10.1.0.0/16\"\n", TimeSpan.FromSeconds(1))));

    [Fact]
    public void Trap_MismatchedCloser_Reported() =>
        Assert.Contains(
            "line 1, column 11: ']' does not close the '{' opened at line 1",
            Lines(ParseEnding("a { b = 1 ]\n", TimeSpan.FromSeconds(1))));

    [Fact]
    public void DuplicateKey_IsError_FirstDefinitionKept()
    {
        var result = Parse("a { x = 1 }\na { y = 2 }\n");
        Assert.Equal(["a: defined twice (first at line 1); a name may be defined once (line 2)"], Lines(result));
        Assert.True(result.Root.TryGet("a", out var a));
        Assert.Equal(["x"], ((HoconObject)a.Value).Fields.Select(f => f.Key));
    }

    [Theory]
    [InlineData("include \"other.conf\"\n", "line 1, column 1: include is not supported in the fabric document: keep the authority in one file")]
    [InlineData("a = ${HOME}\n", "line 1, column 5: substitution ${HOME} is not supported in the fabric document (environment overrides go through the hosting configuration)")]
    [InlineData("a += 1\n", "line 1, column 3: unexpected '+=' after key \"a\": expected '=', ':' or '{'")]
    [InlineData("a\n", "line 1, column 1: key \"a\" has no value: expected '=' or '{' after it")]
    [InlineData("a = \n", "line 1, column 5: unexpected end of line: expected a value")]
    [InlineData("a = 1 2 ]\n", "line 1, column 9: unbalanced ']': nothing is open here")]
    public void UnsupportedOrBrokenSyntax_OneClearError(string text, string expected) =>
        Assert.Equal([expected], Lines(ParseEnding(text, TimeSpan.FromSeconds(1))));

    [Fact]
    public void DeepNesting_RefusedWithoutStackOverflow()
    {
        var text = "a = " + new string('[', 100_000) + new string(']', 100_000);
        var result = ParseEnding(text, TimeSpan.FromSeconds(5));
        Assert.Contains(result.Errors, e => e.Message == $"nesting deeper than {HoconParser.MaxDepth} levels");
    }

    [Fact]
    public void DottedKey_100000Segments_RefusedWithPathAndLine()
    {
        var text = "name = lab\n" + string.Join('.', Enumerable.Repeat("a", 100_000)) + " = 1\nafter = 2\n";
        var result = ParseEnding(text, TimeSpan.FromSeconds(5));
        var error = Assert.Single(result.Errors);
        Assert.Equal(
            $"a.a.a.a.a.a.a.a.… (100000 segments): a key path nests deeper than {HoconParser.MaxDepth} levels (line 2)",
            error.ToString());
        Assert.True(result.Root.TryGet("after", out _), "the fields after the refused key must still be read");
    }

    /// <summary>
    /// Every way of nesting — objects, lists, key paths, and each inside the others — ends in the one depth
    /// error, with no stack overflow, whether the parser alone or the whole loader (reader and validator) reads it.
    /// </summary>
    [Theory]
    [InlineData("objects")]
    [InlineData("lists")]
    [InlineData("objects in lists")]
    [InlineData("key paths in objects")]
    [InlineData("key paths in lists")]
    [InlineData("key path to a deep object")]
    [InlineData("key path in an object opened by a key path")]
    public void DeepNesting_EveryKind_OneDepthErrorNoStackOverflow(string kind)
    {
        const int levels = 100_000;
        var text = kind switch
        {
            "objects" => "a = " + Repeat("{ a = ", levels) + "1" + Repeat(" }", levels),
            "lists" => "a = " + Repeat("[", levels) + Repeat("]", levels),
            "objects in lists" => "a = " + Repeat("[{ a = ", levels) + "1" + Repeat("}]", levels),
            "key paths in objects" => Repeat("b.c.d {", levels) + Repeat("}", levels),
            "key paths in lists" => "a = " + Repeat("[{ b.c.d = ", levels) + "1" + Repeat("}]", levels),
            "key path to a deep object" => "a.b.c.d.e.f.g.h = " + Repeat("{ a ", levels) + "{}" + Repeat(" }", levels),
            _ => Repeat("x.", 40) + "x { " + Repeat("y.", 40) + "z = 1 }\n",
        };
        var parsed = ParseEnding(text, TimeSpan.FromSeconds(10));
        Assert.Contains(parsed.Errors, e => e.Message.Contains($"deeper than {HoconParser.MaxDepth} levels", StringComparison.Ordinal));
        var loaded = Fabric.Config.FabricConfigLoader.Load(text);
        Assert.False(loaded.IsValid);
        Assert.Contains(loaded.Errors, e => e.Message.Contains($"deeper than {HoconParser.MaxDepth} levels", StringComparison.Ordinal) && e.Line is not null);

        static string Repeat(string piece, int count) => string.Concat(Enumerable.Repeat(piece, count));
    }

    private static readonly string[] Fragments =
        ["{", "}", "[", "]", "\"", "\"\"\"", "=", ":", ",", "\n", " ", "a", "b.c", "1", "#", "//", "$", "${x}", "+=", "include", "@", "\\", "null", "\"q\""];

    [FsCheck.Xunit.Property(MaxTest = 2000)]
    public FsCheck.Property AnyText_ParsesToAnEnd_NeverThrows() =>
        Prop.ForAll(
            Gen.ListOf(Gen.Elements(Fragments)).Select(parts => string.Concat(parts)).ToArbitrary(),
            text =>
            {
                var stopwatch = Stopwatch.StartNew();
                var result = HoconParser.Parse(text);
                return result.Root is not null && stopwatch.Elapsed < TimeSpan.FromSeconds(2);
            });

    [FsCheck.Xunit.Property(MaxTest = 500)]
    public bool RandomCharacters_NeverThrow(string? text) => HoconParser.Parse(text ?? "").Root is not null;
}
