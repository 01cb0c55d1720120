using Fabric.Actors.Security;
using Fabric.Dataplane.Svr.Security;

namespace Fabric.Router;

/// <summary>
/// A router's private key file: one line, the base64 of its 32-byte X25519 private key, readable by its owner
/// alone (mode 0600). <see cref="Read"/> refuses, with one sentence, a file that others may read or that holds
/// anything else. Thread-safe: stateless.
/// </summary>
public static class RouterKeyFile
{
    /// <summary>The key file's name in a router node's state directory, used when no <c>--identity-key</c> is given.</summary>
    public const string DefaultName = "identity.key";

    /// <summary>Draws a new key pair and writes its private key to <paramref name="path"/> with mode 0600; refuses to overwrite unless told.</summary>
    public static RouterIdentity Generate(string path, string routerName, bool overwrite)
    {
        if (File.Exists(path) && !overwrite)
        {
            throw new IOException($"{path} exists; it may hold a router's key in use (give --force to replace it)");
        }

        var identity = RouterIdentity.Generate(routerName);
        Write(path, identity);
        return identity;
    }

    /// <summary>Writes <paramref name="identity"/>'s private key to <paramref name="path"/> (mode 0600, replaced atomically).</summary>
    public static void Write(string path, RouterIdentity identity)
    {
        ArgumentNullException.ThrowIfNull(identity);
        PrivateFile.WriteText(path, identity.ExportPrivateKeyBase64() + "\n");
    }

    /// <summary>The identity in the key file at <paramref name="path"/>, under <paramref name="routerName"/>; throws <see cref="RouterKeyFileException"/> with one sentence when it cannot be used.</summary>
    public static RouterIdentity Read(string path, string routerName)
    {
        if (!File.Exists(path))
        {
            throw new RouterKeyFileException($"the private key file {path} does not exist (create one with: fabric keys generate --out {path})");
        }

        string text;
        try
        {
            text = PrivateFile.ReadText(path, "the private key file");
        }
        catch (PrivateFileException e)
        {
            throw new RouterKeyFileException(e.Message);
        }

        try
        {
            return RouterIdentity.FromPrivateKeyBase64(routerName, text);
        }
        catch (FormatException)
        {
            throw new RouterKeyFileException($"the private key file {path} does not hold a private key: it must be one line, the base64 of {RouterIdentity.KeyLength} bytes (as fabric keys generate writes it)");
        }
    }
}

/// <summary>A key file that cannot be used; the message is one sentence saying why and what to do.</summary>
public sealed class RouterKeyFileException(string message) : Exception(message);
