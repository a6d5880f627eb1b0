#!/usr/bin/env bash
# Slipway deploy command for a plain Docker host: the candidate runs beside
# the stable container and an nginx upstream splits traffic by weight.
#
#   environments:
#     staging: {deploy: ./examples/deploy/docker-host.sh}
#
# Needs: docker and skopeo on the host. Settings: DOCKER_PORT (default 8080),
# UPSTREAM_CONF (default /etc/nginx/conf.d/MODEL-ENV.conf).
# DRY_RUN=1 prints the commands and the upstream instead of running them.
set -euo pipefail

: "${SLIPWAY_MODEL:?run by slipway: SLIPWAY_MODEL is not set}"
: "${SLIPWAY_VERSION:?}" "${SLIPWAY_ENV:?}" "${SLIPWAY_TRAFFIC:?}" "${SLIPWAY_DEPLOYMENT_ID:?}"
port="${DOCKER_PORT:-8080}"
conf="${UPSTREAM_CONF:-/etc/nginx/conf.d/${SLIPWAY_MODEL}-${SLIPWAY_ENV}.conf}"
tag="${SLIPWAY_MODEL}:${SLIPWAY_VERSION}"
candidate="${SLIPWAY_MODEL}-${SLIPWAY_ENV}-v${SLIPWAY_VERSION}"

run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '+ %s\n' "$*"; else "$@"; fi
}

if [[ -n "${SLIPWAY_IMAGE_OCI:-}" ]]; then
  run skopeo copy --preserve-digests "${SLIPWAY_IMAGE_OCI}" "docker-daemon:${tag}"
fi
# Idempotent on a retry: the container is named by version.
if [[ "${DRY_RUN:-0}" == 1 ]] || ! docker inspect "$candidate" >/dev/null 2>&1; then
  run docker run -d --restart unless-stopped --name "$candidate" -p "127.0.0.1::${port}" "$tag"
fi

stable_weight=$((100 - SLIPWAY_TRAFFIC))
upstream="upstream ${SLIPWAY_MODEL}_${SLIPWAY_ENV} {
  server ${candidate}:${port} weight=$((SLIPWAY_TRAFFIC == 0 ? 1 : SLIPWAY_TRAFFIC));"
if [[ -n "${SLIPWAY_STABLE_VERSION:-}" && "${SLIPWAY_STABLE_VERSION}" != "${SLIPWAY_VERSION}" && $stable_weight -gt 0 ]]; then
  upstream+="
  server ${SLIPWAY_MODEL}-${SLIPWAY_ENV}-v${SLIPWAY_STABLE_VERSION}:${port} weight=${stable_weight};"
fi
upstream+="
}"

if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '+ write %s\n%s\n+ nginx -s reload\n' "$conf" "$upstream"
else
  printf '%s\n' "$upstream" > "${conf}.tmp" && mv "${conf}.tmp" "$conf"
  nginx -s reload
fi
