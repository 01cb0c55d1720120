namespace Fabric.Dataplane.Io.Linux;

/// <summary>A packet port could not be opened or set up; <see cref="Errno"/> is the failing call's errno (0 when none).</summary>
public sealed class PacketPortException : IOException
{
    public PacketPortException()
    {
    }

    public PacketPortException(string message)
        : base(message)
    {
    }

    public PacketPortException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PacketPortException(string message, int errno)
        : base(message) => Errno = errno;

    public int Errno { get; }
}
