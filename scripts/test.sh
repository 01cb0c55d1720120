#!/usr/bin/env bash
# Installs what the tests need, builds everything (0 warnings), runs every test of both test projects, and ends with
# the line "N passed, N failed": the sum of the two runs' own summaries. Exit 0 only if all pass.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Debian packages the tests use; installed only when missing (needs root, as CI is).
# ip and ss, ping, sysctl (procps), python3 (servers in lab containers), curl and iperf3 (real clients through the lab's
# routers), tcpdump (captures on lab links), PostgreSQL (conductor persistence tests), the Prometheus client's text-format
# parser for Debian's python3 (the /metrics tests read the exposition with it), Chromium (the dashboard's browser test drives
# Debian's /usr/bin/chromium with Playwright; no browser is ever downloaded), systemd-analyze (verifies deploy/systemd),
# nft (the two-WAN lab test loses frames on a wire with it), containernetworking-plugins (the CNI lab test chains Debian's
# bandwidth plugin after ours) and util-linux (nsenter: the CNI plugin configures the container's side with it).
packages=(iproute2 iputils-ping procps python3 curl iperf3 tcpdump postgresql python3-prometheus-client chromium systemd nftables containernetworking-plugins util-linux)
if [ ${#packages[@]} -gt 0 ]; then
  missing=()
  for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# A throwaway PostgreSQL database for the conductor's persistence tests.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1" "$2}')
  [ -n "$cluster" ] && pg_ctlcluster $cluster start >/dev/null 2>&1 || true
  su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='fabric') THEN CREATE ROLE fabric LOGIN PASSWORD 'fabric'; END IF; END\\\$\\\$;\"" >/dev/null
  su postgres -c "dropdb --if-exists fabric_test && createdb -O fabric fabric_test" >/dev/null
  export FABRIC_TEST_POSTGRES="Host=127.0.0.1;Username=fabric;Password=fabric;Database=fabric_test"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "== build (Release, warnings are errors)"
if ! dotnet build Fabric.sln -c Release -nologo -v quiet -clp:Summary 2>&1 | tee -a "$log" | tail -n 5; then :; fi
if ! grep -qE '^\s*0 Error\(s\)' "$log"; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# The router's lean publish beside the privileged tests' fabric.dll: their labs start routers from it, as ./fabric's lab
# does (FabricExecutable.LeanRouter).
echo "== the router's lean publish"
if ! scripts/publish-router.sh tests/Fabric.Tests.Privileged/bin/Release/net10.0/router >"$log" 2>&1; then
  cat "$log"
  echo "the router's publish failed"
  echo "0 passed, 1 failed"
  exit 1
fi

# The unit tests (any user), then the tests that need root (namespaces, veths, AF_PACKET, real processes and labs).
# Each project's run prints its own summary; the last line adds them up.
projects=(tests/Fabric.Tests tests/Fabric.Tests.Privileged)
total_passed=0; total_failed=0; total_skipped=0; status=0
for project in "${projects[@]}"; do
  echo "== tests: $project"
  dotnet test --project "$project" -c Release --no-build 2>&1 | tee "$log"
  run_status=${PIPESTATUS[0]}
  passed=$(grep -E '^\s*succeeded:\s*[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
  skipped=$(grep -E '^\s*skipped:\s*[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
  failed=$(grep -E '^\s*failed:\s*[0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
  if [ -z "$passed" ] || [ -z "$failed" ]; then
    echo "$project: the test run ended without a summary (exit $run_status)"
    passed=0; failed=1
  fi
  if [ "$run_status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  [ "$run_status" -ne 0 ] && status=$run_status
  echo "$project: $passed passed, $failed failed, ${skipped:-0} skipped"
  total_passed=$((total_passed + passed)); total_failed=$((total_failed + failed)); total_skipped=$((total_skipped + ${skipped:-0}))
done
echo "$total_skipped skipped"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ] && [ "$status" -eq 0 ]
