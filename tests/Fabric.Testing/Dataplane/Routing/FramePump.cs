using Fabric.Dataplane.Routing;

namespace Fabric.Tests.Dataplane.Routing;

/// <summary>Drives in-memory routers and test hosts in rounds until no frame moves.</summary>
public static class FramePump
{
    /// <summary>
    /// Runs every router once and lets every host answer, round after round, until a round moves nothing; fails
    /// the test after <paramref name="maxRounds"/> rounds, so a forwarding loop fails instead of hanging.
    /// </summary>
    public static void Run(ForwardingEngine[] routers, TestHost[] hosts, int maxRounds = 200)
    {
        for (var round = 0; round < maxRounds; round++)
        {
            var moved = 0;
            foreach (var router in routers)
            {
                moved += router.RunOnce();
            }

            foreach (var host in hosts)
            {
                moved += host.Process();
            }

            if (moved == 0)
            {
                return;
            }
        }

        Assert.Fail($"frames kept moving after {maxRounds} rounds");
    }
}
