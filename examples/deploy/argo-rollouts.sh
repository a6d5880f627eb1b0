#!/usr/bin/env bash
# Slipway deploy command for Argo Rollouts: the Rollout's image is set to the
# candidate and its weight to SLIPWAY_TRAFFIC with `setWeight` semantics
# (the Rollout's strategy has a bare `- pause: {}` step that Slipway advances).
#
#   environments:
#     production:
#       deploy: ./examples/deploy/argo-rollouts.sh
#       canary: {steps: [10, 50, 100], interval: 5m, analysis: …}
#
# Needs: kubectl with the argo-rollouts plugin. Settings: ROLLOUT (default:
# MODEL-ENV), ROLLOUT_NAMESPACE (default: models), CONTAINER (default: model),
# REGISTRY. DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail

: "${SLIPWAY_MODEL:?run by slipway: SLIPWAY_MODEL is not set}"
: "${SLIPWAY_VERSION:?}" "${SLIPWAY_ENV:?}" "${SLIPWAY_TRAFFIC:?}" "${SLIPWAY_DEPLOYMENT_ID:?}"
rollout="${ROLLOUT:-${SLIPWAY_MODEL}-${SLIPWAY_ENV}}"
namespace="${ROLLOUT_NAMESPACE:-models}"
container="${CONTAINER:-model}"
registry="${REGISTRY:-registry.example.com/models}"
image="${registry}/${SLIPWAY_MODEL}:${SLIPWAY_VERSION}"

run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '+ %s\n' "$*"; else "$@"; fi
}

if [[ -n "${SLIPWAY_IMAGE_OCI:-}" ]]; then
  run skopeo copy --preserve-digests "${SLIPWAY_IMAGE_OCI}" "docker://${image}"
fi

if [[ "${SLIPWAY_STABLE_VERSION:-}" == "${SLIPWAY_VERSION}" && "${SLIPWAY_TRAFFIC}" == 100 ]]; then
  # A rollback: abort any rollout in flight and pin the stable image.
  run kubectl argo rollouts -n "$namespace" abort "$rollout"
  run kubectl argo rollouts -n "$namespace" set image "$rollout" "${container}=${image}"
  run kubectl argo rollouts -n "$namespace" promote --full "$rollout"
elif [[ "${SLIPWAY_TRAFFIC}" == 100 ]]; then
  run kubectl argo rollouts -n "$namespace" promote --full "$rollout"
else
  # setWeight: the first step sets the image; every step sets the weight.
  run kubectl argo rollouts -n "$namespace" set image "$rollout" "${container}=${image}"
  run kubectl -n "$namespace" patch rollout "$rollout" --type merge \
    -p "{\"spec\":{\"strategy\":{\"canary\":{\"steps\":[{\"setWeight\":${SLIPWAY_TRAFFIC}},{\"pause\":{}}]}}}}"
  run kubectl argo rollouts -n "$namespace" promote "$rollout"
fi
