#!/usr/bin/env bash
# The 10-minute soak (issue 6): spanflow on tansu under a steady 400 messages/s, writing to
# kassandra, through a 30 s Scylla outage and a graceful restart. Passes when the tables equal
# the clean file run and RSS stays flat after warm-up; the result table goes to
# target/soak-report.md (README "Soak"). About 12 minutes once built; needs tansu
# (installed here when missing, as CI does). With Prometheus installed, it also draws the
# Grafana dashboard's panels over the run to target/soak-dashboard.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v tansu >/dev/null 2>&1; then
  cargo install tansu --version 0.6.0 --locked --features dynostore
fi
export SPANFLOW_REQUIRE_TANSU=1
# Release build: the soak measures memory and rates of the binary operators run.
cargo test --release --locked --test integration soak::ten_minute_soak -- --ignored --exact --nocapture
cat "${CARGO_TARGET_DIR:-target}/soak-report.md"
target="${CARGO_TARGET_DIR:-target}"
if [ -f "$target/soak-dashboard.json" ]; then
  venv="$target/preview-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'matplotlib>=3.7,<4'
  fi
  "$venv/bin/python" scripts/dashboard_preview.py "$target/soak-dashboard.json" "$target/soak-dashboard.png"
fi
