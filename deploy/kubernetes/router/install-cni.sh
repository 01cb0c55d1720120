#!/bin/sh
# The router DaemonSet's init container (root, no capability; router/router.yaml): prepares the node FABRIC_NODE.
#   1. This image's fabric (a self-contained publish in /opt/fabric) into the host's /opt/fabric/releases/VERSION,
#      /opt/fabric/current pointed at it in one rename, and /opt/cni/bin/fabric-cni, a wrapper that runs `fabric cni`:
#      the container runtime runs CNI plugins on the host, outside any container, so the plugin must be there.
#   2. The CNI configuration /etc/cni/net.d/90-fabric.conflist, naming this node's admin socket. It sorts after the
#      usual primary network (10-...): on a node with another network it is there for Multus or the like to add;
#      on a node with none, it is the node's pod network. Replaced in one rename, so the runtime never reads half.
#   3. The node's identity key, once: /var/lib/fabric/NODE/identity.key (mode 0600) on the host's state path, made
#      here rather than kept in a Secret, so the private key is never in the API server or another node's reach and
#      outlives the pod; its public key (printed below, and by `fabric keys public` on the node) is what fabric.conf
#      pins as the node's identity (fabric.routers.ROUTER.nodes.NODE.identity).
set -eu
: "${FABRIC_NODE:?the node name (spec.nodeName)}"
version=$(fabric --version | head -n 1 | tr -cd 'A-Za-z0-9.+-')
releases=/host/opt/fabric/releases
if [ ! -x "$releases/$version/fabric" ]; then
  mkdir -p "$releases"
  rm -rf "$releases/.$version"
  cp -R /opt/fabric "$releases/.$version"
  mv "$releases/.$version" "$releases/$version"
fi
ln -sfn "releases/$version" /host/opt/fabric/.current && mv -T /host/opt/fabric/.current /host/opt/fabric/current
printf '#!/bin/sh\nexec /opt/fabric/current/fabric cni "$@"\n' >/host/opt/cni/bin/.fabric-cni
chmod 0755 /host/opt/cni/bin/.fabric-cni && mv /host/opt/cni/bin/.fabric-cni /host/opt/cni/bin/fabric-cni
sed "s|@NODE@|$FABRIC_NODE|g" /usr/local/lib/fabric/kubernetes/90-fabric.conflist >/host/etc/cni/net.d/.90-fabric.conflist
mv /host/etc/cni/net.d/.90-fabric.conflist /host/etc/cni/net.d/90-fabric.conflist

state=/var/lib/fabric/$FABRIC_NODE
mkdir -p "$state" && chmod 0700 "$state"
[ -f "$state/identity.key" ] || fabric keys generate --out "$state/identity.key" >/dev/null
echo "install-cni: fabric $version and /opt/cni/bin/fabric-cni installed; node $FABRIC_NODE identity $(fabric keys public "$state/identity.key")"
