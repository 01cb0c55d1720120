using Fabric.Dataplane.Forwarding;

namespace Fabric.Dataplane.Pipeline;

/// <summary>
/// What a worker does when an instance health check took an instance down (<see cref="ServiceRuntimes.InstanceDowns"/>
/// grew since it last looked): each live session of its shard placed on an instance of this router that is now down ends,
/// counted as <see cref="DropReason.InstanceDown"/> under its tenant and service, when its service's
/// <c>session-resiliency</c> is <c>failover</c> or <c>revertible-failover</c> (the session may not stay on what failed; its
/// client's next connection is balanced over the instances still up). With <c>none</c> sessions stay where they are, as
/// they stay on a peer path that went down. Sessions placed on a peer router (an SVR ingress) are the egress router's to
/// end. Allocates nothing; runs on the worker's thread between batches, over the whole table, once per instance that
/// went down.
/// </summary>
/// <remarks>
/// An ended TCP session is removed, not reset: its endpoints learn of it at their next packet (the transport-state
/// enforcement of the policy answers a mid-flow packet), or by their own timeouts. <see cref="SessionOpening.EndLive"/>
/// is the one place that ends such a session (revoked ones too), where a reset toward both ends goes.
/// </remarks>
public static class InstanceFailover
{
    /// <summary>Ends every session of <paramref name="resources"/> that sits on a failed instance its policy moves sessions off; returns how many.</summary>
    public static int Run(ForwardingSnapshot snapshot, WorkerResources resources, long now)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(resources);
        var sessions = resources.Sessions;
        var ended = 0;
        for (var handle = 0; handle < sessions.Capacity; handle++)
        {
            if (!sessions.IsLive(handle))
            {
                continue;
            }

            ref readonly var state = ref sessions.Payload(handle);
            if (OnFailedInstance(snapshot, in state))
            {
                SessionOpening.EndLive(snapshot, snapshot, resources, handle, DropReason.InstanceDown, state.Tenant, state.Service, now);
                ended++;
            }
        }

        return ended;
    }

    /// <summary>Whether the session sits on an instance of this router that is down, and its policy moves sessions off what failed.</summary>
    private static bool OnFailedInstance(ForwardingSnapshot snapshot, in SessionState state)
    {
        if (state.Svr is not (SvrRole.None or SvrRole.Egress) || state.Instance < 0 || (uint)state.Service >= (uint)snapshot.Services.Length)
        {
            return false;
        }

        var entry = snapshot.Services[state.Service];
        return entry.Runtime.NumbersSlotsAs(snapshot.Runtimes[state.Runtime])
            && entry.Runtime.HealthChecks is not null
            && state.Instance < entry.Runtime.Load.Count
            && !entry.Runtime.Load.Health(state.Instance).IsUp
            && entry.Policy.Resiliency != Model.SessionResiliency.None;
    }
}
