using Fabric.Lab;

namespace Fabric.Tests.Lab;

/// <summary>Which names a lab may have (no namespaces needed).</summary>
public sealed class LabLayoutTests
{
    [Theory]
    [InlineData("lab")]
    [InlineData("soak")]
    [InlineData("t12345")]
    [InlineData("My_Lab_2")]
    [InlineData("x1234567890123456789012345678901")]
    public void NameProblem_LettersDigitsUnderscore_Accepted(string name)
    {
        Assert.Null(LabLayout.NameProblem(name));
        Assert.Equal(name, new LabLayout(name, "/var/lib/fabric/lab").Name);
    }

    [Theory]
    [InlineData("../../../run")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("a-b")]
    [InlineData("")]
    [InlineData("_lab")]
    [InlineData("a b")]
    [InlineData("x12345678901234567890123456789012")]
    public void NameProblem_AnythingElse_RefusedWithTheRule(string name)
    {
        Assert.Equal(
            $"\"{name}\" cannot name a lab: give 1 to 32 letters, digits or '_', starting with a letter or digit " +
            "(no '/', '.' or '-': the name becomes a directory under the state root and the prefix of the lab's namespaces)",
            LabLayout.NameProblem(name));
        Assert.Throws<LabException>(() => new LabLayout(name, "/var/lib/fabric/lab"));
    }
}
