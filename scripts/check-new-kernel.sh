#!/usr/bin/env bash
# Checks that `hetbench new-kernel` produces a kernel that builds, runs on
# every backend present and fails verification (as the template must, until
# written): in a copy of the source tree, so this tree is left untouched.
# Usage: scripts/check-new-kernel.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
copy="$work/tree"
rm -rf "$copy"
mkdir -p "$copy"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$copy")
# Reuse this tree's compiled dependencies.
export CARGO_TARGET_DIR="$root/target/new-kernel-check"
mkdir -p "$CARGO_TARGET_DIR"
# Hard links: instant and no extra space; only the copy's own crate is rebuilt.
[ -d "$root/target/release/deps" ] && [ ! -d "$CARGO_TARGET_DIR/release" ] && cp -al "$root/target/release" "$CARGO_TARGET_DIR/release"
cd "$copy"
cargo run --release --quiet -- new-kernel check_me --domain micro
cargo build --release --quiet
status=0
"$CARGO_TARGET_DIR/release/hetbench" --results-dir "$work/results" run -k check_me --size tiny --quick --idle-seconds 0 > "$work/table.txt" 2> "$work/err.txt" || status=$?
cat "$work/table.txt"
[ "$status" = 3 ] || { echo "check-new-kernel: FAIL: expected exit 3 (verify_failed), got $status" >&2; cat "$work/err.txt" >&2; exit 1; }
# Every result that ran must have failed verification; a backend may skip
# the template with its reason (fpga-emu: no fixed-point path).
rows=$(grep '^check_me ' "$work/table.txt" | grep -vc ' skipped ' || true)
failed=$(grep -c '^check_me .* verify_failed ' "$work/table.txt" || true)
[ "$rows" -ge 1 ] && [ "$rows" = "$failed" ] || { echo "check-new-kernel: FAIL: $failed of $rows results that ran are verify_failed" >&2; exit 1; }
echo "check-new-kernel: ok: the new kernel builds and runs on $rows device(s), failing verification as a template should"
