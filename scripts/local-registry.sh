#!/usr/bin/env bash
# A local image registry (Debian's docker-registry) serving the official-shaped Python images
# that scripts/make-base-images.sh pushes; the engine treats 127.0.0.0/8 as insecure-allowed.
#   scripts/local-registry.sh start  -> installs docker-registry if missing, starts it, prints
#                                       `export KRAKEND_IMAGE_REGISTRY=127.0.0.1:PORT` (use with eval)
#   scripts/local-registry.sh stop   -> stops it, by its pid file only
# State (the images, kept between runs: a cache) lives under $KRAKEND_REGISTRY_ROOT
# (default /var/cache/krakend-tools/registry); port $KRAKEND_REGISTRY_PORT (default 5055).
set -euo pipefail
ROOT=${KRAKEND_REGISTRY_ROOT:-/var/cache/krakend-tools/registry}
PORT=${KRAKEND_REGISTRY_PORT:-5055}
PIDFILE=$ROOT/registry.pid
log() { echo "local-registry: $*" >&2; }
running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  command -v docker-registry >/dev/null || {
    log "installing docker-registry"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
  }
  mkdir -p "$ROOT/data"
  if running; then
    log "already running (pid $(cat "$PIDFILE"))"
  else
    cat >"$ROOT/config.yml" <<EOC
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $ROOT/data}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$PORT
EOC
    setsid docker-registry serve "$ROOT/config.yml" >"$ROOT/registry.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 100); do
      curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || { log "did not come up; see $ROOT/registry.log"; exit 1; }
    log "started (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
  fi
  echo "export KRAKEND_IMAGE_REGISTRY=127.0.0.1:$PORT"
}

stop() {
  if ! running; then log "not running"; return 0; fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
