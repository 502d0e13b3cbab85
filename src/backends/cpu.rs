//! The CPU backend: each kernel's tuned Rust implementation on a rayon pool
//! of all logical CPUs (or `--threads`). Host wall time is the device time.

use std::time::Instant;

use crate::backends::{Backend, BackendKind, Device, DeviceType, Prepared, Timing, Unavailable};
use crate::error::{Error, Result};
use crate::kernel::{Buffers, CpuInstance, Inputs};
use crate::kernels::RegisteredKernel;

pub struct CpuBackend {
    pool: std::sync::Arc<rayon::ThreadPool>,
    device: Device,
}

impl CpuBackend {
    pub fn new(threads: Option<usize>) -> std::result::Result<Self, Unavailable> {
        let threads = threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("hetbench-cpu-{i}"))
            .build()
            .map_err(|e| Unavailable {
                reason: format!("could not start {threads} worker threads: {e}"),
            })?;
        let fp = crate::platform::cpu_summary();
        Ok(CpuBackend {
            pool: std::sync::Arc::new(pool),
            device: Device {
                backend: BackendKind::Cpu,
                id: "cpu0".into(),
                name: fp.brand,
                device_type: DeviceType::Cpu,
                driver: format!(
                    "hetbench {} (rayon, {} threads)",
                    crate::HARNESS_VERSION,
                    threads
                ),
                api: "native (rayon)".into(),
                compute_units: threads as u32,
                // Not from sysfs: a VM sees the host's L3 there (480 MiB on
                // a 2-vCPU cloud VM), not what the guest gets; bandwidth
                // ceilings then come from the largest working set.
                last_level_cache_bytes: None,
            },
        })
    }
}

impl Backend for CpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cpu
    }

    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        Ok(vec![self.device.clone()])
    }

    fn prepare(
        &self,
        kernel: &RegisteredKernel,
        device: &Device,
        inputs: &Inputs,
    ) -> Result<Box<dyn Prepared>> {
        if device.id != self.device.id {
            return Err(Error::Backend {
                backend: "cpu".into(),
                message: format!("no device '{}'", device.id),
            });
        }
        // Build inside the pool so first-touch copies land on its threads.
        let instance = self.pool.install(|| kernel.kernel.cpu(inputs))?;
        Ok(Box::new(CpuPrepared {
            pool: self.pool.clone(),
            instance,
        }))
    }
}

struct CpuPrepared {
    pool: std::sync::Arc<rayon::ThreadPool>,
    instance: Box<dyn CpuInstance>,
}

impl Prepared for CpuPrepared {
    fn run(&mut self, iters: u64) -> Result<Timing> {
        let instance = &mut self.instance;
        let host_s = self.pool.install(|| {
            let start = Instant::now();
            for _ in 0..iters {
                instance.run();
            }
            start.elapsed().as_secs_f64()
        });
        Ok(Timing {
            host_s,
            device_s: None,
        })
    }

    fn read_back(&mut self) -> Result<Buffers> {
        Ok(self.instance.outputs())
    }
}
