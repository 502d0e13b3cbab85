#!/usr/bin/env bash
# The GPU check: every kernel through wgpu (Vulkan) and OpenCL on the GPU of
# a bare machine (no Rust toolchain, no network), in one try and within
# 6 minutes, with what scripts/prepare-gpu-carry.sh put in gpu-carry/ (the
# stripped binary, the loaders' Debian packages).
#
# Usage: scripts/gpu-check.sh [--dry-run] [OUTDIR]   (default $OUT, else gpu-check-out)
#   --dry-run  every step on this machine instead: the packages unpacked into
#              a scratch root (not /), the carried binary under `env -i`,
#              lavapipe and PoCL instead of the GPU, tiny sizes.
#
# Each (kernel, backend) is its own process under a timeout, so a failing
# backend or a hung kernel loses nothing else; new measurements stop being
# started after DEADLINE_S seconds. Writes at most 8 files to OUTDIR:
# gpu-check.log, info.txt, results.json (the export of every result) and
# summary.md (each kernel's fraction of the device's roofline bound, from
# the published peaks of the card nvidia-smi names, or PEAK_* below).
set -uo pipefail
dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${OUT:-$root/gpu-check-out}}
carry=${CARRY:-$root/gpu-carry}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
echo "gpu-check: dry-run=$dry out=$out carry=$carry ($(date -u +%FT%TZ))"

hb="$carry/hetbench"
if [ ! -x "$hb" ]; then
  echo "no $hb: run scripts/prepare-gpu-carry.sh first"; exit 2
fi

