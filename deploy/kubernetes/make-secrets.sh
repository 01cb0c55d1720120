#!/bin/sh
# Makes what deploy/kubernetes/kustomization.yaml reads from secrets/ (kept out of git), once, with the fabric command
# (FABRIC, default `fabric`; from a checkout: FABRIC=./fabric). The same steps as deploy/compose/init.sh:
#   secrets/ca/                    the fabric's own certificate authority; its key never goes to the cluster: keep it
#                                  offline, it issues every later certificate (`fabric certs node NAME --ca secrets/ca`)
#   secrets/ca.crt                 the CA's certificate, trusted by every member (ConfigMap fabric-public)
#   secrets/conductor.pfx          the conductor's cluster certificate (Secret fabric-conductor-tls)
#   secrets/conductor-api.pfx      the API's HTTPS certificate for fabric-conductor.fabric.svc (same Secret)
#   secrets/router.pfx             the cluster certificate every router presents (Secret fabric-router-tls): a
#                                  DaemonSet gives all its pods the same Secrets; a router's own identity is its key
#   secrets/conductor.key          the conductor's signing key (Secret fabric-conductor-key)
#   secrets/conductor.pub          its public half, pinned by every router (ConfigMap fabric-public)
#   secrets/postgres-password      the database password (Secret fabric-postgres)
# A second run keeps what exists. Usage: make-secrets.sh [DIRECTORY] (default: secrets/ beside this script).
set -eu
fabric=${FABRIC:-fabric}
out=${1:-$(cd "$(dirname "$0")" && pwd)/secrets}
if [ -f "$out/ca.crt" ]; then
  echo "make-secrets: $out/ca.crt exists; the fabric's keys and certificates are kept"
  exit 0
fi
umask 077
mkdir -p "$out"
$fabric certs ca --out "$out/ca" --name "fabric kubernetes CA"
cp "$out/ca/ca.crt" "$out/ca.crt"
$fabric certs node conductor --ca "$out/ca" --out "$out"
$fabric certs node router --ca "$out/ca" --out "$out"
$fabric certs node fabric-conductor.fabric.svc --ca "$out/ca" --out "$out"
mv "$out/fabric-conductor.fabric.svc.pfx" "$out/conductor-api.pfx"
rm -f "$out/conductor.crt" "$out/router.crt" "$out/fabric-conductor.fabric.svc.crt"
$fabric keys conductor --out "$out/conductor.key" 2>/dev/null | head -n 1 | tr -d '\n' >"$out/conductor.pub"
head -c 24 /dev/urandom | base64 | tr -d '\n' >"$out/postgres-password"
chmod 0644 "$out/ca.crt" "$out/conductor.pub"
echo "make-secrets: $out holds the fabric's secrets; keep $out/ca (the CA's key) off the cluster"
