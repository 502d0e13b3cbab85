//! Criterion benches of every registered kernel's CPU implementation, through
//! the registry and the CPU backend exactly as `hetbench run` uses them, plus
//! the harness's own overheads (statistics, result storage).
//!
//! `cargo bench --bench kernels -- gemm` runs one kernel; sizes are the
//! manifest's `small` and `medium` (set HETBENCH_BENCH_LARGE=1 for `large`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hetbench::backends::{self, BackendKind, BackendOptions};
use hetbench::kernel::Metric;
use hetbench::kernels::Registry;
use hetbench::measure::Summary;

fn kernels(c: &mut Criterion) {
    let registry = Registry::builtin().expect("built-in manifests parse");
    let backend = backends::open(BackendKind::Cpu, &BackendOptions::default())
        .expect("the CPU backend is always available");
    let device = backend.devices().expect("the CPU has a device").remove(0);
    let mut sizes = vec!["small", "medium"];
    if std::env::var_os("HETBENCH_BENCH_LARGE").is_some() {
        sizes.push("large");
    }
    for kernel in &registry.kernels {
        let mut group = c.benchmark_group(kernel.name());
        group.sample_size(10);
        for size_name in &sizes {
            let size = kernel
                .size(size_name)
                .expect("every kernel has the three sizes");
            let inputs = kernel.kernel.generate(&size, 42).expect("inputs generate");
            let work = kernel.kernel.work(&size).expect("work model");
            group.throughput(match kernel.manifest.throughput.metric {
                Metric::Bytes => Throughput::Bytes(work.bytes as u64),
                Metric::Flops | Metric::Items => {
                    Throughput::Elements(work.metric(kernel.manifest.throughput.metric) as u64)
                }
            });
            let mut prepared = backend.prepare(kernel, &device, &inputs).expect("prepare");
            group.bench_function(*size_name, |b| {
                b.iter(|| black_box(prepared.run(1).expect("run")));
            });
        }
        group.finish();
    }
}

fn harness(c: &mut Criterion) {
    let sample: Vec<f64> = (0..1000).map(|i| 1e-3 + (i % 17) as f64 * 1e-6).collect();
    c.bench_function("harness/summary_1000_samples", |b| {
        b.iter(|| black_box(Summary::of(black_box(&sample))))
    });
}

criterion_group!(benches, kernels, harness);
criterion_main!(benches);
