#!/usr/bin/env bash
# The example's deploy command: records what is live where in deployed/ENV.json.
# A real one calls your platform (see examples/deploy/ for Docker, KServe, Argo Rollouts).
set -euo pipefail
: "${SLIPWAY_MODEL:?run by slipway}" "${SLIPWAY_VERSION:?}" "${SLIPWAY_ENV:?}" "${SLIPWAY_TRAFFIC:?}"
mkdir -p deployed
printf '{"model":"%s","version":%s,"traffic":%s,"stable":"%s"}\n' \
  "$SLIPWAY_MODEL" "$SLIPWAY_VERSION" "$SLIPWAY_TRAFFIC" "${SLIPWAY_STABLE_VERSION:-}" > "deployed/${SLIPWAY_ENV}.json"
echo "${SLIPWAY_MODEL}:${SLIPWAY_VERSION} at ${SLIPWAY_TRAFFIC}% in ${SLIPWAY_ENV}"
