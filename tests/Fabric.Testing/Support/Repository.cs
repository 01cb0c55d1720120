namespace Fabric.Tests.Support;

/// <summary>Finds files of this repository from wherever the tests run.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Read(string relative) => File.ReadAllText(PathOf(relative));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Fabric.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Fabric.sln not found above " + AppContext.BaseDirectory);
    }
}
