//! The wgpu backend (WGSL compute shaders on Vulkan, Metal, DX12, GL).

use crate::backends::{Backend, BackendKind, Device, Prepared, Unavailable};
use crate::error::Result;
use crate::kernels::{Inputs, RegisteredKernel};

pub struct WgpuBackend;

impl WgpuBackend {
    pub fn new() -> std::result::Result<Self, Unavailable> {
        Err(Unavailable {
            reason: "the wgpu backend is not implemented yet".into(),
        })
    }
}

impl Backend for WgpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wgpu
    }
    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        Ok(Vec::new())
    }
    fn prepare(&self, _: &RegisteredKernel, _: &Device, _: &Inputs) -> Result<Box<dyn Prepared>> {
        unreachable!("no devices")
    }
}
