using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Fabric.Cni.Admin;

namespace Fabric.Tests.Cni;

/// <summary>
/// The admin socket's JSON (<see cref="AdminJson"/>, generated at build time): the bytes on the wire, held equal to what the
/// reflection serializer writes with the web defaults and nulls left out (the protocol's form before the context), so a
/// plugin and a router of either build understand each other.
/// </summary>
public sealed class AdminJsonTests
{
    /// <summary>The admin protocol's form as the reflection serializer writes it: the oracle.</summary>
    private static readonly JsonSerializerOptions Reflection = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    private static readonly Attachment Web1 = new("c0ffee", "eth0", "web1<x>", "hosts", "10.20.1.10", 24, "10.20.1.1", "engineering", null, 1500);

    [Fact]
    public void Reply_WithAttachments_IsTheWireFormPinned()
    {
        var reply = new AdminReply(true) { Router = "br1", Attachment = Web1, Attachments = [Web1 with { Name = "é", Tenant = null, Service = "web" }] };

        var json = JsonSerializer.Serialize(reply, AdminJson.Default.AdminReply);

        Assert.Equal(
            """{"ok":true,"code":0,"router":"br1","attachment":{"containerId":"c0ffee","interfaceName":"eth0","name":"web1\u003Cx\u003E","network":"hosts","address":"10.20.1.10","prefixLength":24,"gateway":"10.20.1.1","tenant":"engineering","mtu":1500,"isIpv6":false},"attachments":[{"containerId":"c0ffee","interfaceName":"eth0","name":"\u00E9","network":"hosts","address":"10.20.1.10","prefixLength":24,"gateway":"10.20.1.1","service":"web","mtu":1500,"isIpv6":false}]}""",
            json);
        Assert.Equal(JsonSerializer.Serialize(reply, Reflection), json);
    }

    [Fact]
    public void RequestAndRefusal_AreWhatTheReflectionSerializerWrites()
    {
        var request = new AdminRequest("prepare") { ContainerId = "c0ffee", InterfaceName = "eth0", Name = "web1", Mtu = 9000, Address = "fd00::10" };
        var refusal = AdminReply.Refused(Fabric.Cni.Spec.CniErrorCode.DecodeFailure, "the request is not JSON: 'x' is \"bad\"");

        Assert.Equal(
            """{"op":"prepare","containerId":"c0ffee","interfaceName":"eth0","name":"web1","mtu":9000,"address":"fd00::10"}""",
            JsonSerializer.Serialize(request, AdminJson.Default.AdminRequest));
        Assert.Equal(JsonSerializer.Serialize(request, Reflection), JsonSerializer.Serialize(request, AdminJson.Default.AdminRequest));
        Assert.Equal(JsonSerializer.Serialize(refusal, Reflection), JsonSerializer.Serialize(refusal, AdminJson.Default.AdminReply));
        Assert.Equal(
            JsonSerializer.Serialize(new List<Attachment> { Web1 }, Reflection),
            JsonSerializer.Serialize(new List<Attachment> { Web1 }, AdminJson.Default.ListAttachment));
    }

    [Fact]
    public void Request_NamesInAnyCaseAndNumbersAsStrings_ReadAsTheWebDefaultsRead()
    {
        const string line = """{"OP":"attach","attachment":{"ContainerId":"c0ffee","interfaceName":"eth0","name":"web1","network":"hosts","address":"10.20.1.10","prefixLength":"24","gateway":"10.20.1.1","mtu":1500,"isIpv6":true},"unknown":[1]}""";

        var request = JsonSerializer.Deserialize(line, AdminJson.Default.AdminRequest);

        Assert.Equal(JsonSerializer.Deserialize<AdminRequest>(line, Reflection), request);
        Assert.Equal("attach", request!.Op);
        Assert.Equal(Web1 with { Name = "web1", Tenant = null }, request.Attachment);
    }

    [Fact]
    public void TypeNotInTheContext_IsRefused_NotSerializedByReflection()
    {
        // A router that serialized some other type by reflection would load System.Text.Json's reflection machinery
        // (over a thousand types at rest, docs/benchmarks.md "Memory, 2026-12-06, JSON and regex").
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(new Dictionary<string, object> { ["a"] = 1 }, AdminJson.Default.Options));
    }
}
