#!/usr/bin/env bash
# Run a command against a throwaway server of the machine's own PostgreSQL (Debian's 15 here), as a second
# version beside the embedded one: `scripts/with-system-postgres.sh npm test`. Exits 0 without running
# anything, saying so, when no initdb/pg_ctl is on PATH.
set -euo pipefail
if ! command -v initdb >/dev/null || ! command -v pg_ctl >/dev/null; then
  echo "with-system-postgres: no initdb/pg_ctl on PATH; skipped"
  exit 0
fi
dir=$(mktemp -d /tmp/sluice-syspg-XXXXXX)
chmod 755 "$dir"
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir"
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}
cleanup() { as_pg "pg_ctl -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "initdb -D '$dir/data' -U postgres --auth=trust >/dev/null"
as_pg "pg_ctl -D '$dir/data' -o '-p $port -k $dir -c fsync=off -c max_connections=200' -l '$dir/log' -w start >/dev/null"
echo "with-system-postgres: $(postgres --version 2>/dev/null || pg_ctl --version) on port $port"
DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" "$@"
