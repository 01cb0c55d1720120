#!/bin/sh
# The commit Job (conductor/commit.yaml; uid 10001): waits until the conductor answers, makes an API token in the
# conductor's storage, and commits fabric.conf as the fabric's first version, pushed to every router, as
# deploy/compose/commit.sh does. When the history already has a version, it commits nothing: from then on the
# history is the operator's.
set -eu
document=/etc/fabric/kubernetes/fabric.conf
export FABRIC_CONDUCTOR=https://fabric-conductor.fabric.svc:8480
export FABRIC_CONDUCTOR_CA=/etc/fabric/public/ca.crt
export FABRIC_TOKEN_FILE=/tmp/api.token
until curl -fsS -o /dev/null --cacert "$FABRIC_CONDUCTOR_CA" "$FABRIC_CONDUCTOR/readyz"; do sleep 2; done
fabric conductor token create --config "$document" --owner "kubernetes commit job" --out "$FABRIC_TOKEN_FILE"
history=$(fabric config history)
if [ -n "$history" ] && echo "$history" | grep -q '^\*\? *[0-9]'; then
  echo "commit: the conductor has a history; nothing committed"
  echo "$history"
  exit 0
fi
exec fabric config commit "$document" -m "kubectl apply -k deploy/kubernetes: the first version"
