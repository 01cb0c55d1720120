#!/usr/bin/env bash
# scripts/publish-router.sh OUT: the router's lean publish into OUT (docs/deploy.md "The router's lean publish"): the
# fabric command, self-contained, its .NET runtime trimmed and precompiled again. A lab starts its routers from
# router/fabric beside the fabric.dll it runs when that publish is there and not older (FabricExecutable.LeanRouter):
# ./fabric makes artifacts/cli/router, scripts/test.sh the privileged tests' one.
# The publish is made beside OUT and put in its place by renaming, so OUT is never half written: routers still running
# from the old one keep their files, and an interrupted publish leaves the old one (or none) in place.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: scripts/publish-router.sh OUT}"
out="${out%/}"
next="$out.next"
rm -rf "$next"
dotnet publish "$root/src/Fabric.Cli/Fabric.Cli.csproj" -c Release -p:FabricRouterPublish=true -o "$next" -nologo -v quiet
touch "$next/fabric.dll"
rm -rf "$out.old"
[ -e "$out" ] && mv "$out" "$out.old"
mv "$next" "$out"
rm -rf "$out.old"
