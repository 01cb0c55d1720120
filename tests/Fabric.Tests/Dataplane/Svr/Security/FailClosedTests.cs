using Fabric.Dataplane.Svr.Security;
using Fabric.Model;

namespace Fabric.Tests.Dataplane.Svr.Security;

public class FailClosedTests
{
    [Fact]
    public void FailClosed_EncryptionRequiredWithoutKeys_HoldsOrRefuses() =>
        Assert.Equal(SealDecision.HoldOrRefuse, FailClosed.Decide(EncryptionMode.Required, keysReady: false));

    [Fact]
    public void FailClosed_EncryptionRequiredWithKeys_Seals() =>
        Assert.Equal(SealDecision.Seal, FailClosed.Decide(EncryptionMode.Required, keysReady: true));

    [Fact]
    public void FailClosed_EncryptionNotRequired_SendsPlainWithOrWithoutKeys()
    {
        Assert.Equal(SealDecision.SendPlain, FailClosed.Decide(EncryptionMode.None, keysReady: false));
        Assert.Equal(SealDecision.SendPlain, FailClosed.Decide(EncryptionMode.None, keysReady: true));
    }

    [Fact]
    public void FailClosed_UnknownMode_HoldsOrRefuses() =>
        Assert.Equal(SealDecision.HoldOrRefuse, FailClosed.Decide((EncryptionMode)99, keysReady: true));
}
