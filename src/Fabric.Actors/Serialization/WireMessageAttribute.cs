namespace Fabric.Actors.Serialization;

/// <summary>
/// Marks a message type that may cross the network, under a stable manifest name. Only marked types
/// are (de)serialized by <see cref="FabricSerializer"/>: the mark is the allow-list. Bump the
/// manifest's version suffix when the shape changes incompatibly.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class WireMessageAttribute(string manifest) : Attribute
{
    public string Manifest { get; } = manifest;
}
