namespace Fabric.Lab;

/// <summary>What the supervisor does after a supervised process exited.</summary>
/// <param name="GiveUp">True: the process failed fast too many times in a row; it stays stopped.</param>
/// <param name="Delay">How long to wait before starting it again (when not giving up).</param>
public readonly record struct RestartDecision(bool GiveUp, TimeSpan Delay);

/// <summary>
/// When a supervised process that exited is started again, as a service manager does (systemd's
/// <c>Restart=on-failure</c> with a start limit): after <see cref="FirstDelay"/>, doubling for each run in a row
/// that ended within <see cref="StableAfter"/> of its start (a fast failure), up to <see cref="LongestDelay"/>;
/// after <see cref="FastFailuresAllowed"/> fast failures in a row it gives up. A run that lasted
/// <see cref="StableAfter"/> or more starts the count afresh. A run that ended with exit 0 was stopped on purpose
/// (SIGTERM: <c>lab restart</c>, an upgrade): it starts again at once and the count starts afresh. Immutable.
/// </summary>
public sealed record RestartPolicy(TimeSpan FirstDelay, TimeSpan LongestDelay, TimeSpan StableAfter, int FastFailuresAllowed)
{
    public static RestartPolicy Default { get; } = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10), 5);

    /// <summary>
    /// The decision after a run that lasted <paramref name="ran"/> and ended with <paramref name="exitCode"/>, with
    /// <paramref name="fastFailures"/> fast failures before it in a row; and the new count.
    /// </summary>
    public (RestartDecision Decision, int FastFailures) After(TimeSpan ran, int fastFailures, int exitCode = 1)
    {
        if (exitCode == 0)
        {
            return (new RestartDecision(false, TimeSpan.Zero), 0);
        }

        if (ran >= StableAfter)
        {
            return (new RestartDecision(false, FirstDelay), 0);
        }

        var failures = fastFailures + 1;
        if (failures >= FastFailuresAllowed)
        {
            return (new RestartDecision(true, TimeSpan.Zero), failures);
        }

        var delay = FirstDelay * Math.Pow(2, failures - 1);
        return (new RestartDecision(false, delay < LongestDelay ? delay : LongestDelay), failures);
    }
}
