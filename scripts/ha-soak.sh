#!/usr/bin/env bash
# scripts/ha-soak.sh [SECONDS] [LAB]: the HA pair soak of docs/high-availability.md. Not run in CI.
#
# Brings up the default lab with dc1 as an HA pair (`lab up --ha dc1 --name LAB`), loads both cores with two busy
# loops (another process, as `stress -c 2` would), runs full-rate iperf3 from eng1 (behind br1) to bulk1 (behind
# dc1) for SECONDS (default 300), then counts false takeovers: the takeovers both dc1 nodes report beyond the one
# at start, and the "Standby -> Active" lines in their logs. Prints the figures; exits 0 only with 0 false takeovers.
# Needs root; run it under cpulock: `cpulock bash scripts/ha-soak.sh`.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-300}"
lab="${2:-soak}"
state="/var/lib/fabric/lab/$lab"
busy=()

# The soak runs a copy of the build, so a rebuild meanwhile (the sources edited) changes nothing under it.
./fabric --help >/dev/null || exit 1
build="$(mktemp -d)"
cp -r artifacts/cli "$build/"
fabric() { dotnet "$build/cli/fabric.dll" "$@"; }

cleanup() {
  [ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null
  fabric lab down --name "$lab" >/dev/null 2>&1
  rm -rf "$build"
}
trap cleanup EXIT

# counter NODE PATH...: one number from a node's counters (python3 reads the JSON; the lab needs it anyway).
counter() {
  local node="$1"; shift
  fabric router counters --node "$node" --admin-socket "$state/$node.sock" |
    python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[k]
print(v)' "$@"
}

echo "== lab up --ha dc1 --name $lab"
fabric lab up --ha dc1 --name "$lab" >"/tmp/ha-soak-$lab-up.log" 2>&1 || { tail -n 20 "/tmp/ha-soak-$lab-up.log"; exit 1; }

# Wait until one dc1 node is active and the other stands by.
for _ in $(seq 1 100); do
  roles="$(counter dc1a ha role) $(counter dc1b ha role)"
  [ "$roles" = "active standby" ] || [ "$roles" = "standby active" ] && break
  sleep 0.2
done
echo "roles before: dc1a $(counter dc1a ha role), dc1b $(counter dc1b ha role)"
before=$(( $(counter dc1a ha takeovers) + $(counter dc1b ha takeovers) ))
late_before=$(( $(counter dc1a ha heartbeats late) + $(counter dc1b ha heartbeats late) ))
gap_before="$(counter dc1a ha heartbeats longest_gap_ms) $(counter dc1b ha heartbeats longest_gap_ms)"
logged_before=$(cat "$state"/dc1a.log "$state"/dc1b.log | grep -c 'Standby -> Active')

echo "== two busy loops on both cores, iperf3 eng1 -> bulk (10.10.1.30:5201) for $seconds s at full rate"
for _ in 1 2; do ( while :; do :; done ) & busy+=($!); done
start=$(date +%s)
fabric lab exec eng1 --name "$lab" -- iperf3 -c 10.10.1.30 -p 5201 -t "$seconds" -i 60 --connect-timeout 5000 >"/tmp/ha-soak-$lab-iperf3.log" 2>&1
iperf_exit=$?
kill "${busy[@]}" 2>/dev/null; busy=()
elapsed=$(( $(date +%s) - start ))
grep -E 'sender|receiver' "/tmp/ha-soak-$lab-iperf3.log"

after=$(( $(counter dc1a ha takeovers) + $(counter dc1b ha takeovers) ))
logged_after=$(cat "$state"/dc1a.log "$state"/dc1b.log | grep -c 'Standby -> Active')
false_takeovers=$(( after - before ))
false_logged=$(( logged_after - logged_before ))
late=$(( $(counter dc1a ha heartbeats late) + $(counter dc1b ha heartbeats late) - late_before ))
for node in dc1a dc1b; do
  echo "$node: role $(counter "$node" ha role), takeovers $(counter "$node" ha takeovers), heartbeats heard $(counter "$node" ha heartbeats heard)," \
    "refused $(( $(counter "$node" ha heartbeats refused_forged) + $(counter "$node" ha heartbeats refused_stale) )), late $(counter "$node" ha heartbeats late)," \
    "longest gap $(counter "$node" ha heartbeats longest_gap_ms) ms (since start)"
done
grep -h 'HA pair' "$state"/dc1a.log "$state"/dc1b.log | tail -n 5
echo "heartbeats more than two intervals after the one before, during the soak: $late (both nodes)"
echo "longest gap between two heartbeats (dc1a dc1b) before the soak: $gap_before ms; after: $(counter dc1a ha heartbeats longest_gap_ms) $(counter dc1b ha heartbeats longest_gap_ms) ms"
echo "soak: ${elapsed} s of iperf3 (exit $iperf_exit) with both cores loaded; false takeovers: $false_takeovers (counters), $false_logged (logs)"
[ "$false_takeovers" -eq 0 ] && [ "$false_logged" -eq 0 ] && [ "$iperf_exit" -eq 0 ]
