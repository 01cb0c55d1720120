#!/bin/sh
# A compose router's entrypoint (root with CAP_NET_ADMIN and CAP_NET_RAW only). The engine names a container's
# interfaces eth0, eth1... and gives each a kernel address; the document names the router's devices (wan0, svc, lan,
# and one per host-based container) and Fabric, not the kernel, answers on them. So the device the engine gave
# address A gets the document's name N as an alternative name (FABRIC_DEVICES="N=A ..."; the kernel resolves it
# wherever a device name is looked up, and the engine still finds its ethN to tear down), loses its kernel addresses
# and stays up. Then the router runs with the document, cluster certificate and conductor key the init service
# made. Started again in the same network namespace, the devices already answer to their names and are only
# flushed again.
set -eu
for pair in $FABRIC_DEVICES; do
  name=${pair%%=*}
  address=${pair#*=}
  if ! ip link show dev "$name" >/dev/null 2>&1; then
    device=$(ip -o -4 addr show | awk -v a="$address" '{ split($4, p, "/"); if (p[1] == a) print $2 }')
    [ -n "$device" ] || { echo "router: no device has $address (for $name)" >&2; exit 1; }
    ip link property add dev "$device" altname "$name"
  fi
  ip -4 addr flush dev "$name"
done
document=/etc/fabric/compose/fabric.conf
until [ -f "$document" ]; do sleep 0.5; done
exec fabric router --config "$document" --node "$FABRIC_NODE" --seed akka.tcp://fabric@10.99.0.2:4053 \
  --conductor-key "$(cat /etc/fabric/compose/conductor.pub)" "$@"
