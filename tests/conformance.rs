//! The conformance suite: every registered kernel in every precision its
//! manifest lists, on every backend and device present, at small sizes
//! with ragged edges, verified against the
//! CPU reference. Prints what it skipped and why; a backend named in
//! HETBENCH_REQUIRE_BACKENDS that is missing fails the suite.

use hetbench::backends::{self, BackendKind, BackendOptions};
use hetbench::kernel::{Param, SizeSpec};
use hetbench::kernels::Registry;

/// Each kernel's `tiny` size (ragged against GPU tiles); for gemm also 2 x 2
/// whole 128 x 128 tiles and a ragged multiple of 4 over several tiles (the
/// vector loads of gemm.cl); for conv2d also tiny with 3 x 3 filters (its
/// other entry point).
fn sizes(kernel: &hetbench::kernels::RegisteredKernel) -> Vec<SizeSpec> {
    let tiny = kernel.size("tiny").expect("every manifest has a tiny size");
    let with = |name: &str, v: i64| {
        let mut s = tiny.clone();
        s.params.insert(name.into(), Param::Int(v));
        s
    };
    match kernel.name() {
        "gemm" => vec![tiny.clone(), with("n", 256), with("n", 200)],
        "conv2d" => vec![tiny.clone(), with("k", 3)],
        _ => vec![tiny],
    }
}

fn required() -> Vec<BackendKind> {
    std::env::var("HETBENCH_REQUIRE_BACKENDS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| BackendKind::parse(s.trim()).expect("HETBENCH_REQUIRE_BACKENDS names backends"))
        .collect()
}

#[test]
fn every_kernel_on_every_available_backend_and_device() {
    let registry = Registry::builtin().unwrap();
    let required = required();
    let mut ran = 0;
    for kind in BackendKind::ALL {
        let backend = match backends::open(kind, &BackendOptions::default()) {
            Ok(b) => b,
            Err(u) => {
                assert!(
                    !required.contains(&kind),
                    "backend {} is required but unavailable: {}",
                    kind.as_str(),
                    u.reason
                );
                println!("skipped backend {}: {}", kind.as_str(), u.reason);
                continue;
            }
        };
        let devices = backend.devices().unwrap_or_else(|u| {
            assert!(!required.contains(&kind), "{}: {}", kind.as_str(), u.reason);
            println!("skipped backend {}: {}", kind.as_str(), u.reason);
            Vec::new()
        });
        for device in &devices {
            for kernel in &registry.kernels {
                for (size, precision) in sizes(kernel).into_iter().flat_map(|s| {
                    kernel
                        .manifest
                        .precisions
                        .iter()
                        .map(move |p| (s.clone(), *p))
                }) {
                    let label = format!(
                        "{} {:?} {} on {} {} ({}, {})",
                        kernel.name(),
                        size.params,
                        precision.as_str(),
                        kind.as_str(),
                        device.id,
                        device.name,
                        device.device_type.as_str()
                    );
                    let inputs = kernel.kernel.generate(&size, 11).unwrap();
                    let mut prepared =
                        match backend.prepare(kernel, device, &inputs.in_precision(precision)) {
                            Ok(p) => p,
                            Err(e @ hetbench::error::Error::Unsupported { .. }) => {
                                println!("skipped {label}: {e}");
                                continue;
                            }
                            Err(e) => panic!("{label}: prepare failed: {e}"),
                        };
                    let t = prepared.run(2).unwrap_or_else(|e| panic!("{label}: {e}"));
                    assert!(t.host_s > 0.0, "{label}: no host time");
                    if let Some(d) = t.device_s {
                        assert!(d > 0.0 && d.is_finite(), "{label}: device time {d}");
                    }
                    let outputs = prepared
                        .read_back()
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                    let verdict = kernel
                        .kernel
                        .verify(
                            &inputs,
                            &outputs,
                            prepared.tolerance(kernel.manifest.tolerance_for(precision)),
                        )
                        .unwrap();
                    assert!(verdict.passed, "{label}: {}", verdict.detail);
                    if kind != BackendKind::Cpu {
                        let e2e = prepared
                            .end_to_end()
                            .unwrap_or_else(|e| panic!("{label}: {e}"));
                        assert!(e2e.is_some_and(|s| s > 0.0), "{label}: no end-to-end time");
                        // The end-to-end run must leave correct outputs too.
                        let again = prepared.read_back().unwrap();
                        assert_eq!(
                            again, outputs,
                            "{label}: end-to-end run changed the outputs"
                        );
                    }
                    println!(
                        "ok {label}: worst error {:.3} of tolerance",
                        verdict.worst_ratio
                    );
                    ran += 1;
                }
            }
        }
    }
    assert!(
        ran >= 4,
        "the CPU backend alone runs 4 kernel sizes; ran {ran}"
    );
}
