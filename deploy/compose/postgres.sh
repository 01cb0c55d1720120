#!/bin/sh
# The compose database's entrypoint (runs as the unprivileged user fabric, uid 10001, the owner of the
# postgres-password secret): on first start, a cluster whose only role is fabric with the secret's password
# (scram-sha-256), listening on the store network for the conductor alone, and the database fabric; then PostgreSQL.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/fabric/postgres/data
if [ ! -s "$data/PG_VERSION" ]; then
  "$bin/initdb" -D "$data" -U fabric --pwfile=/run/secrets/postgres-password --auth=scram-sha-256 -E UTF8 --no-locale >/dev/null
  printf "listen_addresses = '*'\nunix_socket_directories = '/tmp'\n" >>"$data/postgresql.conf"
  echo "host fabric fabric 10.99.1.3/32 scram-sha-256" >>"$data/pg_hba.conf"
  echo "CREATE DATABASE fabric" | "$bin/postgres" --single -D "$data" postgres >/dev/null
fi
exec "$bin/postgres" -D "$data"
