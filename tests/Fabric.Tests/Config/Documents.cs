using Fabric.Config;
using Fabric.Model;

namespace Fabric.Tests.Config;

/// <summary>A small valid document to break one thing at a time, and helpers to load text.</summary>
public static class Documents
{
    public const string Valid = """
        fabric {
          tenants {
            engineering { members = ["10.1.0.0/16"] }
            "dev.engineering" {}
            guest {}
          }
          services {
            web {
              addresses = ["10.200.0.80/32"]
              transports = [{ protocol = tcp, ports = ["80"] }]
              access = [engineering, guest]
              policy = standard
              instances = [{ container = web1 }]
            }
          }
          service-policies {
            standard { load-balancing = hunt }
          }
          neighborhoods { wan {} }
          routers {
            dc1 {
              nodes { dc1a { management-address = "10.99.0.11" } }
              interfaces { wan0 { addresses = ["172.16.0.1/24"], neighborhoods = [wan] } }
              networks {
                svc {
                  gateways = ["10.10.1.1/24"]
                  containers { web1 { addresses = ["10.10.1.11"] } }
                }
              }
            }
          }
        }
        """;

    /// <summary>The valid document with one piece of text replaced; fails if the piece is not there.</summary>
    public static string With(string find, string replace)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);
        return Valid.Replace(find, replace, StringComparison.Ordinal);
    }

    public static FabricConfig LoadValid(string text)
    {
        var result = FabricConfigLoader.Load(text);
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        return result.Config!;
    }

    /// <summary>Every error line of a document that must be invalid.</summary>
    public static IReadOnlyList<string> Errors(string text)
    {
        var result = FabricConfigLoader.Load(text);
        Assert.False(result.IsValid, "the document was accepted");
        return [.. result.Errors.Select(e => e.ToString())];
    }
}
