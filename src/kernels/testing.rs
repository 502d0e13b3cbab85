//! Test helpers shared by the kernels' FPGA tests.

use crate::fpga::{card, model};
use crate::kernel::fpga::FpgaKernel;
use crate::kernel::{Buffer, Inputs, Param};
use crate::kernels::Registry;

/// The inputs of `kernel` at its `tiny` size with `params` overridden.
pub fn inputs(kernel: &str, params: &[(&str, i64)]) -> Inputs {
    let reg = Registry::builtin().unwrap();
    let k = reg.get(kernel).unwrap();
    let mut size = k.size("tiny").unwrap();
    for (name, v) in params {
        size.params.insert(name.to_string(), Param::Int(*v));
    }
    k.kernel.generate(&size, 5).unwrap()
}

/// Emulates `kernel` on every shipped card: the outputs pass the
/// format's tolerance with a nonzero error, fail the manifest's float
/// tolerance where the format is coarser than f32, and a corrupted
/// output fails.
pub fn passes_on_every_card(kernel: &str, adapter: &dyn FpgaKernel, inputs: &Inputs, corrupt: f32) {
    let reg = Registry::builtin().unwrap();
    let k = reg.get(kernel).unwrap();
    for c in card::load(None).unwrap() {
        let (fmt, _) = adapter.format(c.fixed_format().unwrap());
        let mut out = adapter.emulate(inputs, fmt).unwrap();
        let (tol, why) = adapter.tolerance(inputs, &fmt).unwrap();
        let v = k.kernel.verify(inputs, &out, tol).unwrap();
        eprintln!("{kernel} on {}: {tol:?} ({why}): {v:?}", c.id);
        assert!(v.passed, "{kernel} on {}: {v:?}", c.id);
        assert!(v.max_abs_error > 0.0, "fixed point is not exact");
        if fmt.width < 24 {
            let float = k.kernel.verify(inputs, &out, k.manifest.tolerance).unwrap();
            assert!(!float.passed, "{kernel}: {float:?}");
        }
        let design = adapter.design(&c, &fmt, inputs).unwrap();
        let ev = model::evaluate(&c, &fmt, &design);
        assert!(ev.usage.over(&ev.available).is_none(), "{:?}", ev.usage);
        assert!(ev.latency_s > 0.0 && ev.energy_j > 0.0);
        let (_, Buffer::F32(v)) = &mut out.entries[0] else {
            panic!("f32 outputs")
        };
        let last = v.len() - 1;
        v[last] += corrupt;
        assert!(!k.kernel.verify(inputs, &out, tol).unwrap().passed);
    }
}
