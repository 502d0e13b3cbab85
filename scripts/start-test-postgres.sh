#!/usr/bin/env bash
# Starts Debian's PostgreSQL on loopback for the tests and creates a role
# that may create databases (each test makes its own). Prints the URL for
# HETBENCH_TEST_PG. Run as root, after `apt-get install postgresql`.
set -euo pipefail
# stdout carries the URL alone: everything else goes to stderr.
exec 3>&1 1>&2
version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
[ -n "$version" ] || { echo "no PostgreSQL installed (apt-get install postgresql)" >&2; exit 1; }
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main 3>&-
fi
# Already running is fine. The server must not inherit fd 3, or a caller
# capturing the URL with $(...) would wait for the server to exit.
pg_ctlcluster "$version" main start 3>&- || pg_ctlcluster "$version" main status 3>&-
# Loopback only (the default listen_addresses is localhost).
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
su postgres -c "psql -qAt" >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hetbench') THEN
    CREATE ROLE hetbench LOGIN PASSWORD 'hetbench' CREATEDB;
  END IF;
END $$;
SQL
echo "postgres://hetbench:hetbench@127.0.0.1:5432/postgres" >&3
