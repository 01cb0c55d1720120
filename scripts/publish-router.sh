#!/usr/bin/env bash
# scripts/publish-router.sh OUT: the router's lean publish into OUT (docs/deploy.md "The router's lean publish"): the
# fabric command, self-contained, its .NET runtime trimmed and precompiled again. A lab starts its routers from
# router/fabric beside the fabric.dll it runs when that publish is there and not older (FabricExecutable.RouterCommandLine):
# ./fabric makes artifacts/cli/router, scripts/test.sh the privileged tests' one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: scripts/publish-router.sh OUT}"
dotnet publish "$root/src/Fabric.Cli/Fabric.Cli.csproj" -c Release -p:FabricRouterPublish=true -o "$out" -nologo -v quiet
touch "$out/fabric.dll"
