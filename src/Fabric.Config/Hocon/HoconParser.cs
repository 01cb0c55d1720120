using Fabric.Model.Validation;

namespace Fabric.Config.Hocon;

/// <summary>
/// A strict parser for the HOCON the fabric document uses: objects, arrays, quoted and unquoted
/// strings, numbers, booleans, null, dotted key paths, comments. It reports every mistake with its
/// line and goes on parsing where it safely can, so one run shows them all.
/// </summary>
/// <remarks>
/// Contract: it ends on every input, in time linear in the input, and never throws for any text
/// (nesting is capped so that recursion cannot exhaust the stack: objects, lists and the segments of
/// a key path all count as levels). Compared with Akka's lenient
/// parser it refuses, with an error, what that one drops or guesses: a stray closing brace,
/// unterminated objects, arrays and strings, bad tokens, a key defined twice, includes,
/// substitutions and <c>+=</c>. A key path (<c>a.b = 1</c>) may extend an object defined before;
/// defining the same key itself twice is an error.
/// </remarks>
public static class HoconParser
{
    /// <summary>Deeper nesting than this is refused rather than recursed into.</summary>
    public const int MaxDepth = 64;

    /// <summary>How many segments of a refused key path an error shows.</summary>
    private const int ShownSegments = 8;

    /// <summary>Documents larger than this are refused before parsing.</summary>
    public const int MaxLength = 8 * 1024 * 1024;

    public static HoconParseResult Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var errors = new List<ConfigError>();
        if (text.Length > MaxLength)
        {
            errors.Add(new ConfigError("", $"the document is larger than {MaxLength / (1024 * 1024)} MiB"));
            return new HoconParseResult(new HoconObject(new SourcePosition(1, 1), []), errors);
        }

