using System.Collections;
using System.Reflection;
using System.Text.Json.Serialization;
using Fabric.Router;
using Fabric.Http;
using Fabric.Tests.Support;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Fabric.Tests.Deploy;

/// <summary>
/// deploy/kubernetes as `kubectl apply -k` reads it, without a cluster. Every object loads strictly into the
/// Kubernetes API's own models (the KubernetesClient package: a known apiVersion and kind, no field the API does not
/// have at any depth, every value of its type, no key twice) and has the fields the API requires; and what a user
/// would meet: the kustomization names files that exist (or that make-secrets.sh makes), every ConfigMap and Secret a
/// pod uses is one it generates, with the key asked for; the image, command lines and runtime settings are those of
/// the Dockerfile, docker-compose.yml and the systemd units; nothing is privileged, only the router is on the host's
/// network, every container drops every capability and the router adds only compose's; no component may call the
/// Kubernetes API.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Manifests = Path.Combine("deploy", "kubernetes");

    public static TheoryData<string> Resources => [.. Kustomization.Resources];

    [Theory]
    [MemberData(nameof(Resources))]
    public void Manifest_LoadsStrictlyIntoTheKubernetesModels_WithEveryRequiredField(string resource)
    {
        var objects = KubernetesYaml.LoadAllFromString(Repository.Read(Path.Combine(Manifests, resource)), typeMap: null, strict: true);

        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.False(string.IsNullOrEmpty(((IMetadata<V1ObjectMeta>)o).Metadata?.Name), $"{resource}: an object without metadata.name"));
        var missing = objects.SelectMany(o => MissingRequiredFields(o, $"{resource}:{o.GetType().Name}")).ToList();
        Assert.True(missing.Count == 0, "missing: " + string.Join(", ", missing));
    }

    /// <summary>The validator can fail: a misspelled field deep in a pod template, or a kind the API does not have, is refused.</summary>
    [Theory]
    [InlineData("imagePullPolicy: IfNotPresent", "imagePulPolicy: IfNotPresent")]
    [InlineData("add: [NET_ADMIN, NET_RAW]", "ad: [NET_ADMIN, NET_RAW]")]
    [InlineData("kind: DaemonSet", "kind: DaemonSett")]
    [InlineData("{ maxUnavailable: 1 }", "{ maxUnavailable: 1, maxUnavailable: 2 }")]
    public void StrictLoad_RefusesWhatTheApiWouldNot(string shipped, string broken)
    {
        var text = Repository.Read(Path.Combine(Manifests, "router", "router.yaml"));
        Assert.Contains(shipped, text, StringComparison.Ordinal);

        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(text.Replace(shipped, broken, StringComparison.Ordinal), typeMap: null, strict: true));
    }

    private const string NamedRouter = "- name: router\n          image:";

    [Fact]
    public void RequiredFields_AMissingOneIsReported()
    {
        var text = Repository.Read(Path.Combine(Manifests, "router", "router.yaml"));
        Assert.Contains(NamedRouter, text, StringComparison.Ordinal);
        var objects = KubernetesYaml.LoadAllFromString(text.Replace(NamedRouter, "- image:", StringComparison.Ordinal), typeMap: null, strict: true);

        Assert.Contains(objects.SelectMany(o => MissingRequiredFields(o, "router")), m => m.EndsWith("containers[0].name", StringComparison.Ordinal));
    }

    [Fact]
    public void Kustomization_NamesFilesThatExist_OrThatMakeSecretsMakes()
    {
        var made = Directory.CreateTempSubdirectory("fabric-k8s-secrets-").FullName;
        try
        {
            var fabric = string.Join(' ', FabricExecutable.CommandLine());
            var run = ExternalCommand.Run(TimeSpan.FromMinutes(2), "env", $"FABRIC={fabric}", "sh", Repository.PathOf(Path.Combine(Manifests, "make-secrets.sh")), made);
            Assert.True(run.Succeeded, run.ToString());

            Assert.All(Kustomization.Resources, r => Assert.True(File.Exists(Repository.PathOf(Path.Combine(Manifests, r))), r));
            foreach (var file in Kustomization.Generators.SelectMany(g => g.Files.Values))
            {
                var exists = file.StartsWith("secrets/", StringComparison.Ordinal)
                    ? File.Exists(Path.Combine(made, file["secrets/".Length..]))
                    : File.Exists(Repository.PathOf(Path.Combine(Manifests, file)));
                Assert.True(exists, $"{file}: named by kustomization.yaml, neither in the repository nor made by make-secrets.sh");
            }

            // The routers' --conductor-key comes from conductor.pub through an environment variable: one line, no newline.
            Assert.DoesNotContain('\n', File.ReadAllText(Path.Combine(made, "conductor.pub")));
            Assert.Contains("secrets/", Repository.Read(Path.Combine(Manifests, ".gitignore")).Split('\n'));
        }
        finally
        {
            Directory.Delete(made, recursive: true);
        }
    }

    [Fact]
    public void Pods_UseOnlyConfigMapsAndSecretsTheKustomizationMakes_WithTheKeysTheyAskFor()
    {
        var generated = Kustomization.Generators.ToDictionary(g => (g.Kind, g.Name), g => g.Files.Keys.ToHashSet());
        foreach (var (name, pod, claims) in PodTemplates())
        {
            foreach (var volume in pod.Spec.Volumes ?? [])
            {
                if (volume.ConfigMap is { } configMap)
                {
                    Assert.True(generated.ContainsKey(("configmap", configMap.Name)), $"{name}: ConfigMap {configMap.Name}");
                }

                if (volume.Secret is { } secret)
                {
                    Assert.True(generated.ContainsKey(("secret", secret.SecretName)), $"{name}: Secret {secret.SecretName}");
                }
            }

            foreach (var container in Containers(pod))
            {
                foreach (var source in (container.Env ?? []).Select(e => e.ValueFrom).OfType<V1EnvVarSource>())
                {
                    if (source.ConfigMapKeyRef is { } c)
                    {
                        Assert.Contains(c.Key, generated.GetValueOrDefault(("configmap", c.Name)) ?? []);
                    }

                    if (source.SecretKeyRef is { } s)
                    {
                        Assert.Contains(s.Key, generated.GetValueOrDefault(("secret", s.Name)) ?? []);
                    }
                }

                var volumes = (pod.Spec.Volumes ?? []).Select(v => v.Name).Concat(claims).ToHashSet();
                Assert.All(container.VolumeMounts ?? [], m => Assert.Contains(m.Name, volumes));

                // A script a container runs from the fabric-scripts ConfigMap is one it holds.
                var scripts = (container.VolumeMounts ?? []).FirstOrDefault(m => (pod.Spec.Volumes ?? []).Any(v => v.Name == m.Name && v.ConfigMap?.Name == "fabric-scripts"));
                foreach (var argument in (container.Command ?? []).Where(a => scripts is not null && a.StartsWith(scripts.MountPath + "/", StringComparison.Ordinal)))
                {
                    Assert.Contains(argument[(scripts!.MountPath.Length + 1)..], generated[("configmap", "fabric-scripts")]);
                }
            }
        }
    }

    [Fact]
    public void Images_AreTheComposeImage_AndTheKustomizationNamesIt()
    {
        var compose = (YamlMappingNode)Load(Repository.Read("docker-compose.yml"))["x-fabric"];
        var composeImage = compose["image"].ToString();
        var (name, tag) = (composeImage[..composeImage.LastIndexOf(':')], composeImage[(composeImage.LastIndexOf(':') + 1)..]);

        Assert.All(PodTemplates().SelectMany(p => Containers(p.Pod)), c => Assert.Equal(name, c.Image));
        Assert.Contains((name, tag), Kustomization.Images);
    }

    [Theory]
    [InlineData("router", "fabric-router@.service")]
    [InlineData("conductor", "fabric-conductor.service")]
    public void CommandLines_AreTheFabricCommand_WithTheOptionsTheSystemdUnitPasses(string verb, string unit)
    {
        var container = PodTemplates().SelectMany(p => p.Pod.Spec.Containers).Single(c => c.Name == verb);
        var systemd = Repository.Read(Path.Combine("deploy", "systemd", unit)).Split('\n').Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal))
            .Split(' ').Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToHashSet();
        var help = FabricCommand.Run(verb, "--help");
        Assert.True(help.Succeeded, help.ToString());

        Assert.Equal(["fabric"], container.Command);
        Assert.Equal(verb, container.Args[0]);
        var options = container.Args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToHashSet();
        Assert.All(options, o => Assert.Contains($"  {o} ", help.Output, StringComparison.Ordinal));
        Assert.Superset(systemd, options);
    }

    /// <summary>The router starts with the same runtime settings as one the lab, compose or systemd starts (its memory figures hold).</summary>
    [Fact]
    public void Router_SetsTheRouterRuntimeSettings()
    {
        var router = PodTemplates().SelectMany(p => p.Pod.Spec.Containers).Single(c => c.Name == "router");

        Assert.All(FabricExecutable.RouterRuntime, setting => Assert.Contains(router.Env, e => $"{e.Name}={e.Value}" == setting));
    }

    [Fact]
    public void Pods_AreNotPrivileged_OnlyTheRouterIsOnTheHostNetwork_AndCapabilitiesAreDroppedButCompose()
    {
        var compose = (YamlMappingNode)Load(Repository.Read("docker-compose.yml"))["x-router"];
        var routerCapabilities = ((YamlSequenceNode)compose["cap_add"]).Select(n => n.ToString()).Order().ToList();

        foreach (var (name, pod, _) in PodTemplates())
        {
            Assert.True(pod.Spec.HostNetwork != true || name == "fabric-router", $"{name} is on the host's network");
            Assert.NotEqual(true, pod.Spec.HostPID);
            Assert.NotEqual(true, pod.Spec.HostIPC);
            Assert.False(pod.Spec.AutomountServiceAccountToken, $"{name} mounts a Kubernetes API token");
            foreach (var container in Containers(pod))
            {
                var security = container.SecurityContext;
                Assert.NotNull(security);
                Assert.NotEqual(true, security.Privileged);
                Assert.False(security.AllowPrivilegeEscalation, $"{name}/{container.Name}");
                Assert.Equal(["ALL"], security.Capabilities.Drop);
                var added = (security.Capabilities.Add ?? []).Order().ToList();
                Assert.Equal(container.Name == "router" ? routerCapabilities : [], added);
                Assert.True(container.Name == "router" || container.Name == "install-cni" || RunsAsUser(pod, container) == 10001, $"{name}/{container.Name} runs as root");
            }
        }

        Assert.Contains("fabric-router", PodTemplates().Where(p => p.Pod.Spec.HostNetwork == true).Select(p => p.Name));
    }

    [Fact]
    public void ServiceAccounts_HaveNoRoleAndNoToken()
    {
        var objects = Objects().ToList();

        Assert.DoesNotContain(objects, o => o is V1Role or V1ClusterRole or V1RoleBinding or V1ClusterRoleBinding);
        var accounts = objects.OfType<V1ServiceAccount>().ToList();
        Assert.All(accounts, a => Assert.False(a.AutomountServiceAccountToken, a.Metadata.Name));
        Assert.All(PodTemplates(), p => Assert.Contains(p.Pod.Spec.ServiceAccountName, accounts.Select(a => a.Metadata.Name)));
    }

    /// <summary>Every long-running container is probed on the endpoints the compose health checks use, and asks for what it needs.</summary>
    [Fact]
    public void Containers_HaveProbesAndResources()
    {
        foreach (var (name, pod) in LongRunningPodTemplates())
        {
            foreach (var container in pod.Spec.Containers)
            {
                Assert.NotNull(container.ReadinessProbe);
                Assert.NotNull(container.LivenessProbe);
                if (container.ReadinessProbe.HttpGet is { } ready)
                {
                    Assert.Equal(NodeHttp.ReadyPath, ready.Path);
                    Assert.Equal(NodeHttp.HealthPath, container.LivenessProbe.HttpGet.Path);
                }

                Assert.True(container.Resources?.Requests?.ContainsKey("memory") == true, $"{name}/{container.Name}");
                Assert.True(container.Resources?.Limits?.ContainsKey("memory") == true, $"{name}/{container.Name}");
            }
        }
    }

    [Fact]
    public void Document_IsAValidFabricDocument()
    {
        var validate = FabricCommand.Run("config", "validate", Repository.PathOf(Path.Combine(Manifests, "fabric.conf")));

        Assert.True(validate.Succeeded, validate.ToString());
    }

    [Fact]
    public void Scripts_AreValidShell()
    {
        var scripts = Directory.GetFiles(Repository.PathOf(Manifests), "*.sh", SearchOption.AllDirectories);

        Assert.NotEmpty(scripts);
        Assert.All(scripts, s => Assert.True(ExternalCommand.Run("sh", "-n", s).Succeeded, s));
    }

    private static long? RunsAsUser(V1PodTemplateSpec pod, V1Container container) =>
        container.SecurityContext?.RunAsUser ?? pod.Spec.SecurityContext?.RunAsUser;

    private static IEnumerable<V1Container> Containers(V1PodTemplateSpec pod) => [.. pod.Spec.InitContainers ?? [], .. pod.Spec.Containers];

    /// <summary>Every pod template of the manifests: its workload's name, the template, and the volumes its workload claims for it.</summary>
    private static IEnumerable<(string Name, V1PodTemplateSpec Pod, IReadOnlyList<string> Claims)> PodTemplates() =>
        Objects().SelectMany<object, (string, V1PodTemplateSpec, IReadOnlyList<string>)>(o => o switch
            {
                V1DaemonSet d => [(d.Metadata.Name, d.Spec.Template, [])],
                V1StatefulSet s => [(s.Metadata.Name, s.Spec.Template, [.. (s.Spec.VolumeClaimTemplates ?? []).Select(c => c.Metadata.Name)])],
                V1Deployment d => [(d.Metadata.Name, d.Spec.Template, [])],
                V1Job j => [(j.Metadata.Name, j.Spec.Template, [])],
                _ => [],
            });

    /// <summary>The pod templates of workloads that run until stopped (not Jobs).</summary>
    private static IEnumerable<(string Name, V1PodTemplateSpec Pod)> LongRunningPodTemplates() =>
        PodTemplates().Where(p => !Objects().OfType<V1Job>().Any(j => j.Metadata.Name == p.Name)).Select(p => (p.Name, p.Pod));

    private static IEnumerable<object> Objects() =>
        Kustomization.Resources.SelectMany(r => KubernetesYaml.LoadAllFromString(Repository.Read(Path.Combine(Manifests, r)), typeMap: null, strict: true));

    /// <summary>
    /// The fields the Kubernetes API requires (its OpenAPI "required" lists) of every model type these manifests use: the
    /// client's models do not carry them. A type met here without an entry fails the test, so a new kind of object or
    /// field brings its required fields along.
    /// </summary>
    private static readonly Dictionary<Type, string[]> RequiredFields = new()
    {
        [typeof(V1Namespace)] = [], [typeof(V1ServiceAccount)] = [], [typeof(V1Service)] = [], [typeof(V1ServiceSpec)] = [],
        [typeof(V1DaemonSet)] = [], [typeof(V1StatefulSet)] = [], [typeof(V1Job)] = [], [typeof(V1NetworkPolicy)] = [],
        [typeof(V1ObjectMeta)] = [], [typeof(V1LabelSelector)] = [], [typeof(V1PodTemplateSpec)] = [],
        [typeof(V1DaemonSetSpec)] = ["selector", "template"], [typeof(V1StatefulSetSpec)] = ["selector", "template"],
        [typeof(V1JobSpec)] = ["template"], [typeof(V1PodSpec)] = ["containers"], [typeof(V1Container)] = ["name"],
        [typeof(V1DaemonSetUpdateStrategy)] = [], [typeof(V1RollingUpdateDaemonSet)] = [],
        [typeof(V1EnvVar)] = ["name"], [typeof(V1EnvVarSource)] = [], [typeof(V1ObjectFieldSelector)] = ["fieldPath"],
        [typeof(V1ConfigMapKeySelector)] = ["key"], [typeof(V1SecretKeySelector)] = ["key"],
        [typeof(V1SecurityContext)] = [], [typeof(V1PodSecurityContext)] = [], [typeof(V1Capabilities)] = [],
        [typeof(V1SeccompProfile)] = ["type"], [typeof(V1Toleration)] = [],
        [typeof(V1ContainerPort)] = ["containerPort"], [typeof(V1ServicePort)] = ["port"],
        [typeof(V1Probe)] = [], [typeof(V1HTTPGetAction)] = ["port"], [typeof(V1ExecAction)] = [],
        [typeof(V1ResourceRequirements)] = [], [typeof(V1VolumeMount)] = ["name", "mountPath"], [typeof(V1Volume)] = ["name"],
        [typeof(V1ConfigMapVolumeSource)] = [], [typeof(V1SecretVolumeSource)] = [], [typeof(V1EmptyDirVolumeSource)] = [],
        [typeof(V1HostPathVolumeSource)] = ["path"], [typeof(V1PersistentVolumeClaim)] = [], [typeof(V1PersistentVolumeClaimSpec)] = [],
        [typeof(V1VolumeResourceRequirements)] = [], [typeof(V1NetworkPolicySpec)] = [], [typeof(V1NetworkPolicyIngressRule)] = [],
        [typeof(V1NetworkPolicyPeer)] = [], [typeof(V1NetworkPolicyPort)] = [],
    };

    /// <summary>Every required field <paramref name="value"/> and the objects under it leave out, as a path; a model type without an entry in <see cref="RequiredFields"/> is reported too.</summary>
    private static IEnumerable<string> MissingRequiredFields(object value, string path)
    {
        var type = value.GetType();
        // Values written as one scalar (a port name or number, a quantity) have no fields of their own.
        if (type.Namespace != typeof(V1Pod).Namespace || value is IntOrString or ResourceQuantity)
        {
            yield break;
        }

        if (!RequiredFields.TryGetValue(type, out var required))
        {
            yield return $"{path}: {type.Name} has no entry in RequiredFields";
            yield break;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var json = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? property.Name;
            var child = property.GetValue(value);
            if (child is null)
            {
                if (required.Contains(json))
                {
                    yield return $"{path}.{json}";
                }

                continue;
            }

            if (child is IList list)
            {
                for (var i = 0; i < list.Count; i++)
                {
                    foreach (var missing in MissingRequiredFields(list[i]!, $"{path}.{json}[{i}]"))
                    {
                        yield return missing;
                    }
                }
            }
            else if (child is not IDictionary)
            {
                foreach (var missing in MissingRequiredFields(child, $"{path}.{json}"))
                {
                    yield return missing;
                }
            }
        }
    }

    private static YamlMappingNode Load(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    /// <summary>What kustomization.yaml names: its resources, generators (kind, name, key → file) and images (name, tag).</summary>
    private static class Kustomization
    {
        private static readonly YamlMappingNode Root = Load(Repository.Read(Path.Combine(Manifests, "kustomization.yaml")));

        public static IReadOnlyList<string> Resources { get; } = [.. ((YamlSequenceNode)Root["resources"]).Select(n => n.ToString())];

        public static IReadOnlyList<(string Name, string Tag)> Images { get; } =
            [.. ((YamlSequenceNode)Root["images"]).Cast<YamlMappingNode>().Select(i => (i["name"].ToString(), i["newTag"].ToString()))];

        public static IReadOnlyList<(string Kind, string Name, IReadOnlyDictionary<string, string> Files)> Generators { get; } =
        [
            .. Generated("configMapGenerator", "configmap"),
            .. Generated("secretGenerator", "secret"),
        ];

        private static IEnumerable<(string, string, IReadOnlyDictionary<string, string>)> Generated(string section, string kind) =>
            ((YamlSequenceNode)Root[section]).Cast<YamlMappingNode>().Select(g => (kind, g["name"].ToString(),
                (IReadOnlyDictionary<string, string>)((YamlSequenceNode)g["files"]).Select(f => f.ToString())
                    .ToDictionary(f => f.Contains('=') ? f[..f.IndexOf('=')] : Path.GetFileName(f), f => f.Contains('=') ? f[(f.IndexOf('=') + 1)..] : f)));
    }
}
