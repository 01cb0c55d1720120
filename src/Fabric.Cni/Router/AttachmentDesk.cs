using System.Net;
using System.Text.Json;
using Fabric.Cni.Admin;
using Fabric.Cni.Spec;
using Fabric.Model;

namespace Fabric.Cni.Router;

/// <summary>
/// A router node's attachments (containers the CNI plugin attached) and the admin socket's requests about them. It keeps
/// them in <c>attachments.json</c> in the node's state directory, so a restarted node plugs them in again (those whose
/// device is gone are dropped). Thread-safe: one request at a time.
/// </summary>
public sealed class AttachmentDesk
{
    /// <summary>The file in the state directory that holds the attachments.</summary>
    public const string FileName = "attachments.json";

    private readonly IAttachmentHost _host;
    private readonly string _file;
    private readonly Lock _gate = new();
    private readonly List<Attachment> _attachments = [];

    public AttachmentDesk(IAttachmentHost host, string stateDirectory)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _file = Path.Combine(stateDirectory, FileName);
    }

    /// <summary>The attachments as workloads of this router, for the snapshot compiler.</summary>
    public IReadOnlyList<AttachedWorkload> Workloads
    {
        get
        {
            lock (_gate)
            {
                return [.. _attachments.Select(Workload)];
            }
        }
    }

    public IReadOnlyList<Attachment> Attachments
    {
        get
        {
            lock (_gate)
            {
                return [.. _attachments];
            }
        }
    }

    /// <summary>
    /// Reads the kept attachments and plugs in each one whose device is there and which the committed document still
    /// accepts; returns a line for each one dropped (and keeps the file without them). Call before the first compile.
    /// </summary>
    public IReadOnlyList<string> Restore()
    {
        lock (_gate)
        {
            var dropped = new List<string>();
            if (!File.Exists(_file))
            {
                return dropped;
            }

            List<Attachment> kept;
            try
            {
                kept = JsonSerializer.Deserialize(File.ReadAllText(_file), AdminJson.Default.ListAttachment) ?? [];
            }
            catch (JsonException e)
            {
                return [$"{_file} is not readable ({e.Message}): no attachment restored"];
            }

            foreach (var attachment in kept)
            {
                if (AttachedWorkloads.Problem(_host.Committed, Workload(attachment), _attachments.Select(Workload)) is { } problem)
                {
                    dropped.Add($"attachment {attachment.Name} dropped: {problem}");
                    continue;
                }

                try
                {
                    _host.Plug(attachment.Name);
                    _attachments.Add(attachment);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    dropped.Add($"attachment {attachment.Name} dropped: {e.Message}");
                }
            }

            if (dropped.Count > 0)
            {
                Save();
            }

            return dropped;
        }
    }

    /// <summary>Answers one request of the admin socket.</summary>
    public AdminReply Handle(AdminRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (_gate)
        {
            try
            {
                return request.Op switch
                {
                    "status" => new AdminReply(true) { Router = _host.RouterName },
                    "list" => new AdminReply(true) { Router = _host.RouterName, Attachments = [.. _attachments] },
                    "prepare" => Prepare(request),
                    "attach" => Attach(request.Attachment),
                    "detach" => Detach(request),
                    _ => AdminReply.Refused(CniErrorCode.InvalidNetworkConfig, $"unknown request \"{request.Op}\" (prepare, attach, detach, list, status)"),
                };
            }
            catch (CniException e)
            {
                return AdminReply.Refused(e.Code, e.Message);
            }
        }
    }

    private AdminReply Prepare(AdminRequest request)
    {
        var (containerId, interfaceName) = Owner(request.ContainerId, request.InterfaceName);
        if (_attachments.FirstOrDefault(a => a.Is(containerId, interfaceName)) is { } existing)
        {
            throw Refused($"container {containerId} interface {interfaceName} is attached already (as {existing.Name}): DEL it first");
        }

        var name = request.Name ?? throw Refused("no container name");
        var config = _host.Committed;
        var router = config.FindRouter(_host.RouterName) ?? throw Refused($"router {_host.RouterName} is not in the committed document");
        var hostBased = router.Networks.Where(n => n.Model == NetworkModel.HostBased).ToList();
        var network = request.Network is { } wanted
            ? router.Networks.FirstOrDefault(n => n.Name == wanted) ?? throw Refused($"router {router.Name} has no network \"{wanted}\"")
            : hostBased.Count == 1 ? hostBased[0]
            : throw Refused($"router {router.Name} has {hostBased.Count} host-based networks ({string.Join(", ", hostBased.Select(n => n.Name))}): name one with \"network\" in the configuration");
        var address = request.Address is { } asked
            ? Requested(asked, network)
            : AttachedWorkloads.FreeAddress(config, network, _attachments.Select(Workload))
                ?? throw new CniException(CniErrorCode.RouterRefused, $"network {network.Name} of router {router.Name} has no free IPv4 address");
        var gateway = network.Gateways.First(g => g.IsIPv4 == (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) && g.Contains(address));
        var attachment = new Attachment(
            containerId, interfaceName, name, network.Name, address.ToString(), gateway.Length, gateway.Address.ToString(), request.Tenant, request.Service, request.Mtu ?? network.Mtu);
        if (AttachedWorkloads.Problem(config, Workload(attachment), _attachments.Select(Workload)) is { } problem)
        {
            throw Refused(problem);
        }

        return new AdminReply(true) { Router = router.Name, Attachment = attachment };
    }

    private AdminReply Attach(Attachment? attachment)
    {
        if (attachment is null)
        {
            throw Refused("attach without an attachment");
        }

        Owner(attachment.ContainerId, attachment.InterfaceName);
        if (_attachments.Any(a => a.Is(attachment.ContainerId, attachment.InterfaceName) || a.Name == attachment.Name))
        {
            throw Refused($"{attachment.Name} (container {attachment.ContainerId} interface {attachment.InterfaceName}) is attached already");
        }

        if (AttachedWorkloads.Problem(_host.Committed, Workload(attachment), _attachments.Select(Workload)) is { } problem)
        {
            throw Refused(problem);
        }

        try
        {
            _host.Plug(attachment.Name);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new CniException(CniErrorCode.LinkFailed, $"the router cannot open device {attachment.Name}: {e.Message}");
        }

        _attachments.Add(attachment);
        Save();
        _host.Recompile(_attachments.Select(Workload).ToList());
        return new AdminReply(true) { Router = _host.RouterName, Attachment = attachment };
    }

    private AdminReply Detach(AdminRequest request)
    {
        var (containerId, interfaceName) = Owner(request.ContainerId, request.InterfaceName);
        var attachment = _attachments.FirstOrDefault(a => a.Is(containerId, interfaceName));
        if (attachment is null)
        {
            return new AdminReply(true) { Router = _host.RouterName };
        }

        // Unplugged first: the snapshot compiled next finds the port without its device and ends the sessions that crossed it.
        _host.Unplug(attachment.Name);
        _attachments.Remove(attachment);
        Save();
        _host.Recompile(_attachments.Select(Workload).ToList());
        return new AdminReply(true) { Router = _host.RouterName, Attachment = attachment };
    }

    /// <summary>
    /// The address a container asks for (one that moved here keeps its own, docs/mobility.md "A client moves by the CNI
    /// plugin"): an IPv4 or IPv6 address inside one of <paramref name="network"/>'s gateway prefixes of its family, not a
    /// gateway; whether it is free is judged with the rest (<see cref="AttachedWorkloads.Problem"/>: unique addresses). An
    /// IPv6 address is the container's only one: the plugin gives it one address, of the family asked for.
    /// </summary>
    private static IPAddress Requested(string asked, Network network)
    {
        if (!IPAddress.TryParse(asked, out var address)
            || address.AddressFamily is not (System.Net.Sockets.AddressFamily.InterNetwork or System.Net.Sockets.AddressFamily.InterNetworkV6)
            || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && address.ScopeId != 0))
        {
            throw Refused($"the address asked for, \"{asked}\", is not an IPv4 or IPv6 address");
        }

        var ipv4 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        if (!network.Gateways.Any(g => g.IsIPv4 == ipv4 && g.Contains(address)) || network.Gateways.Any(g => g.Address.Equals(address)))
        {
            throw Refused($"the address asked for, {address}, is not a container address of network {network.Name} ({string.Join(", ", network.Gateways)})");
        }

        return address;
    }

    private AttachedWorkload Workload(Attachment attachment) =>
        new(attachment.Name, _host.RouterName, attachment.Network, IPAddress.Parse(attachment.Address), attachment.Tenant, attachment.Service);

    private static (string, string) Owner(string? containerId, string? interfaceName) =>
        containerId is null || interfaceName is null ? throw Refused("a container id and an interface name are needed") : (containerId, interfaceName);

    private static CniException Refused(string message) => new(CniErrorCode.RouterRefused, message);

    /// <summary>Writes the attachments to the state directory (a new file moved over the old, readable by the node's owner alone).</summary>
    private void Save()
    {
        var temporary = _file + ".new";
        File.WriteAllText(temporary, JsonSerializer.Serialize(_attachments, AdminJson.Default.ListAttachment));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.Move(temporary, _file, overwrite: true);
    }
}
