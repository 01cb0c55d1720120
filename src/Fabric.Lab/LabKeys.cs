using Fabric.Router;
using Fabric.Dataplane.Svr.Security;
using Fabric.Model;
using Fabric.Model.Collections;
using Fabric.Model.Validation;

namespace Fabric.Lab;

/// <summary>
/// Router identities for a lab: one private key per router (both nodes of an HA pair share it, as the
/// configuration requires) written to the lab's state directory with mode 0600, and the topology with
/// every router node's <c>identity</c> pinned to its public key. The topology file the user gave is never
/// changed: the routers run from the derived document the lab keeps, which is validated like any other.
/// Thread-safe: stateless.
/// </summary>
public static class LabKeys
{
    /// <summary>Where the lab keeps router <paramref name="router"/>'s private key.</summary>
    public static string KeyFileOf(LabLayout layout, string router)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return Path.Combine(DirectoryOf(layout), router + ".key");
    }

    /// <summary>
    /// Draws a key for every router, writes it, and returns <paramref name="config"/> with the identities
    /// pinned (replacing any the topology pins: the lab holds no private key for those). Throws
    /// <see cref="LabException"/> with every error when the derived document is invalid.
    /// </summary>
    public static FabricConfig Provision(FabricConfig config, LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Router key files rely on Unix file modes.");
        }

        var directory = DirectoryOf(layout);
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var identities = config.Routers.ToDictionary(
            r => r.Name,
            r => RouterKeyFile.Generate(KeyFileOf(layout, r.Name), r.Name, overwrite: true),
            StringComparer.Ordinal);
        return Pin(config, identities, "the topology with the lab's router identities pinned is invalid");
    }

    /// <summary>
    /// <paramref name="config"/> with every router that has a key in the lab pinned to it: what a document
    /// committed to the lab's conductor must say so the lab's routers accept it. Routers the lab has no key for
    /// keep what the document says. Throws <see cref="LabException"/> with every error when the result is invalid.
    /// </summary>
    public static FabricConfig PinProvisioned(FabricConfig config, LabLayout layout)
    {
        ArgumentNullException.ThrowIfNull(config);
        var identities = config.Routers
            .Where(r => File.Exists(KeyFileOf(layout, r.Name)))
            .ToDictionary(r => r.Name, r => RouterKeyFile.Read(KeyFileOf(layout, r.Name), r.Name), StringComparer.Ordinal);
        return Pin(config, identities, "the document with the lab's router identities pinned is invalid");
    }

    /// <summary>Where the lab keeps its routers' private keys.</summary>
    public static string DirectoryOf(LabLayout layout) => Path.Combine(layout.StateDirectory, "keys");

    private static FabricConfig Pin(FabricConfig config, Dictionary<string, RouterIdentity> identities, string problem)
    {
        var routers = config.Routers.Select(router => identities.GetValueOrDefault(router.Name) is { } identity
            ? router with { Nodes = new ValueList<RouterNode>(router.Nodes.Select(n => n with { Identity = identity.PublicKeyBase64 })) }
            : router);
        var derived = config with { Routers = new ValueList<Model.Router>(routers) };
        var errors = FabricValidator.Validate(derived);
        if (errors.Count > 0)
        {
            throw new LabException($"{problem}:\n{string.Join("\n", errors)}");
        }

        return derived;
    }
}
