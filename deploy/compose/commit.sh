#!/bin/sh
# The compose commit service (runs once, as the unprivileged user fabric): waits until the conductor answers, then
# commits the init service's document as the fabric's first version, pushed to every router, as `fabric lab up`
# commits the lab's topology. When the conductor's history already has a version (a later `docker-compose up`), it
# commits nothing: the history is the operator's from then on.
set -eu
export FABRIC_CONDUCTOR=https://10.99.0.2:8480
export FABRIC_TOKEN_FILE=/var/lib/fabric/conductor/api.token
export FABRIC_CONDUCTOR_CA=/etc/fabric/compose/ca.crt
until [ -f "$FABRIC_TOKEN_FILE" ] && history=$(fabric config history 2>/dev/null); do sleep 1; done
if [ -n "$history" ] && echo "$history" | grep -q '^\*\? *[0-9]'; then
  echo "commit: the conductor has a history; nothing committed"
  echo "$history"
  exit 0
fi
exec fabric config commit /etc/fabric/compose/fabric.conf -m "docker-compose up: hocon/lab.conf, PostgreSQL storage, pinned router identities"
