#!/usr/bin/env bash
# The 60k layout-checked comparison, under the name earlier sessions' notes use:
# `bench/start_layout.sh` with its budget fixed at 60 (thousand images seen).
#   bash bench/start_60k_layout.sh [SEED_INDICES] [ARMS] [REAL_COUNT] [SEEDS]
exec bash "$(dirname "$0")/start_layout.sh" "${1:-1,2}" "${2:-real+checked}" "${3:-50}" \
    "${4:-3}" 60
