using Akka.Configuration;
using Akka.Persistence.Sql;
using Fabric.Model;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// Akka.Persistence.Sql settings for the conductor's journal and snapshots from the fabric document's
/// <c>conductor.storage</c>: a SQLite file by default, PostgreSQL by one setting. Tables are created
/// on first use.
/// </summary>
public static class ConductorStorage
{
    /// <summary>The persistence settings, with the plugin's own defaults beneath them.</summary>
    public static Akka.Configuration.Config PersistenceConfig(StorageSettings storage) =>
        ConfigurationFactory.ParseString(Hocon(storage)).WithFallback(SqlPersistence.DefaultConfiguration);

    public static string Hocon(StorageSettings storage)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var (connection, provider) = storage.Provider switch
        {
            StorageProvider.Postgresql => (storage.ConnectionString ?? "", "PostgreSQL"),
            _ => ($"Data Source={storage.SqlitePath}", "SQLite.MS"),
        };
        var quoted = System.Text.Json.JsonSerializer.Serialize(connection);
        return $$"""
            akka.persistence {
              journal {
                plugin = "akka.persistence.journal.sql"
                sql { connection-string = {{quoted}}, provider-name = "{{provider}}", auto-initialize = on }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql { connection-string = {{quoted}}, provider-name = "{{provider}}", auto-initialize = on }
              }
            }
            """;
    }
}
