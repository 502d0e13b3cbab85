#!/usr/bin/env bash
# Builds the hetbench binary a site installs on its nodes: a stripped release
# build that starts on glibc 2.28 (RHEL/Alma 8) and later, so also on EL9
# (2.34), Debian 11+ and Ubuntu 20.04+. A plain `cargo build` links against the
# build machine's glibc (2.35 symbols here) and fails on EL8/EL9 with
# "GLIBC_2.35 not found".
#
# How: cargo-zigbuild links with zig against the glibc 2.28 symbol set
# (`--target x86_64-unknown-linux-gnu.2.28`); the C parts (bundled SQLite)
# are compiled by `zig cc` for that target too. Drivers (Vulkan, OpenCL,
# NVML) are opened at run time, so the binary carries no driver dependency.
#
# Needs: `pip install ziglang` (or zig on PATH) and `cargo install cargo-zigbuild`.
# Usage: scripts/build-portable.sh            build, strip, check -> target/portable/hetbench
#        scripts/build-portable.sh --check BIN only check BIN's highest GLIBC symbol version
# HETBENCH_GLIBC=2.28 (default) sets the oldest glibc to start on.
set -euo pipefail
cd "$(dirname "$0")/.."
glibc=${HETBENCH_GLIBC:-2.28}

# The highest GLIBC_x.y symbol version BIN needs (from its dynamic symbols).
highest() {
    objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

check() {
    local bin=$1 need
    need=$(highest "$bin")
    if [ -z "$need" ]; then
        echo "build-portable: $bin has no GLIBC symbol versions (not a dynamic glibc binary?)" >&2
        return 1
    fi
    if [ "$(printf '%s\n%s\n' "$need" "$glibc" | sort -V | tail -1)" != "$glibc" ]; then
        echo "build-portable: $bin needs GLIBC_$need, newer than $glibc: it will not start on glibc $glibc nodes" >&2
        return 1
    fi
    echo "build-portable: $bin needs at most GLIBC_$need (target: $glibc or later)"
}

if [ "${1:-}" = "--check" ]; then
    check "${2:?usage: $0 --check BINARY}"
    exit
fi

if ! cargo zigbuild --help > /dev/null 2>&1; then
    echo "build-portable: cargo-zigbuild is missing: cargo install cargo-zigbuild (and pip install ziglang)" >&2
    exit 1
fi
if ! command -v zig > /dev/null && ! python3 -c 'import ziglang' 2> /dev/null; then
    echo "build-portable: zig is missing: pip install ziglang (or put zig on PATH)" >&2
    exit 1
fi
arch=$(uname -m)
cargo zigbuild --release --locked --bin hetbench --target "$arch-unknown-linux-gnu.$glibc"
mkdir -p target/portable
out=target/portable/hetbench
cp "target/$arch-unknown-linux-gnu/release/hetbench" "$out"
strip "$out"
check "$out"
"$out" --version > /dev/null
echo "build-portable: $out ($(du -h "$out" | cut -f1), $arch); install it where every node reads it and set HETBENCH to it (scripts/batch/README.md)"
