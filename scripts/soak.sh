#!/usr/bin/env bash
# Soak test of `dsv3 serve` on loopback: streaming clients that hang up mid-stream,
# malformed requests and slow clients, for a bounded time; per-minute counts and server RSS.
# Usage: scripts/soak.sh [SECONDS] [scripts/soak.py options...]   (default 60 s)
# Builds build/release/dsv3 when it is missing. Exits non-zero on a 5xx, a hang or a server
# crash. See scripts/soak.py --help for the knobs (clients, deadline, model, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then seconds="$1"; shift; fi
if [[ ! -x build/release/dsv3 ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target dsv3 -j "$(nproc)"
fi
exec python3 scripts/soak.py --seconds "$seconds" "$@"
