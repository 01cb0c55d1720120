namespace Fabric.Actors.Security;

/// <summary>A file that holds a secret and cannot be used as one; the message is one sentence saying why and what to do.</summary>
public sealed class PrivateFileException(string message) : Exception(message);

/// <summary>
/// Files that hold secrets or what a node must keep to itself (private keys, the last applied configuration, the
/// conductor's history): written readable and writable by their owner alone (mode 0600) and replaced atomically,
/// read only when nobody else may read or change them, as ssh treats its keys. Directories that hold them are
/// made 0700. Thread-safe: stateless.
/// </summary>
public static class PrivateFile
{
    /// <summary>Read and write for the owner: what every private file is made with.</summary>
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode OthersMayAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Writes <paramref name="content"/> to <paramref name="path"/> with mode 0600 through a temporary file beside it,
    /// so a reader sees the old content or the new, never a part; refuses to replace an existing file unless told.
    /// The directory is created (0700) when missing.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> content, bool replace = true)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(UnixOnly);
        }

        if (!replace && File.Exists(path))
        {
            throw new IOException($"{path} exists; refusing to replace it");
        }

        CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temporary = path + ".tmp";
        File.Delete(temporary);
        using (var stream = new FileStream(temporary, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: replace);
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8; see <see cref="Write(string, ReadOnlySpan{byte}, bool)"/>.</summary>
    public static void WriteText(string path, string text, bool replace = true) =>
        Write(path, System.Text.Encoding.UTF8.GetBytes(text), replace);

    /// <summary>
    /// The text of <paramref name="path"/>, a file others than its owner may not access; <paramref name="what"/> names it
    /// in the error ("the private key file"). Throws <see cref="PrivateFileException"/> with one sentence otherwise.
    /// </summary>
    public static string ReadText(string path, string what)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(UnixOnly);
        }

        if (!File.Exists(path))
        {
            throw new PrivateFileException($"{what} {path} does not exist");
        }

        RequireOwnerOnly(path, what);
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PrivateFileException($"{what} {path} cannot be read ({e.Message})");
        }
    }

    /// <summary>Throws <see cref="PrivateFileException"/> when group or others may access <paramref name="path"/>.</summary>
    public static void RequireOwnerOnly(string path, string what)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(UnixOnly);
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & OthersMayAccess) != 0)
        {
            throw new PrivateFileException(
                $"{what} {path} has mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}, so others than its owner may read it; make it 0600 (chmod 600 {path})");
        }
    }

    /// <summary>
    /// Makes an existing file 0600 (a file another program created with the default mask, such as a database),
    /// or creates it empty with that mode. Returns whether an existing file's mode was narrowed.
    /// </summary>
    public static bool Restrict(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(UnixOnly);
        }

        if (!File.Exists(path))
        {
            CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            using (new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
            {
            }

            return false;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & OthersMayAccess) == 0)
        {
            return false;
        }

        File.SetUnixFileMode(path, mode & ~OthersMayAccess);
        return true;
    }

    /// <summary>Creates <paramref name="directory"/> (and its parents) with mode 0700 when missing; an existing one is left as it is.</summary>
    public static void CreateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException(UnixOnly);
        }

        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private const string UnixOnly = "Private files rely on Unix file modes.";
}
