using Akka.Actor;
using Fabric.Actors.LoadBalancing;
using Fabric.Actors.Security;

namespace Fabric.Actors.Services;

/// <summary>
/// A router node's services in the control plane: every interval it reads its dataplane's services
/// (<see cref="IServiceDataplane.Services"/>: instances, health, session counts) and hands each service to its
/// <see cref="ServiceActor"/> (the live instance registry) and its <see cref="LoadBalancerActor"/> (load across the
/// cluster), creating them for a service seen the first time. A service gone from the configuration is handed as
/// empty, so its entries leave the registry. Its <see cref="ServiceRegistryWatcher"/> child answers
/// <see cref="GetServiceRegistry"/>. On a node that attaches containers (<see cref="IRemoteInstanceHost"/>), it hands
/// its <see cref="AttachedClientActor"/> child the containers attached there at every tick, and reads at once when they
/// change (<see cref="IRemoteInstanceHost.AttachedHereChanged"/>), so an attach or a detach reaches the registries without
/// waiting for the tick; a burst of them is read at once, then at most once per <see cref="ServiceDistribution.AttachmentReadSpacing"/>.
/// </summary>
public sealed class ServiceDirectory : ReceiveActor, IWithTimers
{
    private sealed record Tick
    {
        public static readonly Tick Instance = new();
    }

    /// <summary>What the node attached changed (told by the host's event, from another thread).</summary>
    private sealed record AttachmentsChanged
    {
        public static readonly AttachmentsChanged Instance = new();
    }

    /// <summary>The spacing after a reading made for a change is over.</summary>
    private sealed record SpacingOver
    {
        public static readonly SpacingOver Instance = new();
    }

    private const string SpacingTimer = "attachment-spacing";

    private readonly string _node;
    private readonly string _router;
    private readonly IServiceDataplane _dataplane;
    private readonly TimeSpan _interval;
    private readonly NodeSigner? _signer;
    private readonly ControlPlaneRefusals? _refusals;
    private readonly IRemoteInstanceHost? _remoteInstances;
    private readonly Dictionary<string, (IActorRef Service, IActorRef LoadBalancer)> _services = new(StringComparer.Ordinal);
    private IActorRef _watcher = ActorRefs.Nobody;
    private IActorRef _clients = ActorRefs.Nobody;
    private Action? _onAttachedHereChanged;
    private bool _changedWhileSpaced;

    public ServiceDirectory(string node, string router, IServiceDataplane dataplane, TimeSpan interval, NodeSigner? signer, ControlPlaneRefusals? refusals, IRemoteInstanceHost? remoteInstances)
    {
        _signer = signer;
        _remoteInstances = remoteInstances;
        _refusals = refusals;
        _node = node;
        _router = router;
        _dataplane = dataplane;
        _interval = interval;
        Receive<Tick>(_ => Read());
        Receive<AttachmentsChanged>(_ =>
        {
            Context.System.EventStream.Publish(new PlacementRecompiled(_node));
            ReadForChange();
        });
        Receive<SpacingOver>(_ =>
        {
            if (_changedWhileSpaced)
            {
                ReadForChange();
            }
        });
        Receive<GetServiceRegistry>(query => _watcher.Forward(query));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="signer">Seals the node's entries, and its CA is what others' seals are checked against; null when the cluster runs without TLS.</param>
    /// <param name="refusals">Where entries refused by the node's readers are counted; null: nowhere.</param>
    /// <param name="remoteInstances">Where the registry's instances are handed to compile in those other routers attached; null: nowhere.</param>
    public static Props Props(
        string node, string router, IServiceDataplane dataplane, TimeSpan? interval = null, NodeSigner? signer = null, ControlPlaneRefusals? refusals = null,
        IRemoteInstanceHost? remoteInstances = null) =>
        Akka.Actor.Props.Create(() => new ServiceDirectory(node, router, dataplane, interval ?? ServiceDistribution.DefaultInterval, signer, refusals, remoteInstances));

    /// <summary>The directory's name under <c>/user</c> for a router node.</summary>
    public static string NameFor(string node) => $"services-{node}";

    protected override void PreStart()
    {
        _watcher = Context.ActorOf(ServiceRegistryWatcher.Props(_signer?.Tls, _dataplane, _refusals, _remoteInstances, _remoteInstances is null ? null : _node), "registry");
        if (_remoteInstances is not null)
        {
            _clients = Context.ActorOf(AttachedClientActor.Props(_router, _node, _signer), "attached-clients");
            var self = Self;
            _onAttachedHereChanged = () => self.Tell(AttachmentsChanged.Instance);
            _remoteInstances.AttachedHereChanged += _onAttachedHereChanged;
        }

        Timers.StartPeriodicTimer("read", Tick.Instance, TimeSpan.Zero, _interval);
    }

    protected override void PostStop()
    {
        if (_remoteInstances is not null && _onAttachedHereChanged is not null)
        {
            _remoteInstances.AttachedHereChanged -= _onAttachedHereChanged;
        }
    }

    /// <summary>
    /// Reads for a change of what is attached here: at once, unless a reading for a change was made less than the spacing
    /// ago, in which case once the spacing is over (one reading however many changes arrive meanwhile).
    /// </summary>
    private void ReadForChange()
    {
        if (Timers.IsTimerActive(SpacingTimer))
        {
            _changedWhileSpaced = true;
            return;
        }

        _changedWhileSpaced = false;
        Read();
        Timers.StartSingleTimer(SpacingTimer, SpacingOver.Instance, ServiceDistribution.AttachmentReadSpacing);
    }

    private void Read()
    {
        if (_remoteInstances is not null)
        {
            _clients.Tell(new AttachedHere(_remoteInstances.AttachedHere()));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in _dataplane.Services())
        {
            seen.Add(service.Name);
            if (!_services.TryGetValue(service.Name, out var actors))
            {
                var name = Uri.EscapeDataString(service.Name);
                actors = (
                    Context.ActorOf(ServiceActor.Props(service.Name, _router, _node, _dataplane, _signer), $"service-{name}"),
                    Context.ActorOf(LoadBalancerActor.Props(service.Name, _router, _node, _dataplane, _signer, _refusals), $"load-balancer-{name}"));
                _services[service.Name] = actors;
            }

            actors.Service.Tell(service);
            actors.LoadBalancer.Tell(service);
        }

        foreach (var (name, actors) in _services.Where(s => !seen.Contains(s.Key)))
        {
            var gone = new LocalService(name, [], [], []);
            actors.Service.Tell(gone);
            actors.LoadBalancer.Tell(gone);
        }
    }
}
