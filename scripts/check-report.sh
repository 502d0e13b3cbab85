#!/usr/bin/env bash
# Builds an HTML report from a database with two platforms and checks, in
# headless Chromium, that the page renders its plots and that a hostile host
# name shows as text rather than running; then prints it to PDF (A4) and
# checks the print (scripts/check-print.py): page 1 holds the whole summary
# and nothing else, every row of the results table, headings included, is
# whole in the text, and no word lies off the page.
#
# Needs: a built hetbench (target/release/hetbench, or $HETBENCH), python3,
# Debian's `chromium` and poppler's `pdftotext` (apt-get install -y chromium
# poppler-utils).
# Usage: scripts/check-report.sh [WORKDIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
hb=${HETBENCH:-$root/target/release/hetbench}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
browser=${CHROMIUM:-chromium}
command -v "$browser" >/dev/null || { echo "check-report: '$browser' not found (apt-get install -y chromium)" >&2; exit 1; }
command -v pdftotext >/dev/null || { echo "check-report: 'pdftotext' not found (apt-get install -y poppler-utils)" >&2; exit 1; }
[ -x "$hb" ] || { echo "check-report: no hetbench at $hb (cargo build --release)" >&2; exit 1; }

fail() { echo "check-report: FAIL: $*" >&2; exit 1; }

# Two platforms: the committed reference run, and a copy of it renamed to a
# host called <script>alert(1)</script>, twice as fast, with measured power.
ref=$(ls "$root"/results/reference/*.json | head -n 1)
python3 - "$ref" "$work/hostile.json" <<'EOF'
import json, sys, uuid
f = json.load(open(sys.argv[1]))
rid = str(uuid.uuid4())
host = "<script>alert(1)</script>"
f["run"]["run_id"] = rid
f["run"]["platform"]["hostname"] = host
f["run"]["platform"]["hash"] = "0123456789abcdef"
for r in f["results"]:
    r["run_id"] = rid
    r["hostname"] = host
    r["platform_hash"] = "0123456789abcdef"
    if r.get("throughput"):
        r["throughput"] *= 2
    s = r["timing"]["summary"]
    for k in ("median", "mean", "stddev", "min", "max", "ci95_low", "ci95_high"):
        s[k] /= 2
    if s.get("median_ci95"):
        s["median_ci95"] = {k: v / 2 for k, v in s["median_ci95"].items()}
    for e in r["energy"]:
        e["method"], e["scope"], e["avg_w"] = "counter", "cpu-package", 50.0
        e["perf_per_w"] = r["throughput"] / 50.0
json.dump(f, open(sys.argv[2], "w"))
EOF

db="$work/report.db"
rm -f "$db"
"$hb" --db "$db" import "$ref" "$work/hostile.json" >/dev/null
"$hb" --db "$db" report --out "$work/report" --baseline "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["platform"]["hostname"])' "$ref")" --include-estimated >/dev/null
html="$work/report/report.html"
[ -s "$html" ] || fail "no report at $html"

# The file itself: no script element, no network reference.
grep -q '<script>alert(1)</script>' "$html" && fail "the host name is not escaped in $html"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$html" || fail "the escaped host name is missing from $html"
grep -Eq '(src|href)="https?:' "$html" && fail "$html references the network"

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --user-data-dir="$(mktemp -d)" --window-size=1400,4000)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" >"$work/dom.html" 2>"$work/chromium-dom.log" \
    || fail "chromium --dump-dom failed (see $work/chromium-dom.log)"
timeout 120 "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d)" --screenshot="$work/report.png" "file://$html" \
    >/dev/null 2>"$work/chromium-shot.log" || fail "chromium --screenshot failed (see $work/chromium-shot.log)"

# Four figures (perf/W, power-throughput, roofline, score), each one <svg>.
svgs=$(grep -o '<svg' "$work/dom.html" | wc -l)
[ "$svgs" -ge 4 ] || fail "the rendered page holds $svgs <svg> elements, expected 4"
# The host name is text in the rendered DOM, not an element.
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$work/dom.html" || fail "the host name does not show as text"
[ "$(grep -o '<script' "$work/dom.html" | wc -l)" -eq 0 ] || fail "the rendered page holds a <script> element"

# The screenshot is not blank: many distinct colours, not one background.
python3 - "$work/report.png" <<'EOF' || fail "the screenshot is blank"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), f"unexpected PNG type {ctype}/{depth}"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = set()
nonwhite = 0
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, w, 4):
            px = bytes(line[x * bpp:x * bpp + 3])
            colours.add(px)
            if px != b"\xff\xff\xff":
                nonwhite += 1
    prev = line
print(f"screenshot {w}x{h}: {len(colours)} colours, {nonwhite} non-white samples")
assert len(colours) >= 8 and nonwhite > 1000, "too few colours: blank page"
EOF

# The print: A4 (the report's @page), no header or footer (their date and
# file name would land in the text).
pdf="$work/report.pdf"
timeout 120 "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d)" --no-pdf-header-footer \
    --print-to-pdf="$pdf" "file://$html" >/dev/null 2>"$work/chromium-pdf.log" \
    || fail "chromium --print-to-pdf failed (see $work/chromium-pdf.log)"
[ -s "$pdf" ] || fail "no PDF at $pdf"
pdftotext -raw "$pdf" "$work/report.txt"
pdftotext -raw -f 1 -l 1 "$pdf" "$work/page1.txt"
pdftotext -bbox "$pdf" "$work/report-bbox.html"
python3 "$root/scripts/check-print.py" "$html" "$work/report.txt" "$work/page1.txt" "$work/report-bbox.html" \
    || fail "the PDF print cuts or misplaces text ($pdf)"

echo "check-report: ok: $svgs SVG figures rendered, host name escaped, printed with nothing cut ($html, $work/report.png, $pdf)"
