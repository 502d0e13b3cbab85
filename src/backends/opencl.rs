//! The OpenCL backend (OpenCL C, loader opened at run time).

use crate::backends::{Backend, BackendKind, Device, Prepared, Unavailable};
use crate::error::Result;
use crate::kernels::{Inputs, RegisteredKernel};

pub struct OpenClBackend;

impl OpenClBackend {
    pub fn new() -> std::result::Result<Self, Unavailable> {
        Err(Unavailable {
            reason: "the OpenCL backend is not implemented yet".into(),
        })
    }
}

impl Backend for OpenClBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Opencl
    }
    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        Ok(Vec::new())
    }
    fn prepare(&self, _: &RegisteredKernel, _: &Device, _: &Inputs) -> Result<Box<dyn Prepared>> {
        unreachable!("no devices")
    }
}
