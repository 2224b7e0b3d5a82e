#!/usr/bin/env bash
# Private Docker engine for building and testing plugins (Debian host, root).
#   scripts/docker-env.sh start   -> installs docker.io/debootstrap/qemu if missing, starts a
#                                    private dockerd, registers QEMU for arm64, and prints
#                                    `export DOCKER_HOST=...` on stdout (use with eval).
#   scripts/docker-env.sh stop    -> stops that dockerd, by its pid file only.
#   scripts/docker-env.sh env     -> prints the export line only.
# State lives under $KRAKEND_DOCKER_ROOT (default /var/cache/krakend-tools/docker).
# When another dockerd already owns docker0, ours gets its own bridge (never --bridge none).
set -euo pipefail
ROOT=${KRAKEND_DOCKER_ROOT:-/var/cache/krakend-tools/docker}
SOCK=$ROOT/docker.sock
PIDFILE=$ROOT/docker.pid
BRIDGE_NAME=${KRAKEND_DOCKER_BRIDGE:-kt-docker0}
BRIDGE_CIDR=${KRAKEND_DOCKER_BRIDGE_CIDR:-10.213.0.1/24}  # distinct per private engine
log() { echo "docker-env: $*" >&2; }

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

install_packages() {
  local want="docker.io debootstrap qemu-user-static binfmt-support" missing=""
  for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    log "installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

binfmt() {
  [ "$(uname -m)" = x86_64 ] || return 0
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  if grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "QEMU arm64 emulation registered"
  else
    log "warning: QEMU arm64 emulation is not registered (arm64 targets need it)"
  fi
}

start() {
  install_packages
  binfmt
  mkdir -p "$ROOT"
  if running; then
    log "dockerd already running (pid $(cat "$PIDFILE"))"
  else
    local netopts=()
    # Another engine runs on this host (it owns docker0): use a private bridge.
    if pgrep -x dockerd >/dev/null 2>&1; then
      if ! ip link show "$BRIDGE_NAME" >/dev/null 2>&1; then
        ip link add "$BRIDGE_NAME" type bridge
        ip addr add "$BRIDGE_CIDR" dev "$BRIDGE_NAME"
        ip link set "$BRIDGE_NAME" up
        echo "$BRIDGE_NAME" >"$ROOT/bridge-created"
      fi
      netopts=(--bridge "$BRIDGE_NAME" --iptables=false --ip-masq=false)
      log "another engine owns docker0: using bridge $BRIDGE_NAME"
    fi
    rm -f "$SOCK"
    setsid dockerd --data-root "$ROOT/data" --exec-root "$ROOT/exec" --host "unix://$SOCK" \
      --pidfile "$PIDFILE" "${netopts[@]}" >"$ROOT/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 600); do
      DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1 && break
      sleep 0.1
    done
    if ! DOCKER_HOST=unix://$SOCK docker version >/dev/null 2>&1; then
      log "dockerd did not come up; see $ROOT/dockerd.log"; tail -n 5 "$ROOT/dockerd.log" >&2; exit 1
    fi
    log "dockerd started (pid $(cat "$PIDFILE")), socket $SOCK"
  fi
  echo "export DOCKER_HOST=unix://$SOCK"
}

stop() {
  if ! running; then log "not running"; return 0; fi
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  log "dockerd (pid $pid) stopped"
  # the private bridge start made for this engine, if it did
  if [ -f "$ROOT/bridge-created" ]; then
    ip link del "$(cat "$ROOT/bridge-created")" 2>/dev/null || true
    rm -f "$ROOT/bridge-created"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export DOCKER_HOST=unix://$SOCK" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
