#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust, db `test`), PgBouncer in front of it
# (127.0.0.1:6432, transaction pooling, db `test`) and Redis (127.0.0.1:6379) answer.
# Starts them when they are down and installs them from Debian when they are missing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "services.sh: need root to install $*" >&2; return 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { have pg_isready && pg_isready -q -h 127.0.0.1 -p 5432; }
if ! postgres_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do postgres_up && break; sleep 0.2; done
  postgres_up || { echo "services.sh: PostgreSQL did not start" >&2; exit 1; }
fi
# The tests connect as user postgres over TCP without a password: Debian's packaged cluster asks
# for one on 127.0.0.1 (scram-sha-256), so loopback connections get `trust` ahead of its rules.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' </dev/null >/dev/null 2>&1; then
  hba=$(runuser -u postgres -- psql -Atqc 'show hba_file')
  if ! grep -q '^# kube-agentos: trust on loopback' "$hba"; then
    { printf '# kube-agentos: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
      cat "$hba"; } >"$hba.new"
    chown --reference="$hba" "$hba.new" && chmod --reference="$hba" "$hba.new" && mv "$hba.new" "$hba"
  fi
  runuser -u postgres -- psql -Atqc 'select pg_reload_conf()' >/dev/null
  for _ in $(seq 1 50); do
    psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' </dev/null >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
# The tests use the `test` database as user postgres with trust authentication.
if ! psql -h 127.0.0.1 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test' >/dev/null 2>&1 \
    || runuser -u postgres -- psql -qc 'create database test' >/dev/null
fi

# PgBouncer in transaction mode in front of the test database, as platforms put it in front of
# PostgreSQL: the runtime's `behind_pooler` is tested through it.
pgbouncer_up() { psql -h 127.0.0.1 -p 6432 -U postgres -d test -Atqc 'select 1' </dev/null >/dev/null 2>&1; }
# Its settings: scripts/pgbouncer.ini.in, which the tests' own PgBouncers share
# (tests/support/pgbouncer.py), with each `${name}` filled in from the name=value arguments.
pgbouncer_ini() {
  local ini setting
  ini=$(<"$(dirname "${BASH_SOURCE[0]}")/pgbouncer.ini.in")
  for setting in "$@"; do ini=${ini//"\${${setting%%=*}}"/"${setting#*=}"}; done
  if [[ $ini == *"\${"* ]]; then echo "services.sh: pgbouncer.ini.in: a \${name} left unfilled" >&2; return 1; fi
  printf '%s\n' "$ini"
}
kube_agentos_pgbouncer_ini() {
  pgbouncer_ini dbname=test server_host=127.0.0.1 server_port=5432 listen_port=6432 \
    auth_file=/etc/pgbouncer/kube-agentos-users.txt \
    logfile=/var/run/postgresql/kube-agentos-pgbouncer.log pidfile=/var/run/postgresql/kube-agentos-pgbouncer.pid
}
if ! pgbouncer_up; then
  have pgbouncer || [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
  # Where the package's own service started at install (its default instance holds 6432 with no
  # `test` database), or an earlier instance of ours no longer answers: stop them, then start ours.
  port_taken() { (: </dev/tcp/127.0.0.1/6432) 2>/dev/null; }
  if port_taken; then
    service pgbouncer stop >/dev/null 2>&1 || true
    pkill -x pgbouncer 2>/dev/null || true
    for _ in $(seq 1 50); do port_taken || break; sleep 0.1; done
    if port_taken; then echo "services.sh: something else listens on 127.0.0.1:6432: stop it" >&2; exit 1; fi
  fi
  mkdir -p /etc/pgbouncer /var/run/postgresql
  chown postgres /var/run/postgresql
  printf '"postgres" ""\n' >/etc/pgbouncer/kube-agentos-users.txt
  kube_agentos_pgbouncer_ini >/etc/pgbouncer/kube-agentos.ini
  chown postgres /etc/pgbouncer/kube-agentos.ini /etc/pgbouncer/kube-agentos-users.txt
  runuser -u postgres -- /usr/sbin/pgbouncer -d /etc/pgbouncer/kube-agentos.ini
  for _ in $(seq 1 50); do pgbouncer_up && break; sleep 0.1; done
  pgbouncer_up || { echo "services.sh: PgBouncer did not start" >&2; exit 1; }
fi

redis_up() { have redis-cli && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_up; then
  have redis-server || apt_install redis-server redis-tools
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "services.sh: Redis did not start" >&2; exit 1; }
fi
echo "services: PostgreSQL, PgBouncer and Redis are up"
