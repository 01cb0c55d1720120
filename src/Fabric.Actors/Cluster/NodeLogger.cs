using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Dispatch;
using Akka.Event;

namespace Fabric.Actors.Cluster;

/// <summary>
/// Where a <see cref="FabricNode"/>'s Akka log goes: one line per event, its name and its fields; none: dropped. The
/// delegate runs on Akka's logger thread, beside whatever else writes to the same output: it must be safe to call from
/// there (<see cref="Console.Out"/> is).
/// </summary>
public sealed class NodeLogSetup(Action<string, string>? line) : Setup
{
    public Action<string, string>? Line { get; } = line;
}

/// <summary>
/// Akka's logger for a <see cref="FabricNode"/>: each log event at or above <c>akka.loglevel</c> (WARNING unless the node
/// is told otherwise) becomes one line of event <c>akka-log</c> with fields <c>level</c>, <c>source</c>, <c>message</c>
/// and, with an exception, <c>cause</c>; each text is quoted with its quotes, backslashes and control characters escaped, so a message or stack trace over several
/// lines stays one line. Akka makes it from its name in <c>akka.loggers</c>.
/// </summary>
public sealed class NodeLogger : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private readonly Action<string, string>? _line;

    public NodeLogger()
    {
        var setup = Context.System.Settings.Setup.Get<NodeLogSetup>();
        _line = setup.HasValue ? setup.Value.Line : null;
    }

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case LogEvent e:
                Write(e);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// Writes one event's line. A line that cannot be written (its writer failed: a full disk under the output) is
    /// dropped: a logger that failed would be restarted and log its own failure through itself, round and round.
    /// </summary>
    private void Write(LogEvent e)
    {
        try
        {
            _line?.Invoke("akka-log", Fields(e));
        }
        catch (Exception)
        {
            // Dropped; see above.
        }
    }

    /// <summary>The fields of one event's line.</summary>
    private static string Fields(LogEvent e)
    {
        var level = e.LogLevel() switch
        {
            LogLevel.ErrorLevel => "error",
            LogLevel.WarningLevel => "warning",
            LogLevel.InfoLevel => "info",
            _ => "debug",
        };
        var fields = $"level={level} source={Quoted(e.LogSource ?? "")} message={Quoted(e.Message?.ToString() ?? "")}";
        return e.Cause is null ? fields : $"{fields} cause={Quoted(e.Cause.ToString())}";
    }

    /// <summary>
    /// <paramref name="text"/> in double quotes, with <c>"</c>, <c>\</c> and control characters escaped as in C or JSON: a
    /// value of a node's <c>key=value</c> log line that stays on its line whatever it holds.
    /// </summary>
    public static string Quoted(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            _ = c switch
            {
                '"' or '\\' => quoted.Append('\\').Append(c),
                '\n' => quoted.Append("\\n"),
                '\r' => quoted.Append("\\r"),
                '\t' => quoted.Append("\\t"),
                _ when char.IsControl(c) => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('"').ToString();
    }
}
