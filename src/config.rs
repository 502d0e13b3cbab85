//! The optional configuration file (`--config`, `HETBENCH_CONFIG`), TOML.
//!
//! ```toml
//! [power]
//! sample_interval_ms = 100             # power meters' sampling interval
//! ipmi_command = ["ipmitool", "dcmi", "power", "reading"]
//! cpu_tdp_w = 280                      # TDP per socket, for the estimate
//! sysfs_root = "/sys"                  # where the host's sysfs is mounted
//! estimate = true                      # estimate CPU power when unmeasured
//! [power.cpu_tdp_table]
//! "Xeon(R) 6980P" = 500                # extra TDP table entries
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::power::PowerConfig;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub power: PowerConfig,
}

impl Config {
    /// Reads the config file; errors name the file and the line.
    pub fn load(path: &Path) -> Result<Config> {
        let text = crate::input::read_text(path, crate::input::TEXT_LIMIT)?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| crate::kernel::manifest::line_column(text, s.start))
                .unwrap_or((1, 1));
            Error::Manifest {
                path: origin.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        if config.power.sample_interval_ms == 0 || config.power.sample_interval_ms > 60_000 {
            return Err(Error::ManifestValue {
                path: origin.to_string(),
                message: format!(
                    "power.sample_interval_ms: {} is outside 1..=60000",
                    config.power.sample_interval_ms
                ),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_power_settings_and_names_bad_lines() {
        let c = Config::parse(
            "[power]\ncpu_tdp_w = 280\nsample_interval_ms = 50\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.power.cpu_tdp_w, Some(280.0));
        assert_eq!(c.power.sample_interval_ms, 50);
        assert_eq!(c.power.ipmi_command[0], "ipmitool");
        let err = Config::parse("[power]\n\ncpu_tdp = 280\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:3:"), "{err}");
        let err = Config::parse("[power]\nsample_interval_ms = 0\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sample_interval_ms"), "{err}");
    }
}
