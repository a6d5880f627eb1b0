#!/bin/sh
# Slipway deploy command for a model behind HAProxy: one server per version in a backend
# (named PREFIX + version: v1, v2, …), traffic shared by weights set through HAProxy's
# runtime API on its admin socket (`set server BACKEND/SERVER weight N`). Nothing restarts:
# a weight change applies to the next request.
#
#   environments:
#     production:
#       deploy: HAPROXY_SOCKET=/run/haproxy/admin.sock examples/deploy/haproxy/deploy.sh
#
# The candidate (SLIPWAY_VERSION) gets SLIPWAY_TRAFFIC, the stable version
# (SLIPWAY_STABLE_VERSION) the rest, and every other server of the backend 0: a rollback
# (the stable version at 100) takes all traffic off the candidate. Weights that rise are
# set before weights that fall, so the backend never has no server with weight, and
# every weight is read back (`get weight`) before the call succeeds.
#
#   HAPROXY_SOCKET         the admin socket (`stats socket PATH level admin`), required
#   HAPROXY_BACKEND        the backend (default: models)
#   HAPROXY_SERVER_PREFIX  the server name before the version (default: v)
set -eu
: "${HAPROXY_SOCKET:?set HAPROXY_SOCKET to HAProxy admin socket (stats socket PATH level admin)}"
: "${SLIPWAY_VERSION:?run by slipway: SLIPWAY_VERSION is not set}"
: "${SLIPWAY_TRAFFIC:?run by slipway: SLIPWAY_TRAFFIC is not set}"
exec python3 - "$HAPROXY_SOCKET" "${HAPROXY_BACKEND:-models}" "${HAPROXY_SERVER_PREFIX:-v}" \
  "$SLIPWAY_VERSION" "${SLIPWAY_STABLE_VERSION:-}" "$SLIPWAY_TRAFFIC" <<'PY'
import socket, sys

sock_path, backend, prefix, version, stable, traffic = sys.argv[1:7]
traffic = int(traffic)

def ask(command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(sock_path)
    except OSError as e:
        sys.exit(f"haproxy deploy: cannot reach the admin socket {sock_path}: {e}")
    s.sendall((command + "\n").encode())
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks).decode(errors="replace")

# `show servers state BACKEND`: a version line, a header, then one line per server.
state = ask(f"show servers state {backend}").splitlines()
servers = [line.split()[3] for line in state[1:] if len(line.split()) > 3 and not line.startswith("#")]
if not servers:
    sys.exit(f"haproxy deploy: no backend '{backend}' (or it has no servers): {' '.join(state)[:200]}")
candidate = prefix + version
if candidate not in servers:
    sys.exit(f"haproxy deploy: no server '{candidate}' in backend '{backend}' (servers: {', '.join(servers)}); add one per version")
want = {name: 0 for name in servers}
want[candidate] = traffic
if stable and stable != version and traffic < 100:
    if prefix + stable not in servers:
        sys.exit(f"haproxy deploy: no server '{prefix + stable}' for the stable version in backend '{backend}'")
    want[prefix + stable] = 100 - traffic
now = {name: int(ask(f"get weight {backend}/{name}").split()[0]) for name in servers}
order = sorted(servers, key=lambda n: want[n] <= now[n])   # rises first, then falls
for name in order:
    if want[name] != now[name]:
        answer = ask(f"set server {backend}/{name} weight {want[name]}").strip()
        if answer:
            sys.exit(f"haproxy deploy: set server {backend}/{name} weight {want[name]}: {answer}")
for name in servers:
    got = int(ask(f"get weight {backend}/{name}").split()[0])
    if got != want[name]:
        sys.exit(f"haproxy deploy: {backend}/{name} has weight {got}, not {want[name]}")
print(" ".join(f"{n}={want[n]}" for n in servers))
PY
