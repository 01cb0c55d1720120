namespace Fabric.Tests.Config;

/// <summary>A document with several kinds of mistake at once: each is reported, once, with its place.</summary>
public class SeveralMistakesTests
{
    private const string Broken = """
        fabric {
          tenants {
            engineering { members = ["10.1.0.0/16"] }
            guest { members = ["10.2.0.0/33"] }
          }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [enginering, guest]
              policy = gold
              instances = [{ container = web1 }]
            }
            web {
              addresses = ["10.200.0.81/32"]
            }
          }
          routers {
            dc1 {
              nodes { dc1a { managment-address = "10.99.0.11" } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24"]
                  containers { web1 { addresses = ["10.10.1.11"] } }
                }
              }
            }
          }
          conductor { addresses = ["10.99.0.2"], api-port = @8480 }
        }
        """;

    [Fact]
    public void Load_SeveralMistakes_OneLinePerMistakeInSourceOrder() => Assert.Equal(
        [
            "fabric.tenants.guest.members[0]: \"10.2.0.0/33\" is not an IP prefix: expected an address and a length such as \"10.1.0.0/16\" or \"fd00:1::/48\" (line 4)",
            "fabric.services.web.access[0]: unknown tenant \"enginering\"; did you mean \"engineering\"? (line 10)",
            "fabric.services.web.policy: unknown service policy \"gold\" (line 11)",
            "fabric.services.web: defined twice (first at line 7); a name may be defined once (line 14)",
            "fabric.routers.dc1.nodes.dc1a.managment-address: unknown key \"managment-address\"; did you mean \"management-address\"? (line 20)",
            "line 29, column 53: unexpected character '@'",
        ],
        Documents.Errors(Broken));
}
