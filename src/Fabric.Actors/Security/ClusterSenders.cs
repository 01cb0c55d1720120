using Akka.Actor;

namespace Fabric.Actors.Security;

/// <summary>
/// Who sent an actor a message, as Akka's remoting reports it: the sender's actor path carries the address of the
/// actor system it lives in. What the cluster's mutual TLS authenticates is that a peer holds a certificate of the
/// fabric's CA; the sender's address is what that peer's remoting says (docs/security.md). Thread-safe: stateless.
/// </summary>
public static class ClusterSenders
{
    /// <summary>Whether <paramref name="sender"/> lives in this actor system, or in a cluster member with <paramref name="role"/>.</summary>
    public static bool IsLocalOrHasRole(IActorContext context, IActorRef sender, string role)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(sender);
        var address = sender.Path.Address;
        if (address.HasLocalScope || address == Akka.Cluster.Cluster.Get(context.System).SelfAddress)
        {
            return true;
        }

        return Akka.Cluster.Cluster.Get(context.System).State.Members.Any(m => m.Address == address && m.HasRole(role));
    }

    /// <summary>Whether <paramref name="sender"/> is the actor at <paramref name="expected"/> (address and path).</summary>
    public static bool Is(IActorRef sender, ActorPath expected)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(expected);
        return sender.Path.Address == expected.Address && sender.Path.Elements.SequenceEqual(expected.Elements, StringComparer.Ordinal);
    }
}
