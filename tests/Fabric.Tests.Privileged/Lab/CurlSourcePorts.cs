namespace Fabric.Tests.Lab;

/// <summary>
/// Source ports for a lab test's curls: below Linux's ephemeral range and new for every curl of the test run. A port the
/// kernel picks may be one an earlier curl used moments ago (Linux reuses a source port at once when the server closed
/// first): that connection's session still lingers at the client's router, and the new connection continues it
/// (SvrTupleReuseTests), on the old session's path and instance, instead of opening a session of its own.
/// </summary>
internal static class CurlSourcePorts
{
    private static int _last = 20000;

    /// <summary>The first of <paramref name="count"/> consecutive ports no curl of this run has used.</summary>
    public static int Take(int count) => Interlocked.Add(ref _last, count) - count + 1;
}
