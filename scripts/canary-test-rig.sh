#!/usr/bin/env bash
# A real canary on loopback, for Slipway's tests, benchmark and demo:
# one model server per version (examples/deploy/haproxy/model_server.py), HAProxy in
# front (backend `models`, one server `vN` per version, weights changed through its admin
# socket by examples/deploy/haproxy/deploy.sh), HAProxy's built-in Prometheus exporter
# scraped every second by a real Prometheus with a throw-away TSDB, and a load generator.
#
#   scripts/canary-test-rig.sh start DIR [VERSION[:ERROR_SHARE[:DELAY_MS]] …]   (default: 1 2)
#   scripts/canary-test-rig.sh load DIR RATE SECONDS MAX   requests/s, bounded in time and count
#   scripts/canary-test-rig.sh stop-load DIR
#   scripts/canary-test-rig.sh stop-prometheus DIR          (Prometheus down, the rest up)
#   scripts/canary-test-rig.sh stop DIR                     everything it started
#
# Ports are free loopback ports picked at start; everything lives under DIR. `start`
# returns once Prometheus has scraped HAProxy (up == 1), and writes DIR/rig.env:
# FRONTEND_URL, PROMETHEUS_URL, HAPROXY_SOCKET, HAPROXY_BACKEND. The first version
# starts with weight 100, the others 0. Exit status 3: a component is not installed.
set -euo pipefail

usage() { echo "usage: $0 start|load|stop-load|stop-prometheus|stop DIR …" >&2; exit 2; }
[ $# -ge 2 ] || usage
CMD=$1
mkdir -p "$2"
BASE=$(cd "$2" && pwd)
shift 2
HERE=$(cd "$(dirname "$0")/.." && pwd)
RECIPE=$HERE/examples/deploy/haproxy

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

remember() { echo "$1 $2" >> "$BASE/pids"; }

stop_named() {   # stops the processes recorded under a name
  [ -f "$BASE/pids" ] || return 0
  local name pid
  while read -r name pid; do
    if [ "$name" = "$1" ] || [ "$1" = all ]; then kill "$pid" 2>/dev/null || true; fi
  done < "$BASE/pids"
  if [ "$1" = all ]; then
    sleep 0.2
    while read -r name pid; do kill -9 "$pid" 2>/dev/null || true; done < "$BASE/pids"
    rm -f "$BASE/pids"
  fi
}

case "$CMD" in
start)
  missing=""
  for c in haproxy prometheus python3 curl; do command -v "$c" >/dev/null 2>&1 || missing="$missing $c"; done
  if [ -n "$missing" ]; then
    echo "canary-test-rig: missing commands:$missing (apt-get install haproxy prometheus python3 curl)" >&2
    exit 3
  fi
  [ $# -gt 0 ] || set -- 1 2
  FE=$(free_port); EX=$(free_port); PR=$(free_port)
  servers=""
  first=1
  for spec in "$@"; do
    IFS=: read -r version share delay <<< "$spec"
    port=$(free_port)
    python3 "$RECIPE/model_server.py" --port "$port" --version "$version" --error-share "${share:-0}" --delay-ms "${delay:-0}" \
      > "$BASE/model-v$version.log" 2>&1 &
    remember "model-v$version" $!
    wait_for 10 curl -sf "http://127.0.0.1:$port/healthz" || { echo "canary-test-rig: model server v$version did not start" >&2; exit 1; }
    weight=$([ $first = 1 ] && echo 100 || echo 0); first=0
    servers="$servers  server v$version 127.0.0.1:$port weight $weight
"
  done
  cat > "$BASE/haproxy.cfg" <<H
global
  stats socket $BASE/haproxy.sock mode 600 level admin
  pidfile $BASE/haproxy.pid
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend model
  bind 127.0.0.1:$FE
  default_backend models
frontend metrics
  bind 127.0.0.1:$EX
  http-request use-service prometheus-exporter if { path /metrics }
backend models
  balance roundrobin
$servers
H
  haproxy -db -f "$BASE/haproxy.cfg" > "$BASE/haproxy.log" 2>&1 &
  remember haproxy $!
  wait_for 10 test -S "$BASE/haproxy.sock" || { echo "canary-test-rig: HAProxy did not start: $(tail -3 "$BASE/haproxy.log")" >&2; exit 1; }
  printf 'global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: haproxy\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$EX" > "$BASE/prometheus.yml"
  prometheus --config.file="$BASE/prometheus.yml" --storage.tsdb.path="$BASE/tsdb" --web.listen-address="127.0.0.1:$PR" \
    > "$BASE/prometheus.log" 2>&1 &
  remember prometheus $!
  scraped() { curl -sf "http://127.0.0.1:$PR/api/v1/query?query=up%7Bjob%3D%22haproxy%22%7D%3D%3D1" | grep -q '"value"'; }
  wait_for 30 scraped || { echo "canary-test-rig: Prometheus did not scrape HAProxy: $(tail -3 "$BASE/prometheus.log")" >&2; exit 1; }
  cat > "$BASE/rig.env" <<E
FRONTEND_URL=http://127.0.0.1:$FE/predict
PROMETHEUS_URL=http://127.0.0.1:$PR
HAPROXY_SOCKET=$BASE/haproxy.sock
HAPROXY_BACKEND=models
E
  echo "PROMETHEUS_URL=http://127.0.0.1:$PR"
  ;;
load)
  [ $# -eq 3 ] || usage
  . "$BASE/rig.env"
  python3 - "$FRONTEND_URL" "$1" "$2" "$3" "$BASE/load.json" > "$BASE/load.log" 2>&1 <<'PY' &
import json, sys, time, urllib.request, urllib.error
url, rate, seconds, most, out = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
codes, start, sent = {}, time.monotonic(), 0
while sent < most and time.monotonic() - start < seconds:
    due = start + sent / rate
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except Exception:
        code = 0
    codes[code] = codes.get(code, 0) + 1
    sent += 1
    if sent % 50 == 0:
        json.dump({"sent": sent, "codes": codes}, open(out, "w"))
json.dump({"sent": sent, "codes": codes, "done": True}, open(out, "w"))
PY
  remember load $!
  ;;
stop-load) stop_named load ;;
stop-prometheus) stop_named prometheus ;;
stop) stop_named all ;;
*) usage ;;
esac
