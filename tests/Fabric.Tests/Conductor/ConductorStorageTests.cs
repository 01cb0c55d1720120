using Fabric.Actors.Security;
using Fabric.Conductor.Configuration;
using Fabric.Model;
using Microsoft.Extensions.Configuration;

namespace Fabric.Tests.Conductor;

/// <summary>
/// The conductor's storage as it opens it: the PostgreSQL password comes from the file the document names (mode
/// 0600) or from the conductor's environment, never from the document; the SQLite history is readable by its owner alone.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ConductorStorageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fabric-storage-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static IConfiguration Environment(string? password) => new ConfigurationBuilder()
        .AddInMemoryCollection(password is null ? [] : new Dictionary<string, string?> { [ConductorStorage.PasswordVariable] = password }).Build();

    [Fact]
    public void Prepare_PasswordFile_JoinsTheConnectionString_BeforeTheEnvironment()
    {
        var file = Path.Combine(_dir, "pg.password");
        PrivateFile.WriteText(file, "from-file\n");
        var storage = new StorageSettings(StorageProvider.Postgresql, "", "Host=db;Username=fabric", file);

        var prepared = ConductorStorage.Prepare(storage, Environment("from-environment"));

        Assert.Equal("Host=db;Username=fabric;Password=from-file", prepared.ConnectionString);
        Assert.Equal("Host=db;Username=fabric;Password=from-environment", ConductorStorage.Prepare(storage with { PasswordFile = null }, Environment("from-environment")).ConnectionString);
        Assert.Equal("Host=db;Username=fabric", ConductorStorage.Prepare(storage with { PasswordFile = null }, Environment(null)).ConnectionString);
    }

    [Fact]
    public void Prepare_PasswordFileOthersMayRead_RefusedWithWhatToDo()
    {
        var file = Path.Combine(_dir, "pg.password");
        File.WriteAllText(file, "secret\n");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var error = Assert.Throws<PrivateFileException>(() => ConductorStorage.Prepare(new StorageSettings(StorageProvider.Postgresql, "", "Host=db", file), null));

        Assert.Equal($"the PostgreSQL password file {file} has mode 0644, so others than its owner may read it; make it 0600 (chmod 600 {file})", error.Message);
        Assert.Equal(
            $"the PostgreSQL password file {Path.Combine(_dir, "missing")} does not exist",
            Assert.Throws<PrivateFileException>(() => ConductorStorage.Prepare(new StorageSettings(StorageProvider.Postgresql, "", "Host=db", Path.Combine(_dir, "missing")), null)).Message);
    }

    [Fact]
    public void Prepare_Sqlite_HistoryFileReadableByItsOwnerAlone_NewOrExisting()
    {
        var fresh = Path.Combine(_dir, "history", "conductor.db");
        ConductorStorage.Prepare(new StorageSettings(StorageProvider.Sqlite, fresh, null), null);
        Assert.Equal(PrivateFile.OwnerOnly, File.GetUnixFileMode(fresh));

        var existing = Path.Combine(_dir, "old.db");
        File.WriteAllText(existing, "");
        File.SetUnixFileMode(existing, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        ConductorStorage.Prepare(new StorageSettings(StorageProvider.Sqlite, existing, null), null);
        Assert.Equal(PrivateFile.OwnerOnly, File.GetUnixFileMode(existing));
    }
}
