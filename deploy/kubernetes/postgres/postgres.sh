#!/bin/sh
# The database's entrypoint (postgres/postgres.yaml; uid 10001), as deploy/compose/postgres.sh: on first start, a
# cluster whose only role is fabric with the Secret's password (scram-sha-256), taking password connections from the
# pod network (the NetworkPolicy narrows that to the conductor and the commit Job), and the database fabric.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/fabric/postgres/data
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U fabric --pwfile=/etc/fabric/postgres/password --auth=scram-sha-256 -E UTF8 --no-locale >/dev/null
  printf "listen_addresses = '*'\nunix_socket_directories = '/tmp'\n" >>"$data/postgresql.conf"
  echo "host fabric fabric all scram-sha-256" >>"$data/pg_hba.conf"
  echo "CREATE DATABASE fabric" | "$bin/postgres" --single -D "$data" postgres >/dev/null
fi
exec "$bin/postgres" -D "$data"
