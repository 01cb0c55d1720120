using System.Runtime.CompilerServices;

namespace Fabric.Dataplane.Wire;

/// <summary>Checks a parsed header's fields before it is emitted; a field that cannot be encoded throws.</summary>
internal static class EmitGuard
{
    public static void AtMost(long value, long maximum, [CallerArgumentExpression(nameof(value))] string field = "")
    {
        if (value > maximum)
        {
            throw new InvalidOperationException($"{field} is {value}; the wire format holds at most {maximum}.");
        }
    }

    public static void Holds(bool condition, string rule)
    {
        if (!condition)
        {
            throw new InvalidOperationException(rule);
        }
    }
}
