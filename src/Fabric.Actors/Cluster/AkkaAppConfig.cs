using System.Configuration;
using System.Configuration.Internal;

namespace Fabric.Actors.Cluster;

/// <summary>
/// Keeps Akka.NET from reading the process's app.config. <c>ActorSystem.Create</c> evaluates
/// <c>ConfigurationFactory.Load()</c> (the <c>akka</c> section of <c>fabric.dll.config</c>) even when it is handed a
/// configuration, and throws the result away: a fabric node's Akka configuration is only the HOCON the node builds.
/// Reading it costs every node .NET's XML configuration host (~3 MB resident, see docs/benchmarks.md "Memory,
/// 2026-12-06, Akka's app.config"). <see cref="Skip"/> installs, through System.Configuration's own extension point (its
/// internal settings factory used through the public <see cref="IInternalConfigSettingsFactory"/>), a configuration
/// system in which <c>appSettings</c> and <c>connectionStrings</c> are empty and every other section is absent.
/// Used where Akka.Hosting creates the actor system (the conductor); a router's <see cref="FabricNode"/> creates its own
/// without reading any section, so loads no System.Configuration at all.
/// </summary>
public static class AkkaAppConfig
{
    private static readonly Lock Gate = new();
    private static bool _done;

    /// <summary>
    /// Makes every <see cref="ConfigurationManager"/> section read as empty or absent in this process; call before the
    /// first actor system. Idempotent and thread-safe. When the process has already read its app.config
    /// (System.Configuration refuses a second configuration system), or a later .NET moves the factory this reaches,
    /// the process is left as it is: the memory is spent, nothing else changes.
    /// </summary>
    public static void Skip()
    {
        lock (Gate)
        {
            if (_done)
            {
                return;
            }

            _done = true;
            var factoryType = typeof(ConfigurationManager).Assembly.GetType("System.Configuration.Internal.InternalConfigSettingsFactory", throwOnError: false);
            if (factoryType is null || Activator.CreateInstance(factoryType, nonPublic: true) is not IInternalConfigSettingsFactory factory)
            {
                return;
            }

            try
            {
                factory.SetConfigurationSystem(new NoSections(), initComplete: true);
            }
            catch (InvalidOperationException)
            {
                // The process read its configuration before the first node started (a test host, for one).
            }
        }
    }

    /// <summary>
    /// A configuration system without sections: Akka's <c>ConfigurationFactory.Load()</c> then yields an empty
    /// configuration. <c>appSettings</c> and <c>connectionStrings</c> read as empty rather than absent, as in a process
    /// without an app.config, so <see cref="ConfigurationManager.AppSettings"/> does not throw.
    /// </summary>
    private sealed class NoSections : IInternalConfigSystem
    {
        public bool SupportsUserConfig => false;

        public object? GetSection(string configKey) => configKey switch
        {
            "appSettings" => new System.Collections.Specialized.NameValueCollection(),
            "connectionStrings" => new ConnectionStringsSection(),
            _ => null,
        };

        public void RefreshConfig(string sectionName)
        {
        }
    }
}
