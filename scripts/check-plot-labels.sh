#!/usr/bin/env bash
# The report's figures on a crowded database: 20 platforms with long,
# hostile host and device names, priced in a generated economics file so
# that the one render also draws the cost figures (cost front, tornado).
# Renders the report in headless Chromium
# with a checking script added to a copy of the page (the report itself
# holds no script) that measures every text of every figure as laid out
# and fails on two labels that overlap or a label outside its figure.
#
# Needs: a built hetbench (target/release/hetbench, or $HETBENCH), python3
# and Debian's `chromium`.
# Usage: scripts/check-plot-labels.sh [WORKDIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
hb=${HETBENCH:-$root/target/release/hetbench}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
browser=${CHROMIUM:-chromium}
command -v "$browser" >/dev/null || { echo "check-plot-labels: '$browser' not found (apt-get install -y chromium)" >&2; exit 1; }
[ -x "$hb" ] || { echo "check-plot-labels: no hetbench at $hb (cargo build --release)" >&2; exit 1; }
fail() { echo "check-plot-labels: FAIL: $*" >&2; exit 1; }

# 20 copies of the committed reference run, each a platform of its own
# with a long hostile name, throughputs spread over two decades and
# measured power, so that every figure has 20 devices to label.
ref=$(ls "$root"/results/reference/*.json | head -n 1)
mkdir -p "$work/runs"
python3 - "$ref" "$work/runs" <<'EOF'
import json, sys, uuid
base = json.load(open(sys.argv[1]))
for i in range(20):
    f = json.loads(json.dumps(base))
    rid = str(uuid.uuid4())
    host = f"<b>compute-node-{i:02d}</b>.tier1.überlong-site-name.example.org"
    h = f"{i:02d}" * 8
    f["run"]["run_id"] = rid
    f["run"]["platform"]["hostname"] = host
    f["run"]["platform"]["hash"] = h
    scale = 10 ** (2 * i / 19)  # 1x .. 100x
    for r in f["results"]:
        r["run_id"], r["hostname"], r["platform_hash"] = rid, host, h
        r["device_name"] = f"Vendor Accelerator Model {i} with a very long marketing name (rev {i}.0, 256 bits)"
        if r.get("throughput"):
            r["throughput"] *= scale
        s = r["timing"]["summary"]
        for k in ("median", "mean", "stddev", "min", "max", "ci95_low", "ci95_high"):
            s[k] /= scale
        if s.get("median_ci95"):
            s["median_ci95"] = {k: v / scale for k, v in s["median_ci95"].items()}
        watts = 40.0 + 20.0 * i
        for e in r["energy"]:
            e["method"], e["scope"], e["avg_w"] = "counter", "cpu-package", watts
            e["energy_j"] = watts * e["window_s"]
            e["perf_per_w"] = (r["throughput"] or 0) / watts
    json.dump(f, open(f"{sys.argv[2]}/node{i:02d}.json", "w"))
# Each platform priced by its hash, prices and lifetimes spread so that
# the cost front and the sensitivity ranking have 20 distinct nodes.
site = "[site]\nelectricity_eur_per_kwh = 0.18\nutilisation = 0.8\npue = 1.4\nidle_w = 30\n"
entries = ""
for i in range(20):
    entries += (
        f"\n[[platform]]\nmatch = \"{f'{i:02d}' * 8}\"\npurchase_eur = {3000 + 2500 * i}\n"
        f"maintenance_eur_per_year = {100 + 40 * i}\nlifetime_years = {3 + i % 4}\n"
        f"rack_units = {1 + i % 2}\nembodied_kgco2e = {800 + 90 * i}\n")
open(f"{sys.argv[2]}/../economics.toml", "w").write(site + entries)
EOF
db="$work/crowded.db"
rm -f "$db"
"$hb" --db "$db" import "$work"/runs/*.json >/dev/null
"$hb" --db "$db" report --out "$work/report" --allow-partial --economics "$work/economics.toml" >/dev/null
html="$work/report/report.html"
[ -s "$html" ] || fail "no report at $html"

# A copy of the page with the measuring script before </body>.
checked="$work/report/checked.html"
python3 - "$html" "$checked" <<'EOF'
import sys
page = open(sys.argv[1], encoding="utf-8").read()
script = r"""<script>
const found = [];
document.querySelectorAll('svg').forEach((svg, n) => {
  const fig = svg.closest('figure');
  const name = fig && fig.id ? fig.id : 'svg ' + n;
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')]
    .filter(t => t.textContent.trim() !== '')
    .map(t => ({ text: t.textContent.trim(), r: t.getBoundingClientRect() }))
    .filter(t => t.r.width > 0 && t.r.height > 0);
  for (const t of texts) {
    if (t.r.left < box.left - 1 || t.r.right > box.right + 1 || t.r.top < box.top - 1 || t.r.bottom > box.bottom + 1) {
      found.push(name + ': "' + t.text + '" lies outside the figure');
    }
  }
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i].r, b = texts[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) {
        found.push(name + ': "' + texts[i].text + '" overlaps "' + texts[j].text + '"');
      }
    }
  }
});
const out = document.createElement('pre');
out.id = 'label-check';
const ids = [...document.querySelectorAll('figure svg')].map(svg => svg.closest('figure').id).join(' ');
out.textContent = 'FIGURES ' + document.querySelectorAll('svg').length + '\nIDS ' + ids + '\n' + (found.length ? found.join('\n') : 'NO OVERLAPS');
document.body.appendChild(out);
</script>"""
assert "</body>" in page
open(sys.argv[2], "w", encoding="utf-8").write(page.replace("</body>", script + "</body>", 1))
EOF
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --user-data-dir="$(mktemp -d)" --window-size=1400,4000)
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$checked" >"$work/dom.html" 2>"$work/chromium.log" \
    || fail "chromium --dump-dom failed (see $work/chromium.log)"
python3 - "$work/dom.html" <<'EOF' || fail "labels overlap or leave their figure (above)"
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r'<pre id="label-check">(.*?)</pre>', dom, re.S)
assert m, "the checking script did not run"
lines = html.unescape(m.group(1)).splitlines()
figures = int(lines[0].split()[1])
assert figures >= 6, f"only {figures} figures rendered"
ids = lines[1].split()[1:]
for want in ("cost-front", "cost-sensitivity"):
    assert want in ids, f"no {want} figure (figures: {' '.join(ids)})"
problems = [l for l in lines[2:] if l != "NO OVERLAPS"]
for p in problems[:int(__import__("os").environ.get("HETBENCH_LABEL_SHOW", "40"))]:
    print("  " + p, file=sys.stderr)
if problems:
    print(f"{len(problems)} label problem(s) in {figures} figures", file=sys.stderr)
    sys.exit(1)
print(f"check-plot-labels: {figures} figures (cost front and tornado included) of 20 platforms with long hostile names: no label overlaps another or leaves its figure")
EOF
