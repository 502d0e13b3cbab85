#!/usr/bin/env bash
# `hetbench export --format openmetrics` read by the real node_exporter:
# a short run is exported into a textfile-collector directory, Debian's
# prometheus-node-exporter serves it, and its /metrics must carry every
# hetbench sample without a parse error (node_exporter reports one as
# node_textfile_scrape_error 1). Usage: scripts/check-openmetrics.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work/textfile"
exporter=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [ -z "$exporter" ]; then
    echo "check-openmetrics: no node_exporter (apt-get install prometheus-node-exporter)" >&2
    exit 1
fi
hb() { cargo run --quiet --release -- --results-dir "$work/results" "$@"; }
hb run -k gemm,stream_triad --size tiny -b cpu > "$work/run.log" 2>&1
# Atomically, as the textfile collector wants.
hb export --format openmetrics --out "$work/textfile/hetbench.prom.tmp"
mv "$work/textfile/hetbench.prom.tmp" "$work/textfile/hetbench.prom"
port=$((20000 + RANDOM % 20000))
"$exporter" --web.listen-address="127.0.0.1:$port" \
    --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$work/textfile" > "$work/exporter.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
metrics=""
for _ in $(seq 50); do
    if metrics=$(curl -sf "http://127.0.0.1:$port/metrics"); then break; fi
    sleep 0.1
done
[ -n "$metrics" ] || { echo "check-openmetrics: node_exporter did not answer" >&2; cat "$work/exporter.log" >&2; exit 1; }
fail() { echo "check-openmetrics: $1" >&2; echo "$metrics" | grep -E 'hetbench|textfile' >&2; exit 1; }
echo "$metrics" | grep -q '^node_textfile_scrape_error 0$' || fail "node_exporter could not parse the export"
want=$(grep -vc '^#' "$work/textfile/hetbench.prom")
got=$(echo "$metrics" | grep -c '^hetbench_' || true)
[ "$want" -eq "$got" ] || fail "$want samples exported, node_exporter serves $got"
echo "$metrics" | grep -q '^hetbench_throughput{.*kernel="gemm".*unit="GFLOP/s"} ' || fail "no gemm throughput"
echo "check-openmetrics: node_exporter serves all $got hetbench samples, no parse error"
