#!/usr/bin/env bash
# scripts/compose-test.sh: runs docker-compose.yml for real on this machine and checks what a user would notice.
# Needs root (Debian 12). Installs what is missing (podman, runc, docker-compose, debootstrap, tcpdump), configures
# podman as ../shared/reference/containers.md says (runc, cgroupfs) and starts its Docker-compatible API service
# when none answers (stopped again at the end). Builds the base image localhost/fabric-base:bookworm with debootstrap
# when it is missing (kept for the next run), publishes fabric self-contained and builds localhost/fabric:dev from
# deploy/Dockerfile, then brings the fabric up with docker-compose (docker-compose.yml with deploy/compose/podman.yml)
# under the project name fabric-compose-test, runs real clients through it, and brings it down with its volumes.
# Nothing of the project is left: the script checks that no container, network or volume carries its label. The
# PostgreSQL password is a fresh random secret in a temporary file, removed at the end.
# Last line: `compose: N passed, M failed`; exit 0 only when M is 0.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
project=fabric-compose-test
base_image=localhost/fabric-base:bookworm
socket=/run/podman/podman.sock
export DOCKER_HOST="unix://$socket"
compose=(docker-compose -p "$project" -f docker-compose.yml -f deploy/compose/podman.yml)
# The conductor's API as the CLI inside the conductor container reaches it, with the init service's CA and the token
# the conductor's entrypoint made.
api=(--conductor https://10.99.0.2:8480 --token-file /var/lib/fabric/conductor/api.token --conductor-ca /etc/fabric/compose/ca.crt)
lock="$(command -v cpulock || true)"
passed=0
failed=0
started=$SECONDS
phase_started=$SECONDS
work="$(mktemp -d)"
service_pid=""

pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; [ $# -lt 2 ] || printf '%s\n' "$2" | tail -n 20 | sed 's/^/      /'; }
timings=""
phase() {
  [ -z "${current:-}" ] || timings+="${timings:+, }$current $((SECONDS - phase_started)) s"
  current=$1
  phase_started=$SECONDS
  echo "--- $1"
}
finish() {
  echo "compose: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
# Runs a build step under the CPU lock when there is one (cpulock, on the shared development machine); the step's own
# seconds, without the wait for the lock, go to $work/NAME.seconds.
locked() {
  local name=$1
  shift
  $lock bash -c 'start=$SECONDS; "${@:2}"; status=$?; echo $((SECONDS - start)) >"$1"; exit $status' _ "$work/$name.seconds" "$@"
}
# Runs a command in a service's container.
run_in() { local service=$1; shift; "${compose[@]}" exec -T "$service" "$@"; }

cleanup() {
  if [ -n "${brought_up:-}" ]; then
    "${compose[@]}" down -v --remove-orphans -t 5 >"$work/down.log" 2>&1
  fi
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null
    wait "$service_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT

phase "prerequisites"
if [ "$(id -u)" != 0 ]; then
  fail "runs as root (podman's networks and debootstrap need it)"
  finish
fi
missing=()
for pair in podman:podman runc:runc docker-compose:docker-compose debootstrap:debootstrap tcpdump:tcpdump; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$work/apt.log" 2>&1; then
    fail "install ${missing[*]}" "$(cat "$work/apt.log")"
    finish
  fi
fi
if [ ! -f /etc/containers/containers.conf ]; then
  # crun (podman's default) cannot run on this kernel's hybrid cgroups; runc with cgroupfs can.
  mkdir -p /etc/containers
  printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' >/etc/containers/containers.conf
fi
if ! curl -fs --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then
  mkdir -p "$(dirname "$socket")"
  podman system service --time=0 "unix://$socket" >"$work/podman-service.log" 2>&1 &
  service_pid=$!
  for _ in $(seq 100); do curl -fs --unix-socket "$socket" http://d/_ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if curl -fs --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then
  pass "podman's Docker-compatible API answers on $socket ($(podman --version), $(docker-compose --version | cut -d, -f1))"
else
  fail "podman's Docker-compatible API answers on $socket" "$(cat "$work/podman-service.log" 2>/dev/null)"
  finish
fi
for kind in container network volume; do
  if [ -n "$(podman $kind ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null)" ]; then
    echo "removing the remains of an earlier run"
    "${compose[@]}" down -v --remove-orphans -t 5 >/dev/null 2>&1
    break
  fi
done

phase "base image"
if ! podman image exists "$base_image"; then
  # The lab's tools and PostgreSQL from Debian itself: no image registry is reachable from here.
  echo "building $base_image with debootstrap (once; kept for later runs)"
  if debootstrap --variant=minbase \
      --include=iproute2,iputils-ping,curl,iperf3,busybox-static,libssl3,libicu72,ca-certificates,postgresql-15 \
      bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1; then
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
      "$work/rootfs/etc/postgresql/15/main" "$work/rootfs/var/lib/postgresql/15"
    tar -C "$work/rootfs" -c . | podman import - "$base_image" >/dev/null
    rm -rf "$work/rootfs"
  else
    fail "debootstrap bookworm" "$(cat "$work/debootstrap.log")"
    finish
  fi
fi
if podman image exists "$base_image"; then pass "base image $base_image"; else fail "base image $base_image"; finish; fi

phase "publish and image build"
if locked publish dotnet publish src/Fabric.Cli/Fabric.Cli.csproj -c Release -r linux-x64 --self-contained \
    -o artifacts/compose/fabric -nologo -v quiet >"$work/publish.log" 2>&1; then
  pass "dotnet publish (self-contained, linux-x64) into artifacts/compose/fabric"
else
  fail "dotnet publish" "$(grep -E 'error' "$work/publish.log" || cat "$work/publish.log")"
  finish
fi
if locked build "${compose[@]}" build init >"$work/build.log" 2>&1; then
  pass "docker-compose build: localhost/fabric:dev from deploy/Dockerfile"
else
  fail "docker-compose build" "$(cat "$work/build.log")"
  finish
fi

phase "up"
# The PostgreSQL password: a compose secret owned by the conductor's and the database's user, mode 0600.
export FABRIC_POSTGRES_PASSWORD_FILE="$work/postgres-password"
head -c 24 /dev/urandom | base64 >"$FABRIC_POSTGRES_PASSWORD_FILE"
chown 10001:10001 "$FABRIC_POSTGRES_PASSWORD_FILE"
chmod 0600 "$FABRIC_POSTGRES_PASSWORD_FILE"
brought_up=1
if "${compose[@]}" up -d --no-build >"$work/up.log" 2>&1; then
  pass "docker-compose up -d"
else
  fail "docker-compose up -d" "$(cat "$work/up.log")"
  finish
fi

container() { echo "${project}_$1_1"; }
# Podman runs health checks from systemd timers; with no systemd here the script runs each check itself
# (`podman healthcheck run` runs the check the compose file defines) until it passes.
healthy() {
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    podman healthcheck run "$(container "$1")" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
exited_zero() {
  local deadline=$((SECONDS + $2)) status
  while [ $SECONDS -lt $deadline ]; do
    status=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(container "$1")" 2>/dev/null)
    case "$status" in
      "exited 0") return 0 ;;
      exited*) return 1 ;;
    esac
    sleep 1
  done
  return 1
}
logs() { "${compose[@]}" logs --no-color "$@" 2>&1; }

if exited_zero init 60; then pass "init made the CA, certificates, router keys, signing key and pinned document"; else fail "init" "$(logs init)"; finish; fi
for service in postgres conductor dc1a br1a br2a web1 web2 db1; do
  if healthy "$service" 90; then pass "$service is healthy (its compose health check)"; else fail "$service is healthy" "$(logs "$service")"; fi
done
if exited_zero commit 60; then pass "commit: $(logs commit | grep -o 'version [0-9]* committed' | head -n 1)"; else fail "commit" "$(logs commit)"; fi

phase "the fabric"
status=$(run_in conductor fabric config status "${api[@]}" 2>&1)
if [ $? -eq 0 ] && [ "$(grep -c 'applied 1 *ok' <<<"$status")" -eq 3 ]; then
  pass "fabric config status through the conductor: dc1a, br1a and br2a run version 1"
else
  fail "fabric config status through the conductor" "$status"
fi
conductor_log=$(logs conductor)
if grep -q 'storage=postgresql cluster-tls=mutual' <<<"$conductor_log"; then
  pass "the conductor keeps its history in PostgreSQL and speaks mutual TLS to the cluster"
else
  fail "conductor storage and TLS" "$conductor_log"
fi
password=$(cat "$FABRIC_POSTGRES_PASSWORD_FILE")
document=$(run_in conductor cat /etc/fabric/compose/fabric.conf)
inspected=$(podman inspect "$(container conductor)" "$(container postgres)")
if grep -q 'password-file = "/run/secrets/postgres-password"' <<<"$document" && ! grep -qF "$password" <<<"$document$inspected"; then
  pass "the PostgreSQL password is in neither the document nor any container's configuration"
else
  fail "the PostgreSQL password leaked into the document or a container's configuration"
fi
for node in dc1a br1a br2a; do
  log=$(logs "$node")
  if grep -q "event=started node=$node .*cluster-tls=mutual" <<<"$log"; then
    pass "$node joined with its pinned identity over mutual TLS"
  else
    fail "$node started over mutual TLS" "$log"
  fi
done
if [ "$(run_in conductor id -u)" = 10001 ] && [ "$(run_in postgres id -u)" = 10001 ]; then
  pass "the conductor and PostgreSQL run as uid 10001, not root"
else
  fail "the conductor and PostgreSQL run as uid 10001"
fi
shape=$(for service in init postgres conductor commit dc1a br1a br2a web1 web2 db1 bulk1 eng1 guest1 eng2 fin1; do
  podman inspect -f "$service {{.HostConfig.Privileged}} {{.HostConfig.NetworkMode}} {{.EffectiveCaps}}" "$(container "$service")"
done)
if ! grep -q ' true \| host ' <<<"$shape" \
    && grep -q '^dc1a false [^ ]* \[CAP_NET_ADMIN CAP_NET_RAW\]$' <<<"$shape" \
    && grep -q '^conductor false [^ ]* \[\]$' <<<"$shape"; then
  pass "no container is privileged or on the host's network; routers hold NET_ADMIN and NET_RAW only, the conductor none"
else
  fail "capabilities and isolation" "$shape"
fi

phase "clients"
wan=$(podman network inspect "${project}_wan" -f '{{.NetworkInterface}}')
timeout 30 tcpdump -i "$wan" -w "$work/wan.pcap" -U -s 0 tcp >/dev/null 2>&1 &
capture=$!
sleep 1
for client in eng1 guest1 eng2 fin1; do
  answer=$(run_in "$client" curl -sS -m 5 http://10.200.0.80/ 2>&1)
  if [[ "$answer" =~ ^web[12]$ ]]; then pass "$client: curl http://10.200.0.80/ (web) answers $answer"; else fail "$client: curl web" "$answer"; fi
done
answer=$(run_in fin1 timeout 5 bash -c 'cat </dev/tcp/10.10.1.20/5432' 2>&1)
if [ "$answer" = db1 ]; then pass "fin1 (finance): db answers db1"; else fail "fin1: db" "$answer"; fi
answer=$(run_in guest1 timeout 4 bash -c 'cat </dev/tcp/10.10.1.20/5432' 2>&1)
if [ "$answer" != db1 ]; then pass "guest1 (guest): db refused"; else fail "guest1: db was not refused" "$answer"; fi
answer=$(run_in eng2 iperf3 -c 10.10.1.30 -t 1 2>&1)
if grep -q 'receiver' <<<"$answer"; then pass "eng2 (engineering): iperf3 to bulk $(grep receiver <<<"$answer" | grep -o '[0-9.]* [MG]bits/sec')"; else fail "eng2: iperf3 bulk" "$answer"; fi
sleep 1
kill "$capture" 2>/dev/null
wait "$capture" 2>/dev/null
if grep -qaE 'web[12]' "$work/wan.pcap" && ! grep -qa 'db1' "$work/wan.pcap"; then
  pass "on the WAN, web's answers cross readable and db's never (encrypted between br2 and dc1)"
else
  fail "db encrypted on the WAN ($(grep -caE 'web[12]' "$work/wan.pcap") web, $(grep -ca db1 "$work/wan.pcap") db in clear)"
fi
drops=$(run_in conductor fabric drops "${api[@]}" 2>&1)
if grep -qE 'br1a +access_denied +guest +db' <<<"$drops"; then
  pass "fabric drops through the conductor: br1a refused guest -> db (access_denied, rule fabric.services.db.access)"
else
  fail "fabric drops shows guest -> db refused" "$drops"
fi

phase "down and up again"
# The state volumes keep the fabric across a down and up: the same keys, certificates, document and history.
if "${compose[@]}" down -t 5 >"$work/down-kept.log" 2>&1 && "${compose[@]}" up -d --no-build >"$work/up-again.log" 2>&1; then
  pass "docker-compose down (volumes kept) and up -d again"
else
  fail "docker-compose down and up again" "$(cat "$work/down-kept.log" "$work/up-again.log")"
fi
if exited_zero init 60 && grep -q 'keys and certificates are kept' <<<"$(logs init)"; then pass "init kept the fabric's keys and certificates"; else fail "init again" "$(logs init)"; fi
for service in conductor dc1a br1a br2a; do
  healthy "$service" 90 || fail "$service is healthy again" "$(logs "$service")"
done
if exited_zero commit 60 && grep -q 'nothing committed' <<<"$(logs commit)"; then pass "commit found the history in PostgreSQL and committed nothing"; else fail "commit again" "$(logs commit)"; fi
status=$(run_in conductor fabric config status "${api[@]}" 2>&1)
history=$(run_in conductor fabric config history "${api[@]}" 2>&1)
if [ "$(grep -c 'applied 1 *ok' <<<"$status")" -eq 3 ] && [ "$(grep -cE '^\*? +[0-9]+ ' <<<"$history")" -eq 1 ]; then
  pass "every router node runs version 1 again, the history's only version"
else
  fail "status and history after up again" "$status
$history"
fi
answer=$(run_in eng2 curl -sS -m 5 http://10.200.0.80/ 2>&1)
if [[ "$answer" =~ ^web[12]$ ]]; then pass "eng2: web answers $answer again"; else fail "eng2: web again" "$answer"; fi
answer=$(run_in fin1 timeout 5 bash -c 'cat </dev/tcp/10.10.1.20/5432' 2>&1)
if [ "$answer" = db1 ]; then pass "fin1: db answers db1 again (the routers' identities kept)"; else fail "fin1: db again" "$answer"; fi

phase "down"
if [ -n "${COMPOSE_TEST_KEEP:-}" ]; then
  echo "COMPOSE_TEST_KEEP is set: the fabric stays up; bring it down with: DOCKER_HOST=$DOCKER_HOST ${compose[*]} down -v"
  brought_up=""
  service_pid=""
  finish
fi
if "${compose[@]}" down -v --remove-orphans -t 5 >"$work/down.log" 2>&1; then
  brought_up=""
  pass "docker-compose down -v"
else
  fail "docker-compose down -v" "$(cat "$work/down.log")"
fi
left=""
for kind in container network volume; do
  left+=$(podman $kind ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null)
done
bridges=$(ip -br addr | grep -E '10\.(99\.[01]|10\.1|30\.1|20\.1)\.|172\.16\.0\.' || true)
if [ -z "$left" ] && [ -z "$bridges" ]; then
  pass "nothing left: no container, network, volume or bridge of the project"
else
  fail "left behind" "$left $bridges"
fi

phase "end"
echo "timings: $timings (of which the publish itself $(cat "$work/publish.seconds") s and the image build $(cat "$work/build.seconds") s); total $((SECONDS - started)) s"
finish
