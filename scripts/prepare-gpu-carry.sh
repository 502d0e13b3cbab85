#!/usr/bin/env bash
# Builds gpu-carry/, what scripts/gpu-check.sh needs on a bare GPU machine
# (no Rust toolchain, no network): the stripped release binary (the portable
# glibc 2.28 build of scripts/build-portable.sh where cargo-zigbuild is here) and the
# Debian packages of the Vulkan and OpenCL loaders, with the GL vendor-
# neutral dispatch libraries that NVIDIA's Vulkan ICD (libGLX_nvidia) and
# EGL need. Run it here, then carry gpu-carry/ (ignored by git, about
# 20 MiB) with the call that runs scripts/gpu-check.sh.
#
# Usage: scripts/prepare-gpu-carry.sh [CARRY_DIR]   (default gpu-carry)
set -euo pipefail
cd "$(dirname "$0")/.."
carry=${1:-gpu-carry}
mkdir -p "$carry/debs"

# The portable binary (glibc 2.28 and later, stripped) where cargo-zigbuild
# is installed, since the GPU machine's glibc is not known; else this
# machine's build, stripped, with its glibc requirement said.
if command -v cargo-zigbuild > /dev/null && { command -v zig > /dev/null || python3 -c 'import ziglang' 2> /dev/null; }; then
    scripts/build-portable.sh
    cp target/portable/hetbench "$carry/hetbench"
else
    cargo build --release --bin hetbench
    cp target/release/hetbench "$carry/hetbench"
    strip "$carry/hetbench"
    echo "prepare-gpu-carry: no cargo-zigbuild: carrying this machine's build, which needs $(scripts/build-portable.sh --check "$carry/hetbench" 2>&1 | grep -o 'GLIBC_[0-9.]*' | head -1) (scripts/build-portable.sh builds one for glibc 2.28)" >&2
fi

# The loaders and what NVIDIA's ICDs link against, for amd64 whatever this
# machine is (the device machines are x86-64).
pkgs=(libvulkan1 ocl-icd-libopencl1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
lists=$(mktemp -d)
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
mkdir -p "$lists/partial"
apt-get "${apt_opts[@]}" update >/dev/null
rm -f "$carry"/debs/*.deb
(cd "$carry/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}")
rm -rf "$lists"

git rev-parse HEAD >"$carry/COMMIT"
du -sh "$carry"
ls -l "$carry" "$carry/debs"
