using System.Globalization;
using System.Text;
using Fabric.Model.Validation;

namespace Fabric.Config.Hocon;

internal enum TokenKind
{
    OpenBrace,
    CloseBrace,
    OpenBracket,
    CloseBracket,
    Separator,
    Comma,
    Newline,
    QuotedString,
    Unquoted,
    Unsupported,
    End,
}

/// <param name="Start">Offset of the token's first character in the source.</param>
/// <param name="End">Offset just past its last character.</param>
internal readonly record struct Token(TokenKind Kind, string Text, SourcePosition Position, int Start, int End);

/// <summary>
/// Splits HOCON text into tokens in one forward pass. It never loops without consuming input, so
/// it ends on any input; every lexical mistake becomes a <see cref="ConfigError"/> and lexing goes on
/// (an unterminated string ends at its line's end, a character that may not appear is skipped).
/// </summary>
internal sealed class HoconLexer
{
    /// <summary>Characters HOCON forbids in unquoted text.</summary>
    private const string Forbidden = "$\"{}[]:=,+#`^?!@*&\\";

    private readonly string _text;
    private readonly List<ConfigError> _errors;
    private int _offset;
    private int _line = 1;
    private int _lineStart;

    public HoconLexer(string text, List<ConfigError> errors)
    {
        _text = text;
        _errors = errors;
    }

    public List<Token> Tokenize()
    {
        var tokens = new List<Token>();
        while (true)
        {
            var token = Next();
            if (token is { } t)
            {
                tokens.Add(t);
                if (t.Kind == TokenKind.End)
                {
                    return tokens;
                }
            }
        }
    }

    private SourcePosition Here => new(_line, _offset - _lineStart + 1);

    /// <summary>The next token, or null when the characters consumed make none (white space, a comment, a bad character).</summary>
    private Token? Next()
    {
        if (_offset >= _text.Length)
        {
            return new Token(TokenKind.End, "", Here, _offset, _offset);
        }

        var start = _offset;
        var position = Here;
        var c = _text[_offset];
        switch (c)
        {
            case '\n':
                _offset++;
                _line++;
                _lineStart = _offset;
                return new Token(TokenKind.Newline, "\n", position, start, _offset);
            case var space when IsSpace(space):
                _offset++;
                return null;
            case '#':
                SkipToLineEnd();
                return null;
            case '/' when Peek(1) == '/':
                SkipToLineEnd();
                return null;
            case '{':
                _offset++;
                return new Token(TokenKind.OpenBrace, "{", position, start, _offset);
            case '}':
                _offset++;
                return new Token(TokenKind.CloseBrace, "}", position, start, _offset);
            case '[':
                _offset++;
                return new Token(TokenKind.OpenBracket, "[", position, start, _offset);
            case ']':
                _offset++;
                return new Token(TokenKind.CloseBracket, "]", position, start, _offset);
            case ',':
                _offset++;
                return new Token(TokenKind.Comma, ",", position, start, _offset);
            case '=' or ':':
                _offset++;
                return new Token(TokenKind.Separator, c.ToString(), position, start, _offset);
            case '+' when Peek(1) == '=':
                _offset += 2;
                return new Token(TokenKind.Unsupported, "+=", position, start, _offset);
            case '$' when Peek(1) == '{':
                return Substitution(position, start);
            case '"':
                return Peek(1) == '"' && Peek(2) == '"' ? TripleQuoted(position, start) : Quoted(position, start);
            default:
                if (Forbidden.Contains(c, StringComparison.Ordinal) || char.IsControl(c))
                {
                    _offset++;
                    _errors.Add(new ConfigError("", $"unexpected character '{Printable(c)}'", position.Line, position.Column));
                    return null;
                }

                return UnquotedText(position, start);
        }
    }

