using Akka.Configuration;
using Akka.Persistence.Sql;
using Fabric.Actors.Security;
using Fabric.Model;
using Microsoft.Extensions.Configuration;

namespace Fabric.Conductor.Configuration;

/// <summary>
/// Akka.Persistence.Sql settings for the conductor's journal and snapshots from the fabric document's
/// <c>conductor.storage</c>: a SQLite file by default, PostgreSQL by one setting. Tables are created
/// on first use.
/// </summary>
public static class ConductorStorage
{
    /// <summary>The conductor's environment variable holding the PostgreSQL password when the document names no password file.</summary>
    public const string PasswordVariable = "FABRIC_POSTGRES_PASSWORD";

    /// <summary>
    /// The storage as the conductor opens it: for PostgreSQL, the connection string with the password from the
    /// document's <c>password-file</c> (readable by its owner alone), else from <see cref="PasswordVariable"/>; for
    /// SQLite, the database file made readable by its owner alone (created empty with mode 0600 when missing, so the
    /// history and SQLite's journal beside it are never readable by others). Throws
    /// <see cref="PrivateFileException"/> with one sentence when the password file cannot be used.
    /// </summary>
    public static StorageSettings Prepare(StorageSettings storage, IConfiguration? hostConfiguration)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (storage.Provider == StorageProvider.Sqlite)
        {
            PrivateFile.Restrict(storage.SqlitePath);
            return storage;
        }

        var password = storage.PasswordFile is { } file
            ? PrivateFile.ReadText(file, "the PostgreSQL password file").TrimEnd('\r', '\n')
            : hostConfiguration?[PasswordVariable];
        if (string.IsNullOrEmpty(password))
        {
            return storage;
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(storage.ConnectionString ?? "") { Password = password };
        return storage with { ConnectionString = builder.ConnectionString };
    }

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
