using Fabric.Actors.Cluster;
using Fabric.Router;

namespace Fabric.Tests.Router;

/// <summary>A router removed from the cluster joins again; a join that fails is reported and tried again, the router forwarding meanwhile.</summary>
public sealed class JoinAgainTests
{
    [Fact]
    public void AJoinThatFails_IsReportedAndTriedAgain_UntilOneSucceeds()
    {
        using var stop = new ManualResetEvent(false);
        using var node = new FabricNode(new FabricNodeSetup(Akka.Configuration.Config.Empty, null), _ => { });
        var attempts = 0;
        var failures = new List<string>();

        var joined = RouterNodeRunner.JoinAgain(
            () => ++attempts < 3 ? throw new IOException($"the cluster port is held ({attempts})") : node, stop, failures.Add, TimeSpan.FromMilliseconds(10));

        Assert.Same(node, joined);
        Assert.Equal(3, attempts);
        Assert.Equal(["the cluster port is held (1)", "the cluster port is held (2)"], failures);
    }

    [Fact]
    public void StoppedWhileItWaitsToTryAgain_GivesUp()
    {
        using var stop = new ManualResetEvent(false);
        var attempts = 0;

        var joined = RouterNodeRunner.JoinAgain(
            () =>
            {
                attempts++;
                stop.Set();
                throw new IOException("the cluster port is held");
            },
            stop,
            _ => { },
            TimeSpan.FromMinutes(10));

        Assert.Null(joined);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public void Reason_OfAFailedStart_SaysWhatFailedAndWhy_WithoutTheTasksWrappers()
    {
        var bind = new InvalidOperationException("Failed to bind to [127.0.0.2:25520].", new System.Net.Sockets.SocketException(98));
        var failure = new AggregateException(new AggregateException(bind));

        Assert.Equal($"Failed to bind to [127.0.0.2:25520]. / {new System.Net.Sockets.SocketException(98).Message}", RouterNodeRunner.Reason(failure));
        Assert.Equal("the cluster port is held", RouterNodeRunner.Reason(new IOException("the cluster port is held")));
    }
}
