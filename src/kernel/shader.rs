//! Shader sources: the text a GPU backend compiles, where it came from, and
//! its variant in each precision.

use crate::error::{Error, Result};
use crate::kernel::manifest::Precision;

/// The shading language of a GPU backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaderLanguage {
    Wgsl,
    OpenClC,
}

impl ShaderLanguage {
    pub fn extension(self) -> &'static str {
        match self {
            ShaderLanguage::Wgsl => "wgsl",
            ShaderLanguage::OpenClC => "cl",
        }
    }
}

/// which compile errors name.
#[derive(Debug, Clone, PartialEq)]
pub struct ShaderSource {
    pub origin: String,
    pub text: String,
}

/// The line by which a WGSL shader with an f64 variant names its real
/// type; the f64 variant is the same text with `f64` there.
pub const WGSL_REAL_ALIAS: &str = "alias real = f32;";
/// The macro an OpenCL C source with an f64 variant tests to define its
/// `real` type as `double` (the backend compiles it with `-D`).
pub const OPENCL_F64_MACRO: &str = "HETBENCH_F64";

impl ShaderSource {
    /// The WGSL text of the variant in `precision`.
    pub fn wgsl_in_precision(&self, precision: Precision) -> Result<String> {
        match precision {
            Precision::F64 => {
                if !self.text.lines().any(|l| l.trim() == WGSL_REAL_ALIAS) {
                    return Err(Error::Unsupported {
                        backend: "wgpu".into(),
                        message: format!(
                            "{} has no f64 variant: it must declare its real type with the line \
                             `{WGSL_REAL_ALIAS}`",
                            self.origin
                        ),
                    });
                }
                Ok(self
                    .text
                    .lines()
                    .map(|l| {
                        if l.trim() == WGSL_REAL_ALIAS {
                            "alias real = f64;"
                        } else {
                            l
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            _ => Ok(self.text.clone()),
        }
    }

    /// The OpenCL compiler options of the variant in `precision`.
    pub fn opencl_options(&self, precision: Precision) -> Result<String> {
        match precision {
            Precision::F64 => {
                if !self.text.contains(OPENCL_F64_MACRO) {
                    return Err(Error::Unsupported {
                        backend: "opencl".into(),
                        message: format!(
                            "{} has no f64 variant: it must define its real type under \
                             `#ifdef {OPENCL_F64_MACRO}`",
                            self.origin
                        ),
                    });
                }
                Ok(format!("-D{OPENCL_F64_MACRO}"))
            }
            _ => Ok(String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shader_variants_for_f64() {
        let wgsl = ShaderSource {
            origin: "k.wgsl".into(),
            text: "// x\nalias real = f32;\nvar<private> v: real;".into(),
        };
        assert_eq!(wgsl.wgsl_in_precision(Precision::F32).unwrap(), wgsl.text);
        assert_eq!(
            wgsl.wgsl_in_precision(Precision::F64).unwrap(),
            "// x\nalias real = f64;\nvar<private> v: real;"
        );
        let plain = ShaderSource {
            origin: "p.wgsl".into(),
            text: "var<private> v: f32;".into(),
        };
        let err = plain.wgsl_in_precision(Precision::F64).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(
            err.to_string().contains("p.wgsl has no f64 variant"),
            "{err}"
        );
        let cl = ShaderSource {
            origin: "k.cl".into(),
            text: "#ifdef HETBENCH_F64\ntypedef double real;\n#endif".into(),
        };
        assert_eq!(cl.opencl_options(Precision::F64).unwrap(), "-DHETBENCH_F64");
        assert_eq!(cl.opencl_options(Precision::F32).unwrap(), "");
        assert!(plain.opencl_options(Precision::F64).is_err());
    }
}
