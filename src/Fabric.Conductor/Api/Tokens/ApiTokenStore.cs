using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Fabric.Model;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Fabric.Conductor.Api.Tokens;

/// <summary>A token's public record: its id, who it speaks for, when it was made, and whether it was revoked.</summary>
public sealed record ApiTokenInfo(string Id, string Owner, DateTimeOffset Created, DateTimeOffset? Revoked);

/// <summary>A token just created: the secret is shown once and never stored.</summary>
public sealed record CreatedApiToken(ApiTokenInfo Info, string Token);

/// <summary>The store refuses an owner name, or the database cannot be reached; the message says which in one sentence.</summary>
public sealed class ApiTokenException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The conductor's API tokens, in the conductor's own storage (the SQLite file or the PostgreSQL database of
/// <c>conductor.storage</c>, table <c>fabric_api_tokens</c>, beside the history's journal). A token is
/// <c>fabric_ID_SECRET</c>: 32 random bytes of secret; the store keeps only the SHA-256 of the whole token, so a copy
/// of the database lets no one speak as its owner (a token is random, so a fast hash is enough: there is nothing to
/// guess from). A lookup is by that hash. Thread-safe: each call opens its own connection.
/// </summary>
public sealed class ApiTokenStore
{
    public const string Prefix = "fabric_";
    private const string Table = "fabric_api_tokens";
    private const int MaxOwnerLength = 64;
    private readonly Func<DbConnection> _connect;
    private readonly string _where;
    private int _created;

    private ApiTokenStore(Func<DbConnection> connect, string where)
    {
        _connect = connect;
        _where = where;
    }

    /// <summary>The store in <paramref name="storage"/>: a SQLite file (a relative path is relative to the current directory, as the conductor's) or PostgreSQL.</summary>
    public static ApiTokenStore For(StorageSettings storage)
    {
        ArgumentNullException.ThrowIfNull(storage);
        if (storage.Provider == StorageProvider.Postgresql)
        {
            var connection = storage.ConnectionString ?? throw new ApiTokenException("conductor.storage has provider postgresql but no connection-string");
            return new ApiTokenStore(() => new NpgsqlConnection(connection), "the PostgreSQL database of conductor.storage");
        }

        var path = Path.GetFullPath(storage.SqlitePath);
        var sqlite = new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30 }.ToString();
        return new ApiTokenStore(() => new SqliteConnection(sqlite), path);
    }

    /// <summary>Makes a token for <paramref name="owner"/>, the name every commit made with it records as its author.</summary>
    public async Task<CreatedApiToken> Create(string owner, DateTimeOffset now, CancellationToken cancel = default)
    {
        if (OwnerProblem(owner) is { } problem)
        {
            throw new ApiTokenException(problem);
        }

        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var token = $"{Prefix}{id}_{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        var info = new ApiTokenInfo(id, owner, now, null);
        await Run(
            $"INSERT INTO {Table} (id, owner, hash, created) VALUES (@id, @owner, @hash, @created)",
            cancel,
            ("id", id), ("owner", owner), ("hash", Hash(token)), ("created", Time(now))).ConfigureAwait(false);
        return new CreatedApiToken(info, token);
    }

    /// <summary>The token's record when it is one of ours and not revoked, else null.</summary>
    public async Task<ApiTokenInfo?> Find(string token, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        if (!token.StartsWith(Prefix, StringComparison.Ordinal) || token.Length > 128)
        {
            return null;
        }

        var found = await Query($"SELECT id, owner, created, revoked FROM {Table} WHERE hash = @hash AND revoked IS NULL", cancel, ("hash", Hash(token))).ConfigureAwait(false);
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>Every token ever made, oldest first, revoked ones too (never a secret or its hash).</summary>
    public Task<IReadOnlyList<ApiTokenInfo>> List(CancellationToken cancel = default) =>
        Query($"SELECT id, owner, created, revoked FROM {Table} ORDER BY created, id", cancel);

    /// <summary>Revokes token <paramref name="id"/>; false when there is no such token or it was revoked already.</summary>
    public async Task<bool> Revoke(string id, DateTimeOffset now, CancellationToken cancel = default) =>
        await Run($"UPDATE {Table} SET revoked = @revoked WHERE id = @id AND revoked IS NULL", cancel, ("id", id), ("revoked", Time(now))).ConfigureAwait(false) == 1;

    /// <summary>Why <paramref name="owner"/> cannot name a token's owner, or null.</summary>
    public static string? OwnerProblem(string? owner) =>
        string.IsNullOrWhiteSpace(owner) ? "a token needs an owner (who commits with it)"
        : owner.Length > MaxOwnerLength ? $"an owner's name has at most {MaxOwnerLength} characters"
        : owner.Any(char.IsControl) || owner != owner.Trim() ? "an owner's name has no control characters and no spaces at either end"
        : null;

    private async Task<int> Run(string sql, CancellationToken cancel, params (string Name, object Value)[] parameters)
    {
        await using var connection = await Open(cancel).ConfigureAwait(false);
        await using var command = Command(connection, sql, parameters);
        try
        {
            return await command.ExecuteNonQueryAsync(cancel).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            throw new ApiTokenException($"the token store in {_where} refused the change: {e.Message}", e);
        }
    }

    private async Task<IReadOnlyList<ApiTokenInfo>> Query(string sql, CancellationToken cancel, params (string Name, object Value)[] parameters)
    {
        await using var connection = await Open(cancel).ConfigureAwait(false);
        await using var command = Command(connection, sql, parameters);
        var found = new List<ApiTokenInfo>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancel).ConfigureAwait(false);
            while (await reader.ReadAsync(cancel).ConfigureAwait(false))
            {
                found.Add(new ApiTokenInfo(
                    reader.GetString(0),
                    reader.GetString(1),
                    ParseTime(reader.GetString(2)),
                    await reader.IsDBNullAsync(3, cancel).ConfigureAwait(false) ? null : ParseTime(reader.GetString(3))));
            }
        }
        catch (DbException e)
        {
            throw new ApiTokenException($"the token store in {_where} cannot be read: {e.Message}", e);
        }

        return found;
    }

    /// <summary>A connection with the table in place (made on first use by whichever of the conductor and the CLI comes first).</summary>
    private async Task<DbConnection> Open(CancellationToken cancel)
    {
        var connection = _connect();
        try
        {
            await connection.OpenAsync(cancel).ConfigureAwait(false);
            if (Volatile.Read(ref _created) == 0)
            {
                await using var create = Command(connection, $"CREATE TABLE IF NOT EXISTS {Table} (id TEXT PRIMARY KEY, owner TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL, revoked TEXT NULL)");
                await create.ExecuteNonQueryAsync(cancel).ConfigureAwait(false);
                Volatile.Write(ref _created, 1);
            }

            return connection;
        }
        catch (DbException e)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new ApiTokenException($"the token store in {_where} cannot be opened: {e.Message}", e);
        }
    }

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