        var tokens = new HoconLexer(text, errors).Tokenize();
        tokens = Balance(tokens, errors);
        var root = new Parser(tokens, errors).Document();
        errors.Sort((a, b) => (a.Line ?? 0, a.Column ?? 0).CompareTo((b.Line ?? 0, b.Column ?? 0)));
        return new HoconParseResult(root, errors);
    }

    /// <summary>
    /// Checks that braces and brackets pair up. A closer with nothing open, or one that does not match
    /// what is open, is reported and removed; what is still open at the end is reported and closed, so
    /// the parser after it always sees a balanced stream.
    /// </summary>
    private static List<Token> Balance(List<Token> tokens, List<ConfigError> errors)
    {
        var open = new Stack<Token>();
        var balanced = new List<Token>(tokens.Count + 4);
        foreach (var token in tokens)
        {
            switch (token.Kind)
            {
                case TokenKind.OpenBrace or TokenKind.OpenBracket:
                    open.Push(token);
                    break;
                case TokenKind.CloseBrace or TokenKind.CloseBracket:
                    var opener = token.Kind == TokenKind.CloseBrace ? TokenKind.OpenBrace : TokenKind.OpenBracket;
                    if (open.Count == 0)
                    {
                        errors.Add(Error(token, $"unbalanced '{token.Text}': nothing is open here"));
                        continue;
                    }

                    if (open.Peek().Kind != opener)
                    {
                        var top = open.Peek();
                        errors.Add(Error(token, $"'{token.Text}' does not close the '{top.Text}' opened at line {top.Position.Line}"));
                        continue;
                    }

                    open.Pop();
                    break;
                case TokenKind.End:
                    while (open.Count > 0)
                    {
                        var unclosed = open.Pop();
                        var what = unclosed.Kind == TokenKind.OpenBrace ? "object" : "list";
                        var closer = unclosed.Kind == TokenKind.OpenBrace ? "}" : "]";
                        errors.Add(Error(unclosed, $"unterminated {what}: the '{unclosed.Text}' opened here is never closed with '{closer}'"));
                        balanced.Add(new Token(
                            unclosed.Kind == TokenKind.OpenBrace ? TokenKind.CloseBrace : TokenKind.CloseBracket,
                            closer, token.Position, token.Start, token.Start));
                    }

                    break;
            }

            balanced.Add(token);
        }

        return balanced;
    }

    private static ConfigError Error(Token token, string message) =>
        new("", message, token.Position.Line, token.Position.Column);

    private sealed class Parser(List<Token> tokens, List<ConfigError> errors)
    {
        private int _index;

        private Token Current => tokens[_index];

        private void Advance()
        {
            if (Current.Kind != TokenKind.End)
            {
                _index++;
            }
        }

        private void SkipNewlines()
        {
            while (Current.Kind == TokenKind.Newline)
            {
                Advance();
            }
        }

        public HoconObject Document()
        {
            SkipNewlines();
            var start = Current.Position.IsKnown ? Current.Position : new SourcePosition(1, 1);
            HoconObject root;
            if (Current.Kind == TokenKind.OpenBrace)
            {
                root = Object(depth: 1, path: "");
            }
            else
            {
                var builder = new ObjectBuilder(start, "", errors);
                Fields(builder, depth: 1, closer: TokenKind.End);
                root = builder.Build();
            }

            SkipNewlines();
            while (Current.Kind != TokenKind.End)
            {
                errors.Add(Error(Current, $"unexpected {Describe(Current)} after the end of the document"));
                SkipValue();
                SkipNewlines();
            }

            return root;
        }

        private HoconObject Object(int depth, string path)
        {
            var open = Current;
            Advance();
            var builder = new ObjectBuilder(open.Position, path, errors);
            if (depth > MaxDepth)
            {
                errors.Add(Error(open, $"nesting deeper than {MaxDepth} levels"));
                SkipToCloser(TokenKind.CloseBrace);
                Advance();
                return builder.Build();
            }

            Fields(builder, depth, TokenKind.CloseBrace);
            Advance();
            return builder.Build();
        }

        /// <summary>Reads fields until <paramref name="closer"/> (not consumed).</summary>
        private void Fields(ObjectBuilder builder, int depth, TokenKind closer)
        {
            while (true)
            {
                while (Current.Kind is TokenKind.Newline or TokenKind.Comma)
                {
                    Advance();
                }

                if (Current.Kind == closer || Current.Kind == TokenKind.End)
                {
                    return;
                }

                var before = _index;
                if (!Field(builder, depth))
                {
                    SkipToFieldEnd(closer);
                    continue;
                }

                if (Current.Kind is not (TokenKind.Newline or TokenKind.Comma) && Current.Kind != closer && Current.Kind != TokenKind.End)
                {
                    errors.Add(Error(Current, $"unexpected {Describe(Current)}: expected a new line or ',' after a value"));
                    SkipToFieldEnd(closer);
                }

                EnsureProgress(before);
            }
        }

        private bool Field(ObjectBuilder builder, int depth)
        {
            var keyStart = Current;
            if (Current.Kind == TokenKind.Unquoted && Current.Text == "include")
            {
                errors.Add(Error(Current, "include is not supported in the fabric document: keep the authority in one file"));
                return false;
            }

            if (!KeyPath(out var path))
            {
                return false;
            }

            // A key path nests as braces do: "a.b.c = {" opens the value's object three levels down.
            var keyDepth = depth + path.Count - 1;
            if (keyDepth > MaxDepth)
            {
                errors.Add(new ConfigError(
                    builder.PathOf(path.GetRange(0, Math.Min(path.Count, ShownSegments))) + $".… ({path.Count} segments)",
                    $"a key path nests deeper than {MaxDepth} levels",
                    keyStart.Position.Line,
                    keyStart.Position.Column));
                return false;
            }

            HoconNode value;
            var valuePath = builder.PathOf(path);
            if (Current.Kind == TokenKind.Separator)
            {
                Advance();
                SkipNewlinesBeforeValue();
                if (!Value(keyDepth, valuePath, out value!))
                {
                    return false;
                }
            }
            else if (Current.Kind == TokenKind.OpenBrace)
            {
                value = Object(keyDepth + 1, valuePath);
            }
            else
            {
                errors.Add(Current.Kind is TokenKind.Newline or TokenKind.End or TokenKind.Comma or TokenKind.CloseBrace
                    ? Error(keyStart, $"key \"{string.Join('.', path)}\" has no value: expected '=' or '{{' after it")
                    : Error(Current, $"unexpected {Describe(Current)} after key \"{string.Join('.', path)}\": expected '=', ':' or '{{'"));
                return false;
            }

            builder.Add(path, value, keyStart.Position);
            return true;
        }

        /// <summary>HOCON lets a value start on the line after "=" only for objects and lists; newlines before them are skipped.</summary>
        private void SkipNewlinesBeforeValue()
        {
            var save = _index;
            SkipNewlines();
            if (Current.Kind is not (TokenKind.OpenBrace or TokenKind.OpenBracket))
            {
                _index = save;
            }
        }

        /// <summary>A key: adjacent quoted and unquoted pieces, unquoted dots separating path segments.</summary>
        private bool KeyPath(out List<string> path)
        {
            path = [];
            var segment = new System.Text.StringBuilder();
            var first = Current;
            var previousEnd = -1;
            var any = false;
            while (Current.Kind is TokenKind.Unquoted or TokenKind.QuotedString && (previousEnd < 0 || Current.Start == previousEnd))
            {
                if (Current.Kind == TokenKind.QuotedString)
                {
                    segment.Append(Current.Text);
                }
                else
                {
                    foreach (var c in Current.Text)
                    {
                        if (c == '.')
                        {
                            path.Add(segment.ToString());
                            segment.Clear();
                        }
                        else
                        {
                            segment.Append(c);
                        }
                    }
                }

                any = true;
                previousEnd = Current.End;
                Advance();
            }

            if (!any)
            {
                errors.Add(Error(first, $"unexpected {Describe(first)}: expected a key"));
                if (first.Kind is TokenKind.OpenBrace or TokenKind.OpenBracket)
                {
                    SkipValue();
                }

                return false;
            }

            path.Add(segment.ToString());
            if (path.Any(p => p.Length == 0))
            {
                errors.Add(Error(first, $"key \"{string.Join('.', path)}\" has an empty path segment (quote a key that contains dots)"));
                return false;
            }

            if (Current.Kind is TokenKind.Unquoted or TokenKind.QuotedString)
            {
                errors.Add(Error(Current, $"unexpected {Describe(Current)} after key \"{string.Join('.', path)}\": expected '=', ':' or '{{' (quote a key that contains spaces)"));
                return false;
            }

            return true;
        }

        private bool Value(int depth, string path, out HoconNode? value)
        {
            value = null;
            switch (Current.Kind)
            {
                case TokenKind.OpenBrace:
                    value = Object(depth + 1, path);
                    return true;
                case TokenKind.OpenBracket:
                    value = Array(depth + 1, path);
                    return true;
                case TokenKind.QuotedString or TokenKind.Unquoted:
                    value = Scalar();
                    if (Current.Kind is TokenKind.OpenBrace or TokenKind.OpenBracket)
                    {
                        errors.Add(Error(Current, "a value that joins text with an object or list is not supported"));
                        return false;
                    }

                    return true;
                case TokenKind.Unsupported:
                    errors.Add(Error(Current, Current.Text.StartsWith("${", StringComparison.Ordinal)
                        ? $"substitution {Current.Text} is not supported in the fabric document (environment overrides go through the hosting configuration)"
                        : $"'{Current.Text}' is not supported in the fabric document"));
                    return false;
                default:
                    errors.Add(Error(Current, $"unexpected {Describe(Current)}: expected a value"));
                    return false;
            }
        }

        /// <summary>Adjacent strings on one line join into one (HOCON value concatenation), keeping the white space between them.</summary>
        private HoconScalar Scalar()
        {
            var first = Current;
            var text = new System.Text.StringBuilder();
            var quoted = false;
            var previous = first;
            var count = 0;
            while (Current.Kind is TokenKind.QuotedString or TokenKind.Unquoted)
            {
                if (count > 0)
                {
                    text.Append(' ', Current.Start - previous.End);
                }

                quoted |= Current.Kind == TokenKind.QuotedString;
                text.Append(Current.Text);
                previous = Current;
                count++;
                Advance();
            }

            if (!quoted && count == 1 && first.Text == "null")
            {
                return new HoconScalar(first.Position, "null", ScalarKind.Null);
            }

            return new HoconScalar(first.Position, text.ToString(), quoted ? ScalarKind.Quoted : ScalarKind.Unquoted);
        }

        private HoconArray Array(int depth, string path)
        {
            var open = Current;
            Advance();
            var items = new List<HoconNode>();
            if (depth > MaxDepth)
            {
                errors.Add(Error(open, $"nesting deeper than {MaxDepth} levels"));
                SkipToCloser(TokenKind.CloseBracket);
                Advance();
                return new HoconArray(open.Position, items);
            }

            while (true)
            {
                while (Current.Kind is TokenKind.Newline or TokenKind.Comma)
                {
                    Advance();
                }

                if (Current.Kind is TokenKind.CloseBracket or TokenKind.End)
                {
                    Advance();
                    return new HoconArray(open.Position, items);
                }

                var before = _index;
                if (Value(depth, ConfigPath.Index(path, items.Count), out var item))
                {
                    items.Add(item!);
                    if (Current.Kind is not (TokenKind.Newline or TokenKind.Comma or TokenKind.CloseBracket))
                    {
                        errors.Add(Error(Current, $"unexpected {Describe(Current)} in a list: expected ',' or ']'"));
                        SkipToFieldEnd(TokenKind.CloseBracket);
                    }
                }
                else
                {
                    SkipToFieldEnd(TokenKind.CloseBracket);
                }

                EnsureProgress(before);
            }
        }

        /// <summary>Every loop iteration consumes at least one token, whatever recovery did: this is what makes parsing end.</summary>
        private void EnsureProgress(int before)
        {
            if (_index == before)
            {
                Advance();
            }
        }

        /// <summary>Skips to the next new line or comma at this level, or to <paramref name="closer"/> (not consumed).</summary>
        private void SkipToFieldEnd(TokenKind closer)
        {
            while (Current.Kind is not (TokenKind.Newline or TokenKind.Comma or TokenKind.End) && Current.Kind != closer)
            {
                if (Current.Kind is TokenKind.CloseBrace or TokenKind.CloseBracket)
                {
                    return;
                }

                SkipValue();
            }
        }

        /// <summary>Skips one token, or a whole balanced object or list.</summary>
        private void SkipValue()
        {
            if (Current.Kind is TokenKind.OpenBrace or TokenKind.OpenBracket)
            {
                var closer = Current.Kind == TokenKind.OpenBrace ? TokenKind.CloseBrace : TokenKind.CloseBracket;
                Advance();
                SkipToCloser(closer);
            }

            Advance();
        }

        /// <summary>Moves to the closer that balances an opener already consumed (the stream is balanced).</summary>
        private void SkipToCloser(TokenKind closer)
        {
            var level = 0;
            while (Current.Kind != TokenKind.End)
            {
                if (Current.Kind is TokenKind.OpenBrace or TokenKind.OpenBracket)
                {
                    level++;
                }
                else if (Current.Kind is TokenKind.CloseBrace or TokenKind.CloseBracket)
                {
                    if (level == 0 && Current.Kind == closer)
                    {
                        return;
                    }

                    level--;
                }

                Advance();
            }
        }

        private static string Describe(Token token) => token.Kind switch
        {
            TokenKind.OpenBrace => "'{'",
            TokenKind.CloseBrace => "'}'",
            TokenKind.OpenBracket => "'['",
            TokenKind.CloseBracket => "']'",
            TokenKind.Separator => $"'{token.Text}'",
            TokenKind.Comma => "','",
            TokenKind.Newline => "end of line",
            TokenKind.End => "end of file",
            TokenKind.QuotedString => $"string \"{token.Text}\"",
            _ => $"'{token.Text}'",
        };
    }

    /// <summary>Collects one object's fields, refusing a key defined twice and merging key paths into objects.</summary>
    private sealed class ObjectBuilder(SourcePosition position, string path, List<ConfigError> errors)
    {
        private readonly List<string> _order = [];
        private readonly Dictionary<string, (object Value, SourcePosition Position)> _fields = new(StringComparer.Ordinal);

        /// <summary>The path of a value stored under the key path <paramref name="keys"/> of this object.</summary>
        public string PathOf(List<string> keys) => keys.Aggregate(path, ConfigPath.Child);

        public void Add(List<string> keys, HoconNode value, SourcePosition keyPosition) => Add(keys, 0, value, keyPosition);

        private void Add(List<string> keys, int index, HoconNode value, SourcePosition keyPosition)
        {
            var key = keys[index];
            var last = index == keys.Count - 1;
            if (_fields.TryGetValue(key, out var existing))
            {
                if (last)
                {
                    errors.Add(new ConfigError(ConfigPath.Child(path, key), $"defined twice (first at line {existing.Position.Line}); a name may be defined once", keyPosition.Line));
                    return;
                }

                var child = existing.Value switch
                {
                    ObjectBuilder b => b,
                    HoconObject o => FromObject(o, key),
                    _ => null,
                };
                if (child is null)
                {
                    errors.Add(new ConfigError(ConfigPath.Child(path, key), $"is a value (line {existing.Position.Line}), not an object to add \"{keys[index + 1]}\" to", keyPosition.Line));
                    return;
                }

                _fields[key] = (child, existing.Position);
                child.Add(keys, index + 1, value, keyPosition);
                return;
            }

            _order.Add(key);
            if (last)
            {
                _fields[key] = (value, keyPosition);
                return;
            }

            var created = new ObjectBuilder(keyPosition, ConfigPath.Child(path, key), errors);
            created.Add(keys, index + 1, value, keyPosition);
            _fields[key] = (created, keyPosition);
        }

        private ObjectBuilder FromObject(HoconObject o, string key)
        {
            var builder = new ObjectBuilder(o.Position, ConfigPath.Child(path, key), errors);
            foreach (var field in o.Fields)
            {
                builder._order.Add(field.Key);
                builder._fields[field.Key] = (field.Value, field.Position);
            }

            return builder;
        }

        public HoconObject Build() => new(position, _order.Select(key =>
        {
            var (value, keyPosition) = _fields[key];
            var node = value is ObjectBuilder b ? b.Build() : (HoconNode)value;
            return new HoconField(key, node, keyPosition);
        }).ToList());
    }
}

/// <summary>The parsed root object, and every syntax error in source order (empty when the text is well formed).</summary>
public sealed record HoconParseResult(HoconObject Root, IReadOnlyList<ConfigError> Errors);
