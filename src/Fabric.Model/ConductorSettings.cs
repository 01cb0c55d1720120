using System.Net;
using Fabric.Model.Collections;

namespace Fabric.Model;

/// <summary>Where the conductor runs and where it keeps the configuration history.</summary>
/// <param name="OpenReads">The API answers reads without a token (writes always need one).</param>
public sealed record ConductorSettings(ValueList<IPAddress> Addresses, int ApiPort, StorageSettings Storage, bool OpenReads = false)
{
    public const int DefaultApiPort = 8480;

    public static ConductorSettings Default { get; } = new(ValueList<IPAddress>.Empty, DefaultApiPort, StorageSettings.Default);
}

public enum StorageProvider
{
    Sqlite,
    Postgresql,
}

/// <param name="SqlitePath">The SQLite file, used when the provider is SQLite.</param>
/// <param name="ConnectionString">The PostgreSQL connection string, used when the provider is PostgreSQL; never a password (the document is shared).</param>
/// <param name="PasswordFile">A file on the conductor's host holding the PostgreSQL password (mode 0600), or null.</param>
public sealed record StorageSettings(StorageProvider Provider, string SqlitePath, string? ConnectionString, string? PasswordFile = null)
{
    public const string DefaultSqlitePath = "fabric-conductor.db";

    public static StorageSettings Default { get; } = new(StorageProvider.Sqlite, DefaultSqlitePath, null);
}
