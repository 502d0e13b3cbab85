#!/usr/bin/env bash
# Compares hetbench's ap_fixed emulation with Vitis HLS's own ap_fixed.h bit
# for bit (tests/ap_fixed_hls.rs), and its jet tagger with the same network
# built from hls4ml's nnet_utils templates (tests/hls4ml_jet.rs): gets the
# headers from the hls4ml wheel (pinned version, checked by SHA-256;
# ap_fixed.h is the C-simulation model Xilinx publishes), unpacks its
# templates/vivado/ap_types and nnet_utils side by side and runs both
# comparisons, required (HETBENCH_REQUIRE_AP_FIXED=1: a missing g++ or
# header fails). Needs python3 with pip (or a wheel or directory given) and
# g++. The tests find nnet_utils beside the ap_types directory.
# Usage: scripts/check-ap-fixed.sh [WHEEL | AP_TYPES_DIR]
#        scripts/check-ap-fixed.sh --fetch [WHEEL | AP_TYPES_DIR]
#          only prints the ap_types directory (its last line), for
#          HETBENCH_AP_TYPES (.ci/run); nnet_utils is its sibling
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=1.3.0
sha256=01bf1de2cd9bca56699b9fe3385cb1735026b022f9580fe1d73faf192dfb90f2
cache=${HETBENCH_AP_CACHE:-$root/target/ap-types}
fetch_only=0
if [ "${1:-}" = "--fetch" ]; then
    fetch_only=1
    shift
fi
given=${1:-}

# Prints the directory holding ap_fixed.h; everything else goes to stderr.
header_dir() {
    if [ -n "$given" ] && [ -d "$given" ]; then
        [ -f "$given/ap_fixed.h" ] || { echo "check-ap-fixed: no ap_fixed.h in $given" >&2; exit 1; }
        (cd "$given" && pwd)
        return
    fi
    local wheel=$given
    if [ -z "$wheel" ]; then
        wheel="$cache/hls4ml-$version-py3-none-any.whl"
        if [ ! -f "$wheel" ]; then
            mkdir -p "$cache"
            python3 -m pip download --quiet --no-deps --only-binary :all: -d "$cache" "hls4ml==$version" >&2
        fi
        echo "$sha256  $wheel" | sha256sum --check --quiet - >&2 ||
            { echo "check-ap-fixed: $wheel is not the hls4ml $version wheel this check pins (SHA-256 differs)" >&2; exit 1; }
    fi
    [ -f "$wheel" ] || { echo "check-ap-fixed: no wheel at $wheel" >&2; exit 1; }
    local out
    out="$cache/unpacked-$(sha256sum "$wheel" | cut -c1-16)"
    if [ ! -f "$out/hls4ml/templates/vivado/ap_types/ap_fixed.h" ] ||
        [ ! -f "$out/hls4ml/templates/vivado/nnet_utils/nnet_dense_latency.h" ]; then
        mkdir -p "$out"
        python3 - "$wheel" "$out" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for part in ("ap_types", "nnet_utils"):
        prefix = f"hls4ml/templates/vivado/{part}/"
        names = [n for n in z.namelist() if n.startswith(prefix)]
        if not names:
            sys.exit(f"check-ap-fixed: {wheel} has no {prefix}")
        z.extractall(out, names)
PY
    fi
    echo "$out/hls4ml/templates/vivado/ap_types"
}

dir=$(header_dir)
if [ "$fetch_only" = 1 ]; then
    echo "$dir"
    exit 0
fi
cd "$root"
HETBENCH_AP_TYPES="$dir" HETBENCH_REQUIRE_AP_FIXED=1 \
    cargo test --release --test ap_fixed_hls --test hls4ml_jet -- --nocapture
