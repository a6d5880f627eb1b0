#!/usr/bin/env bash
# Slipway deploy command for KServe: one InferenceService per environment,
# the candidate at SLIPWAY_TRAFFIC percent through canaryTrafficPercent.
#
#   environments:
#     production:
#       deploy: ./examples/deploy/kserve.sh
#       canary: {steps: [10, 50, 100], interval: 5m, analysis: …}
#
# Needs: kubectl with access to the namespace; skopeo to push the image.
# Settings (environment): KSERVE_NAMESPACE (default: models), REGISTRY
# (e.g. ghcr.io/acme; the image is pushed there as MODEL:VERSION).
# DRY_RUN=1 prints the commands and the manifest instead of running them.
set -euo pipefail

: "${SLIPWAY_MODEL:?run by slipway: SLIPWAY_MODEL is not set}"
: "${SLIPWAY_VERSION:?}" "${SLIPWAY_ENV:?}" "${SLIPWAY_TRAFFIC:?}" "${SLIPWAY_DEPLOYMENT_ID:?}"
namespace="${KSERVE_NAMESPACE:-models}"
registry="${REGISTRY:-registry.example.com/models}"
name="${SLIPWAY_MODEL}-${SLIPWAY_ENV}"
image="${registry}/${SLIPWAY_MODEL}:${SLIPWAY_VERSION}"

run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '+ %s\n' "$*"; else "$@"; fi
}

# The same SLIPWAY_DEPLOYMENT_ID on a retry: pushing and applying are idempotent.
if [[ -n "${SLIPWAY_IMAGE_OCI:-}" ]]; then
  run skopeo copy --preserve-digests "${SLIPWAY_IMAGE_OCI}" "docker://${image}"
fi

manifest=$(cat <<YAML
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: ${name}
  namespace: ${namespace}
  annotations:
    slipway.dev/deployment-id: "${SLIPWAY_DEPLOYMENT_ID}"
    slipway.dev/stable-version: "${SLIPWAY_STABLE_VERSION:-}"
spec:
  predictor:
    canaryTrafficPercent: ${SLIPWAY_TRAFFIC}
    model:
      modelFormat: {name: custom}
      storageUri: "oci://${image}"
YAML
)

if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '+ kubectl apply -f - <<manifest\n%s\nmanifest\n' "$manifest"
else
  printf '%s\n' "$manifest" | kubectl apply -f -
  kubectl -n "$namespace" wait --for=condition=Ready "inferenceservice/${name}" --timeout=300s
fi