    /// <summary>
    /// White space between tokens, as HOCON defines it: space, tab, carriage return, form feed, vertical tab, the byte
    /// order mark, and every Unicode space, line and paragraph separator (no-break spaces among them).
    /// </summary>
    private static bool IsSpace(char c) =>
        c is ' ' or '\t' or '\r' or '\uFEFF' or '\f' or '\v'
        || char.GetUnicodeCategory(c) is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    private char Peek(int ahead) => _offset + ahead < _text.Length ? _text[_offset + ahead] : '\0';

    private void SkipToLineEnd()
    {
        while (_offset < _text.Length && _text[_offset] != '\n')
        {
            _offset++;
        }
    }

    private Token UnquotedText(SourcePosition position, int start)
    {
        while (_offset < _text.Length)
        {
            var c = _text[_offset];
            // Stops only on what Next handles itself, so a word always takes at least its first character.
            if (c == '\n' || IsSpace(c) || Forbidden.Contains(c, StringComparison.Ordinal) || char.IsControl(c) || (c == '/' && Peek(1) == '/'))
            {
                break;
            }

            _offset++;
        }

        return new Token(TokenKind.Unquoted, _text[start.._offset], position, start, _offset);
    }

    private Token Substitution(SourcePosition position, int start)
    {
        _offset += 2;
        while (_offset < _text.Length && _text[_offset] is not ('}' or '\n'))
        {
            _offset++;
        }

        if (_offset < _text.Length && _text[_offset] == '}')
        {
            _offset++;
        }

        return new Token(TokenKind.Unsupported, _text[start.._offset], position, start, _offset);
    }

    private Token Quoted(SourcePosition position, int start)
    {
        _offset++;
        var value = new StringBuilder();
        while (true)
        {
            if (_offset >= _text.Length || _text[_offset] == '\n')
            {
                _errors.Add(new ConfigError("", "unterminated string (a string must close on the line it opens)", position.Line, position.Column));
                return new Token(TokenKind.QuotedString, value.ToString(), position, start, _offset);
            }

            var c = _text[_offset++];
            if (c == '"')
            {
                return new Token(TokenKind.QuotedString, value.ToString(), position, start, _offset);
            }

            if (c != '\\')
            {
                value.Append(c);
                continue;
            }

            var escapePosition = new SourcePosition(_line, _offset - _lineStart);
            var e = _offset < _text.Length ? _text[_offset] : '\0';
            switch (e)
            {
                case '"' or '\\' or '/':
                    value.Append(e);
                    _offset++;
                    break;
                case 'b': value.Append('\b'); _offset++; break;
                case 'f': value.Append('\f'); _offset++; break;
                case 'n': value.Append('\n'); _offset++; break;
                case 'r': value.Append('\r'); _offset++; break;
                case 't': value.Append('\t'); _offset++; break;
                case 'u' when _offset + 4 < _text.Length &&
                              int.TryParse(_text.AsSpan(_offset + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                    value.Append((char)code);
                    _offset += 5;
                    break;
                default:
                    _errors.Add(new ConfigError("", $"bad escape sequence '\\{Printable(e)}' in string", escapePosition.Line, escapePosition.Column));
                    break;
            }
        }
    }

    private Token TripleQuoted(SourcePosition position, int start)
    {
        _offset += 3;
        var close = _text.IndexOf("\"\"\"", _offset, StringComparison.Ordinal);
        if (close < 0)
        {
            _errors.Add(new ConfigError("", "unterminated multi-line string", position.Line, position.Column));
            close = _text.Length;
        }

        // Quotes beyond the closing three belong to the string, as HOCON says.
        var end = Math.Min(close + 3, _text.Length);
        while (end < _text.Length && _text[end] == '"')
        {
            end++;
        }

        var valueEnd = Math.Max(_offset, end - 3);
        var value = _text[_offset..Math.Min(valueEnd, _text.Length)];
        for (var i = _offset; i < end; i++)
        {
            if (_text[i] == '\n')
            {
                _line++;
                _lineStart = i + 1;
            }
        }

        _offset = end;
        return new Token(TokenKind.QuotedString, value, position, start, _offset);
    }

    private static string Printable(char c) => char.IsControl(c) || c == '\0' ? $"\\u{(int)c:x4}" : c.ToString();
}
