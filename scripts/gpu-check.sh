#!/usr/bin/env bash
# One prepared GPU check for a machine with an NVIDIA GPU (H100/H200 here):
# makes the Vulkan and OpenCL loaders usable, runs the conformance suite and
# the benchmark on the GPU through wgpu and OpenCL, and writes the JSON
# results and a short summary.
#
# Usage: scripts/gpu-check.sh OUTDIR [DEBDIR]
#   DEBDIR holds carried Debian packages to unpack first (libvulkan1,
#   ocl-icd-libopencl1, ...), as the device machine starts bare. A prebuilt
#   target/release/hetbench is used when present (build it here and carry it).
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUTDIR [DEBDIR]}
debs=${2:-.gl}
mkdir -p "$out"
cd "$(dirname "$0")/.."
log="$out/gpu-check.log"
exec > >(tee "$log") 2>&1

if compgen -G "$debs/*.deb" >/dev/null; then
  for f in "$debs"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# NVIDIA's Vulkan ICD and OpenCL ICD, where the driver is mounted but not registered.
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
done
if ! ls /etc/OpenCL/vendors/*nvidia* >/dev/null 2>&1; then
  lib=$(ldconfig -p | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')
  [ -z "$lib" ] && lib=$(find / -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n1)
  if [ -n "$lib" ]; then mkdir -p /etc/OpenCL/vendors; echo "$lib" > /etc/OpenCL/vendors/nvidia.icd; fi
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv || true

hb=target/release/hetbench
[ -x "$hb" ] || { cargo build --release || exit 2; }
"$hb" info | tee "$out/info.txt"

res="$out/results"
export HETBENCH_RESULTS_DIR="$res"
# Verify every kernel on the GPU first (small sizes), then measure.
"$hb" run --backend wgpu,opencl --size small --quick --precision all
"$hb" run --backend wgpu,opencl --size medium,large --time-budget 2
# The f64 roofline: stream_triad, gemm and fma_peak in double precision.
"$hb" run --backend wgpu,opencl --size large -k stream_triad,gemm,fma_peak --precision f64 --time-budget 2
"$hb" results --roofline | tee "$out/roofline.txt"
"$hb" results --json > "$out/results.json"
"$hb" export --format markdown > "$out/summary.md"
cat "$out/summary.md"
