using Fabric.Actors.Security;

namespace Fabric.Router;

/// <summary>
/// The conductor's public key as a router node pins it: given with <c>--conductor-key</c>, it is kept in the node's
/// state directory (<see cref="FileName"/>), so the node pins the same key when started again without the option.
/// Thread-safe: stateless.
/// </summary>
public static class ConductorKeyPinFile
{
    public const string FileName = "conductor.pub";

    /// <summary>
    /// The pin: <paramref name="given"/> (then kept in <paramref name="stateDirectory"/>), else the one kept there, else
    /// null. Throws <see cref="FormatException"/> with one sentence when either is not a conductor key, and
    /// <see cref="PrivateFileException"/> when the kept one may be changed by others than its owner.
    /// </summary>
    public static ConductorKeyPin? Resolve(string? given, string stateDirectory)
    {
        var path = Path.Combine(stateDirectory, FileName);
        if (given is not null)
        {
            var pin = ConductorKeyPin.TryParse(given, out var problem) ?? throw new FormatException($"--conductor-key: {problem}");
            PrivateFile.WriteText(path, pin.PublicKeyBase64 + "\n");
            return pin;
        }

        if (!File.Exists(path))
        {
            return null;
        }

        // Read as a private file: one others may write could pin another conductor.
        return ConductorKeyPin.TryParse(PrivateFile.ReadText(path, "the pinned conductor key"), out var kept) ?? throw new FormatException($"{path}: {kept}");
    }
}
