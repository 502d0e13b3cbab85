#!/usr/bin/env bash
# Compares hetbench's CPU kernels with tuned peers on this machine, side by side:
#   stream_triad (medium, n=2^25)  vs an OpenMP C triad (-O3 -march=native -fopenmp)   target >= 0.9x
#   gemm (large, n=2048)           vs OpenBLAS cblas_sgemm                              target >= 0.8x
#   nbody (medium, n=16384)        vs an OpenMP C loop of the same arithmetic           target >= 0.8x
# Needs a C compiler with OpenMP, OpenBLAS (Debian: libopenblas-dev) and python3.
# Usage: scripts/peer-ratios.sh [--budget SECONDS]   (run on an idle node)
# Exit status: 0 when every ratio meets its target, 1 otherwise, 2 on a setup error.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=2
[ "${1:-}" = "--budget" ] && budget="$2"

build=scripts/peers/build
mkdir -p "$build"
cc -O3 -march=native -fopenmp scripts/peers/triad.c -o "$build/triad" || { echo "cannot build the triad peer" >&2; exit 2; }
cc -O3 -march=native scripts/peers/sgemm.c -o "$build/sgemm" -lopenblas || { echo "cannot build the sgemm peer: install libopenblas-dev" >&2; exit 2; }
# -fno-math-errno: without it GCC keeps sqrtf a library call (errno) and does
# not vectorise at all; it changes no arithmetic.
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/nbody.c -o "$build/nbody" -lm || { echo "cannot build the nbody peer" >&2; exit 2; }
cargo build --release --quiet
hb=target/release/hetbench

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# hetbench's throughput for one kernel and size, from its own database.
harness() {
  "$hb" --db "$tmp/peer.db" --results-dir "$tmp" run --backend cpu --kernel "$1" --size "$2" \
        --time-budget "$budget" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 2; }
  "$hb" --db "$tmp/peer.db" results --kernel "$1" --size "$2" --limit 1 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["throughput"])'
}

threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads logical CPUs"
printf '%-14s %-24s %12s %12s %8s %8s\n' kernel peer hetbench peer ratio target
status=0
row() { # kernel peer unit harness peer target
  ratio=$(python3 -c "print(f'{$4/$5:.3f}')")
  verdict=$(python3 -c "print('ok' if $4/$5 >= $6 else 'BELOW')")
  [ "$verdict" = ok ] || status=1
  printf '%-14s %-24s %12.2f %12.2f %8s %8s %s (%s)\n' "$1" "$2" "$4" "$5" "$ratio" "$6" "$verdict" "$3"
}

h=$(harness stream_triad medium); p=$(OMP_NUM_THREADS=$threads "$build/triad" 33554432 50 2>/dev/null)
row stream_triad "OpenMP C triad" GB/s "$h" "$p" 0.9
# OPENBLAS_CORETYPE/L2_SIZE may be set on some machines to work around old
# OpenBLAS bugs; they pin a slower kernel, so the peer runs without them.
h=$(harness gemm large); p=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$build/sgemm" 2048 20 2>"$tmp/blas")
row gemm "OpenBLAS sgemm" GFLOP/s "$h" "$p" 0.8
sed 's/^/  /' "$tmp/blas"
h=$(harness nbody medium); p=$(OMP_NUM_THREADS=$threads "$build/nbody" 16384 10 2>/dev/null)
row nbody "OpenMP C loop" Ginteractions/s "$h" "$p" 0.8
exit $status
