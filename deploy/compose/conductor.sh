#!/bin/sh
# The compose conductor's entrypoint (runs as the unprivileged user fabric): waits for the init service's document
# and for PostgreSQL, makes the API token the compose commit service and scripts/compose-test.sh use (once, in the
# conductor's volume, mode 0600), then runs the conductor. Waiting here rather than in depends_on conditions keeps
# the order on engines whose health checks do not run by themselves (podman without systemd).
set -eu
state=/var/lib/fabric/conductor
document=/etc/fabric/compose/fabric.conf
until [ -f "$document" ]; do sleep 0.5; done
until /usr/lib/postgresql/15/bin/pg_isready -q -h 10.99.1.2 -U fabric; do sleep 0.5; done
[ -f "$state/api.token" ] || fabric conductor token create --config "$document" --owner "fabric compose" --out "$state/api.token"
exec fabric conductor --config "$document" --signing-key "$state/conductor.key" "$@"
