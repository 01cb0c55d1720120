#!/bin/sh
# The compose fabric's init service (docker-compose.yml): makes, once, everything the conductor and the routers
# need before they start, as `fabric lab up` does for a lab (LabCertificates, LabKeys, LabConductor):
#   - a certificate authority of this fabric's own (kept in the fabric-ca volume, which only this service mounts) and
#     one cluster certificate per member: the conductor and every router node (mutual TLS on cluster traffic), and the
#     conductor API's HTTPS certificate for its management address;
#   - one X25519 identity key per router (in the node's state volume, the router's default --identity-key) and the
#     conductor's Ed25519 signing key (in the conductor's volume);
#   - the document every member runs (fabric.conf in the fabric-public volume): hocon/lab.conf with the conductor's
#     storage on PostgreSQL (the password from the postgres-password secret, never in the document) and every router
#     node's identity pinned to its key, validated before it is published; and conductor.pub, the signing key's
#     public half every router pins.
# A second run finds fabric.conf and changes nothing, so `docker-compose up` again keeps the fabric's keys.
# Runs as root with CAP_CHOWN only: the conductor's files go to its unprivileged user (uid 10001), mode 0600.
set -eu
public=/etc/fabric/compose
authority=/var/lib/fabric/ca
conductor=/var/lib/fabric/conductor
conductor_uid=10001
# Router = node pairs of docker-compose.yml (one node per router, as in hocon/lab.conf).
nodes="dc1=dc1a br1=br1a br2=br2a"
store='storage { provider = postgresql, connection-string = "Host=10.99.1.2;Port=5432;Username=fabric;Database=fabric", password-file = "/run/secrets/postgres-password" }'

if [ -f "$public/fabric.conf" ]; then
  echo "init: $public/fabric.conf exists; the fabric's keys and certificates are kept"
  exit 0
fi

# The conductor's volume belongs to its user; root holds it while writing (CAP_CHOWN, no CAP_DAC_OVERRIDE).
chown 0:0 "$conductor"
fabric certs ca --out "$authority" --name "fabric compose CA"
fabric certs node conductor --ca "$authority" --out "$conductor"
fabric certs node conductor-api --ca "$authority" --out "$conductor" --address 10.99.0.2
cp "$authority/ca.crt" "$public/ca.crt"

document="$public/fabric.conf.new"
sed "s|storage { provider = sqlite, path = \"fabric-conductor.db\" }|$store|" /etc/fabric/lab.conf >"$document"
grep -q 'provider = postgresql' "$document" || { echo "init: /etc/fabric/lab.conf has no SQLite storage line to replace" >&2; exit 1; }
for pair in $nodes; do
  router=${pair%%=*}
  node=${pair#*=}
  fabric certs node "$node" --ca "$authority" --out "/var/lib/fabric/$node"
  identity=$(fabric keys generate --force --out "/var/lib/fabric/$node/identity.key" 2>/dev/null | head -n 1)
  echo "fabric.routers.$router.nodes.$node.identity = \"$identity\"" >>"$document"
done

fabric keys conductor --out "$conductor/conductor.key" 2>/dev/null | head -n 1 >"$public/conductor.pub"
chown -R "$conductor_uid:$conductor_uid" "$conductor"
fabric config validate "$document"
chmod 0644 "$document" "$public/conductor.pub" "$public/ca.crt"
mv "$document" "$public/fabric.conf"
echo "init: fabric.conf, ca.crt and conductor.pub in $public; keys and certificates in each member's volume"
