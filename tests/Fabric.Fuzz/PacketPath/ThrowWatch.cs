using System.Runtime.ExceptionServices;
using System.Security.Cryptography;

namespace Fabric.Fuzz.PacketPath;

/// <summary>
/// Sees every exception thrown on this thread while <see cref="Watching"/>, caught or not. The worker drops and counts
/// a packet whose stage threw, so a bug no longer escapes it; thrown at all, it is still a bug the fuzzer must report.
/// The one exception the packet path throws by design is a sealed packet's tag mismatch (AES-GCM reports it so;
/// <c>PacketSealer</c> catches it and the packet counts as tampered). Not thread-safe: one per thread.
/// </summary>
public sealed class ThrowWatch : IDisposable
{
    [ThreadStatic]
    private static ThrowWatch? _current;

    private ThrowWatch() => AppDomain.CurrentDomain.FirstChanceException += Seen;

    /// <summary>The first exception seen while watching, or null.</summary>
    public Exception? First { get; private set; }

    /// <summary>The stack where <see cref="First"/> was thrown (the exception itself only knows the frames it unwound).</summary>
    public string? Where { get; private set; }

    public bool Watching { get; set; }

    /// <summary>The watch of this thread, created on first use.</summary>
    public static ThrowWatch Current => _current ??= new ThrowWatch();

    public void Dispose() => AppDomain.CurrentDomain.FirstChanceException -= Seen;

    /// <summary>Forgets what was seen.</summary>
    public void Reset()
    {
        First = null;
        Where = null;
    }

    private void Seen(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (!Watching || !ReferenceEquals(_current, this) || First is not null || e.Exception is AuthenticationTagMismatchException)
        {
            return;
        }

        First = e.Exception;
        Where = Environment.StackTrace;
    }
}
