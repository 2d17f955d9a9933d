#!/usr/bin/env bash
# Builds a second golden set in ../shared/golden's format (other seeds, shapes, grids and
# parameters) into $1 (default /tmp/golden2), then runs every golden test on it.
# Needs a Python with torch 2.15.0, diffusers 0.42.1, numpy and k-diffusion 0.1.1.post1
# ($PY, default /tmp/torchvenv/bin/python) and the original GDF source ($GDF_SRC, the folder
# holding its `gdf` package). See README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
out="${1:-/tmp/golden2}"
py="${PY:-/tmp/torchvenv/bin/python}"
export GDF_GOLDEN_PUBLIC="${GDF_GOLDEN_PUBLIC:-$root/../shared/golden}"
mkdir -p "$out"
cp "$GDF_GOLDEN_PUBLIC"/*.json "$GDF_GOLDEN_PUBLIC"/*.md "$out"/
chmod u+w "$out"/*
"$py" "$here/gdf.py" "$out"
"$py" "$here/solvers.py" "$out" main
"$py" "$here/guidance.py" main "$out/guidance.json"
cd "$root"
GDF_GOLDEN_DIR="$out" cargo test --test golden_components --test golden_framework \
  --test macro_golden --test golden_solvers --test golden_spacings --test golden_guidance
