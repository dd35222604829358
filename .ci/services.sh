#!/usr/bin/env bash
# Start throwaway PostgreSQL and Redis servers on loopback for the test suite.
# Source it: `. .ci/services.sh`; it exports TEST_DATABASE_URL and REDIS_URL and
# stops both servers when the calling shell exits (unless KEEP_SERVICES=1).
set -euo pipefail

PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-56379}
SERVICES_DIR=${SERVICES_DIR:-$(mktemp -d /tmp/qinglang-services.XXXXXX)}
chmod 755 "$SERVICES_DIR"  # the postgres user must reach its data directory

install_missing() {
  local need=()
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  # Certificate posters draw Chinese text with a system font (never a font file in the repo).
  fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

start_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$SERVICES_DIR/pg"
  local runas=()
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$SERVICES_DIR/pg"
    runas=(runuser -u postgres --)
  fi
  "${runas[@]}" "$bin/initdb" -D "$SERVICES_DIR/pg/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  "${runas[@]}" "$bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/log" -w start \
    -o "-p $PG_PORT -k $SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null
  "${runas[@]}" "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres qinglang_test
  PG_STOP=("${runas[@]}" "$bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -m fast stop)
}

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis did not start" >&2
  return 1
}

stop_services() {
  [ "${KEEP_SERVICES:-0}" = 1 ] && return 0
  "${PG_STOP[@]}" >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

install_missing
start_postgres
start_redis
trap stop_services EXIT
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/qinglang_test"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT"
