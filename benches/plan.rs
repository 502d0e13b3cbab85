//! The node-mix integer program over 20 candidate platforms with realistic
//! caps (a 2 MEUR budget, 80 kW at the wall, two 42 U racks): it must solve
//! to the proven optimum well under a second.

use criterion::{Criterion, criterion_group, criterion_main};
use hetbench::report::node_mix::{Candidate, Limits, plan};

fn candidates() -> Vec<Candidate> {
    (0..20)
        .map(|i| {
            let x = i as f64;
            // CPU nodes (cheap, slow) through GPU nodes (dear, fast).
            Candidate {
                label: format!("platform{i:02}"),
                uses: vec![format!("ml: cpu:cpu{i}")],
                throughput: 2.0 + 1.3 * x + 0.11 * x * x,
                tco_eur: 9000.0 + 2500.0 * x + 60.0 * x * x,
                kgco2e: 2000.0 + 150.0 * x,
                wall_kw: 0.35 + 0.09 * x,
                rack_units: if i < 10 { 1.0 } else { 2.0 },
                flag: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let cands = candidates();
    let limits = Limits {
        budget_eur: 2.0e6,
        power_kw: 80.0,
        rack_units: 84.0,
        target: None,
    };
    c.bench_function("plan/20 candidates", |b| {
        b.iter(|| plan(std::hint::black_box(&cands), &limits).map(|p| p.best.throughput))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
