#!/usr/bin/env bash
# Installs the CPU implementations of the GPU APIs, so that the wgpu and OpenCL
# backends run on any machine: Mesa's lavapipe (Vulkan on the CPU) and PoCL
# (OpenCL on the CPU), with the Vulkan and OpenCL ICD loaders. Debian/Ubuntu.
# hetbench labels both as CPUs, never as GPUs.
# Usage: sudo scripts/install-deps.sh [--with-peers]   (--with-peers: OpenBLAS and clpeak
#        for scripts/peer-ratios.sh)
set -euo pipefail
packages=(mesa-vulkan-drivers libvulkan1 pocl-opencl-icd ocl-icd-libopencl1)
[ "${1:-}" = "--with-peers" ] && packages+=(libopenblas-dev clpeak)
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${packages[@]}"
echo "installed: ${packages[*]}"
