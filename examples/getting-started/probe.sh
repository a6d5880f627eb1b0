#!/usr/bin/env bash
# The example's canary analysis: prints the error rate as JSON. A real one asks
# your metrics system (see docs/deployment.md: http: sources, Prometheus answers).
echo '{"error_rate": 0.004}'
