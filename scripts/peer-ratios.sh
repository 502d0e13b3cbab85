#!/usr/bin/env bash
# Compares hetbench's CPU kernels with tuned peers on this machine, side by side:
#   stream_triad (medium, n=2^25)  vs an OpenMP C triad (-O3 -march=native -fopenmp)   target >= 0.9x
#   gemm (large, n=2048)           vs OpenBLAS cblas_sgemm                              target >= 0.8x
#   nbody (medium, n=16384)        vs an OpenMP C loop of the same arithmetic           target >= 0.8x
#   ... one row per kernel below, then the f64 variants (peers built with -DREAL=double)
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

# hetbench's throughput for one kernel and size (and precision, if given),
# from its own database.
harness() {
  "$hb" --db "$tmp/peer.db" --results-dir "$tmp" run --backend cpu --kernel "$1" --size "$2" \
        ${3:+--precision "$3"} --time-budget "$budget" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 2; }
  "$hb" --db "$tmp/peer.db" results --kernel "$1" --size "$2" --limit 1 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["throughput"])'
}

threads=$(nproc)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads logical CPUs"
printf '%-16s %-24s %12s %12s %8s %8s\n' kernel peer hetbench peer ratio target
status=0
row() { # kernel peer unit harness peer target
  ratio=$(python3 -c "print(f'{$4/$5:.3f}')")
  verdict=$(python3 -c "print('ok' if $4/$5 >= $6 else 'BELOW')")
  [ "$verdict" = ok ] || status=1
  printf '%-16s %-24s %12.2f %12.2f %8s %8s %s (%s)\n' "$1" "$2" "$4" "$5" "$ratio" "$6" "$verdict" "$3"
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
# stencil3d (medium, 256^3, 8 steps) vs an OpenMP C loop of the same arithmetic, target >= 0.8x
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/stencil3d.c -o "$build/stencil3d" || { echo "cannot build the stencil3d peer" >&2; exit 2; }
h=$(harness stencil3d medium); p=$(OMP_NUM_THREADS=$threads "$build/stencil3d" 256 8 10 2>/dev/null)
row stencil3d "OpenMP C loop" Gpoint-updates/s "$h" "$p" 0.8
# pic_push (medium, 4M particles, 8 steps) vs an OpenMP C loop of the same arithmetic, target >= 0.8x
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/pic_push.c -o "$build/pic_push" || { echo "cannot build the pic_push peer" >&2; exit 2; }
h=$(harness pic_push medium); p=$(OMP_NUM_THREADS=$threads "$build/pic_push" 4194304 8 10 2>/dev/null)
row pic_push "OpenMP C loop" Gpushes/s "$h" "$p" 0.8
# mlp_jet (medium, 2^20 events) vs an OpenMP C loop of the same network (per-event layer loops, libm expf), target >= 0.8x
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/mlp_jet.c -o "$build/mlp_jet" -lm || { echo "cannot build the mlp_jet peer" >&2; exit 2; }
h=$(harness mlp_jet medium); p=$(OMP_NUM_THREADS=$threads "$build/mlp_jet" 1048576 10 2>/dev/null)
row mlp_jet "OpenMP C loop" Mevents/s "$h" "$p" 0.8
# and vs the library way: tiles of events through one OpenBLAS sgemm per layer (single-threaded BLAS inside OpenMP)
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/mlp_jet_blas.c -o "$build/mlp_jet_blas" -lopenblas -lm || { echo "cannot build the mlp_jet BLAS peer: install libopenblas-dev" >&2; exit 2; }
p=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=$threads "$build/mlp_jet_blas" 1048576 10 2>/dev/null)
row mlp_jet "tiled OpenBLAS sgemm" Mevents/s "$h" "$p" 0.8
# mc_transport (medium, 2^20 photons) vs an OpenMP C port of the same transport, target >= 0.8x
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/mc_transport.c -o "$build/mc_transport" -lm || { echo "cannot build the mc_transport peer" >&2; exit 2; }
h=$(harness mc_transport medium); p=$(OMP_NUM_THREADS=$threads "$build/mc_transport" 1048576 5 2>/dev/null)
row mc_transport "OpenMP C port" Mphotons/s "$h" "$p" 0.8
# kalman_fit (medium, 2^20 tracks, 10 planes) vs an OpenMP C loop of the same filter (omp simd over tracks), target >= 0.8x
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/kalman_fit.c -o "$build/kalman_fit" -lm || { echo "cannot build the kalman_fit peer" >&2; exit 2; }
h=$(harness kalman_fit medium); p=$(OMP_NUM_THREADS=$threads "$build/kalman_fit" 1048576 10 2>/dev/null)
row kalman_fit "OpenMP C loop" Mtracks/s "$h" "$p" 0.8
# and vs the tuned layout: blocks of 16 tracks, every quantity a 16-lane array, one omp simd loop per plane
cc -O3 -march=native -fno-math-errno -fopenmp scripts/peers/kalman_fit_lanes.c -o "$build/kalman_fit_lanes" -lm || { echo "cannot build the kalman_fit lanes peer" >&2; exit 2; }
p=$(OMP_NUM_THREADS=$threads "$build/kalman_fit_lanes" 1048576 10 2>/dev/null)
row kalman_fit "OpenMP C, 16-lane blocks" Mtracks/s "$h" "$p" 0.8
# fma_peak (medium, 2^18 items x 1024 iterations) vs a C loop of the same chains (GCC vectors, OpenMP), target >= 0.8x
cc -O3 -march=native -fopenmp scripts/peers/fma_peak.c -o "$build/fma_peak" || { echo "cannot build the fma_peak peer" >&2; exit 2; }
h=$(harness fma_peak medium); p=$(OMP_NUM_THREADS=$threads "$build/fma_peak" 262144 1024 10 2>/dev/null)
row fma_peak "C vector loop" GFLOP/s "$h" "$p" 0.8
# hough (medium, 216000 hits x 128 q/pT bins x 2048 phi bins) vs an OpenMP C loop of the same integer transform and peak rule, target >= 0.8x
cc -O3 -march=native -fopenmp scripts/peers/hough.c -o "$build/hough" || { echo "cannot build the hough peer" >&2; exit 2; }
h=$(harness hough medium); p=$(OMP_NUM_THREADS=$threads "$build/hough" 216000 128 11 10 2>/dev/null)
row hough "OpenMP C loop" Gvotes/s "$h" "$p" 0.8
# conv2d (medium, 8 x 64->64 x 56x56, 3x3) vs im2col (OpenMP) + OpenBLAS cblas_sgemm, target >= 0.8x
# (OMP_WAIT_POLICY=passive: spinning OpenMP threads would starve OpenBLAS's own threads)
cc -O3 -march=native -fopenmp scripts/peers/conv2d.c -o "$build/conv2d" -lopenblas || { echo "cannot build the conv2d peer: install libopenblas-dev" >&2; exit 2; }
h=$(harness conv2d medium); p=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$threads "$build/conv2d" 8 64 64 56 56 3 10 2>/dev/null)
row conv2d "im2col + OpenBLAS" GFLOP/s "$h" "$p" 0.8
# cluster (medium, 2048 x 2048 cells, 8192 showers) vs an OpenMP C port of the same strip-parallel union-find on the same input, target >= 0.8x
# (-ffp-contract=off: the peer generates hetbench's input, and must round as it does)
cc -O3 -march=native -ffp-contract=off -fopenmp scripts/peers/cluster.c -o "$build/cluster" -lm || { echo "cannot build the cluster peer" >&2; exit 2; }
h=$(harness cluster medium); p=$(OMP_NUM_THREADS=$threads "$build/cluster" 2048 2048 8192 20 2>"$tmp/cluster") || { cat "$tmp/cluster" >&2; exit 2; }
row cluster "OpenMP C port" Gcells/s "$h" "$p" 0.8
sed 's/^/  /' "$tmp/cluster"
# The f64 variants against the same peers compiled with -DREAL=double
# (OpenBLAS cblas_dgemm for gemm), same targets.
cc -O3 -march=native -fopenmp -DREAL=double scripts/peers/triad.c -o "$build/triad64" || { echo "cannot build the f64 triad peer" >&2; exit 2; }
h=$(harness stream_triad medium f64); p=$(OMP_NUM_THREADS=$threads "$build/triad64" 33554432 50 2>/dev/null)
row "stream_triad/f64" "OpenMP C triad" GB/s "$h" "$p" 0.9
cc -O3 -march=native -DREAL=double scripts/peers/sgemm.c -o "$build/dgemm" -lopenblas || { echo "cannot build the dgemm peer" >&2; exit 2; }
h=$(harness gemm large f64); p=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$build/dgemm" 2048 10 2>/dev/null)
row "gemm/f64" "OpenBLAS dgemm" GFLOP/s "$h" "$p" 0.8
cc -O3 -march=native -fno-math-errno -fopenmp -DREAL=double scripts/peers/nbody.c -o "$build/nbody64" -lm || { echo "cannot build the f64 nbody peer" >&2; exit 2; }
h=$(harness nbody medium f64); p=$(OMP_NUM_THREADS=$threads "$build/nbody64" 16384 5 2>/dev/null)
row "nbody/f64" "OpenMP C loop" Ginteractions/s "$h" "$p" 0.8
cc -O3 -march=native -fopenmp -DREAL=double scripts/peers/fma_peak.c -o "$build/fma_peak64" || { echo "cannot build the f64 fma_peak peer" >&2; exit 2; }
h=$(harness fma_peak medium f64); p=$(OMP_NUM_THREADS=$threads "$build/fma_peak64" 262144 1024 10 2>/dev/null)
row "fma_peak/f64" "C vector loop" GFLOP/s "$h" "$p" 0.8
cc -O3 -march=native -fno-math-errno -fopenmp -DREAL=double scripts/peers/pic_push.c -o "$build/pic_push64" || { echo "cannot build the f64 pic_push peer" >&2; exit 2; }
h=$(harness pic_push medium f64); p=$(OMP_NUM_THREADS=$threads "$build/pic_push64" 4194304 8 10 2>/dev/null)
row "pic_push/f64" "OpenMP C loop" Gpushes/s "$h" "$p" 0.8
cc -O3 -march=native -fno-math-errno -fopenmp -DREAL=double scripts/peers/stencil3d.c -o "$build/stencil3d64" || { echo "cannot build the f64 stencil3d peer" >&2; exit 2; }
h=$(harness stencil3d medium f64); p=$(OMP_NUM_THREADS=$threads "$build/stencil3d64" 256 8 10 2>/dev/null)
row "stencil3d/f64" "OpenMP C loop" Gpoint-updates/s "$h" "$p" 0.8
exit $status