# 1. The loaders. On the GPU machine into / as the device README does;
#    in a dry run into a scratch root, so this machine's libraries stay.
if [ $dry = 1 ]; then sysroot=$(mktemp -d); else sysroot=/; fi
for f in "$carry"/debs/*.deb; do
  dpkg -x "$f" "$sysroot" || echo "could not unpack $f"
done
libpath=""
if [ $dry = 1 ]; then
  libpath="$sysroot/usr/lib/x86_64-linux-gnu"
  ls "$libpath"/libvulkan.so.1 "$libpath"/libOpenCL.so.1 || { echo "unpacking gave no loaders"; exit 1; }
else
  ldconfig
fi

# 2. The drivers: NVIDIA's ICDs where the driver is mounted; lavapipe and
#    PoCL in a dry run.
vk_icd="" egl_vendor="" cl_vendors=/etc/OpenCL/vendors
if [ $dry = 1 ]; then
  vk_icd=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
else
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
           /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && { vk_icd=$f; break; }
  done
  for f in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
    [ -f "$f" ] && { egl_vendor=$f; break; }
  done
  if ! ls /etc/OpenCL/vendors/*nvidia* >/dev/null 2>&1; then
    lib=$(ldconfig -p | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')
    [ -z "$lib" ] && lib=$(find /usr/local/nvidia /usr/lib* -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n1)
    cl_vendors=$(mktemp -d)
    [ -n "$lib" ] && echo "$lib" >"$cl_vendors/nvidia.icd"
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
fi
echo "vulkan icd: ${vk_icd:-none found}; opencl vendors: $cl_vendors ($(ls "$cl_vendors" 2>/dev/null | tr '\n' ' '))"

# 3. The carried binary under a clean environment.
results=$(mktemp -d)
run_hb() {
  env -i PATH=/usr/bin:/bin HOME="$results" XDG_RUNTIME_DIR="$results" \
    ${libpath:+LD_LIBRARY_PATH=$libpath} ${vk_icd:+VK_DRIVER_FILES=$vk_icd} \
    ${egl_vendor:+__EGL_VENDOR_LIBRARY_FILENAMES=$egl_vendor} OCL_ICD_VENDORS="$cl_vendors" \
    "$hb" --results-dir "$results" "$@"
}
run_hb info >"$out/info.txt" 2>&1; cat "$out/info.txt"

# 4. Measurements: each kernel on each backend in its own process.
if [ $dry = 1 ]; then
  sizes=tiny; budget=(--quick); per_s=60; deadline_s=${DEADLINE_S:-600}
else
  # xlarge where a kernel defines it (gemm, nbody): large does not fill an H200.
  sizes=large,xlarge; budget=(--time-budget 1 --min-samples 5); per_s=45; deadline_s=${DEADLINE_S:-300}
fi
# The roofline's ceilings first (a deadline may cut the tail), then every
# other kernel the binary has.
first="stream_triad fma_peak gemm nbody stencil3d pic_push conv2d mlp_jet kalman_fit hough cluster mc_transport"
listed=$(run_hb run --dry-run -b cpu -s tiny 2>/dev/null | awk 'NR>2 && NF==0 {exit} NR>2 {print $1}' | sort -u)
kernels=$first
for k in $listed; do case " $first " in *" $k "*) ;; *) kernels="$kernels $k" ;; esac; done
failed=0
for k in $kernels; do
  for b in wgpu opencl; do
    if [ "$(elapsed)" -ge "$deadline_s" ]; then echo "SKIP $k $b: past the ${deadline_s} s deadline"; continue; fi
    t0=$(date +%s)
    timeout -k 5 "$per_s" env HB_DUMMY=1 bash -c "$(declare -f run_hb); $(declare -p results libpath vk_icd egl_vendor cl_vendors hb); \
      run_hb run -b $b -k $k -s $sizes -p all ${budget[*]} --timeout $((per_s - 5)) --idle-seconds 0" >"$results/$k.$b.log" 2>&1
    rc=$?
    echo "$k $b: rc=$rc in $(( $(date +%s) - t0 )) s: $(grep -v '^\s*$' "$results/$k.$b.log" | tail -n 1)"
    [ $rc = 0 ] || failed=$((failed + 1))
  done
done

# 5. The export and the summary.
run_hb export --format json --out "$out/results.json"
peaks() {
  name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
  case "$name" in
    *H200*) echo "NVIDIA H200 (datasheet) 4800 67000 34000" ;;
    *H100*PCIe*) echo "NVIDIA H100 PCIe (datasheet) 2000 51000 26000" ;;
    *H100*) echo "NVIDIA H100 SXM (datasheet) 3350 67000 34000" ;;
    *) echo "${PEAK_NAME:-nominal, no published peak for this device} ${PEAK_BW_GBS:-100} ${PEAK_F32_GFLOPS:-1000} ${PEAK_F64_GFLOPS:-500}" ;;
  esac
}
read -r -a p <<<"$(peaks)"
n=${#p[@]}
python3 - "$out/results.json" "${p[n-3]}" "${p[n-2]}" "${p[n-1]}" "${p[*]:0:n-3}" >"$out/summary.md" <<'PY'
import json, sys
path, bw, f32, f64, name = sys.argv[1], *map(float, sys.argv[2:5]), sys.argv[5]
rows = json.load(open(path))
print(f"# GPU check: fraction of the roofline bound\n\npeaks: {name}: {bw:g} GB/s, {f32:g} GFLOP/s f32, {f64:g} GFLOP/s f64\n")
print("| kernel | size | precision | backend | device | status | median s | GFLOP/s | GB/s | bound by | fraction of bound |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["kernel"], r["backend"], r["precision"], r["size"])):
    t = ((r.get("timing") or {}).get("summary") or {}).get("median")
    w = r.get("work") or {}
    if not t or r["status"] != "ok":
        print(f"| {r['kernel']} | {r['size']} | {r['precision']} | {r['backend']} | {r['device_name']} | {r['status']} | | | | | |")
        continue
    flops, nbytes = w.get("flops", 0.0), w.get("bytes", 0.0)
    peak = f64 if r["precision"] == "f64" else f32
    tf, tb = flops / (peak * 1e9), nbytes / (bw * 1e9)
    bound, by = (tf, "compute") if tf >= tb else (tb, "memory")
    print(f"| {r['kernel']} | {r['size']} | {r['precision']} | {r['backend']} | {r['device_name']} | ok | {t:.3e} "
          f"| {flops / t / 1e9:.1f} | {nbytes / t / 1e9:.1f} | {by} | {bound / t:.1%} |")
PY
cat "$out/summary.md"
echo "gpu-check: $failed failed measurement(s), $(elapsed) s; files: $(ls "$out" | tr '\n' ' ')"
[ $dry = 1 ] && rm -rf "$sysroot"
rm -rf "$results"
[ $failed = 0 ]
