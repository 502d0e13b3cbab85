//! Shader files: a missing one skips its backend, a compile error names file and line.

use super::*;

#[test]
fn a_kernel_folder_missing_its_shader_is_skipped_with_the_file_named() {
    for (backend, ext) in [("wgpu", "wgsl"), ("opencl", "cl")] {
        let s = Scratch::new();
        if !available(backend) {
            continue;
        }
        std::fs::remove_file(s.path(&format!("kernels/gemm/gemm.{ext}"))).unwrap();
        s.hb()
            .args(["run", "--quick", "-b", backend, "-k", "gemm"])
            .assert()
            .success();
        let r = &s.results_json(&[])[0];
        assert_eq!(r["status"], "skipped", "{r}");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(&format!("has no gemm.{ext}")), "{msg}");
    }
}

#[test]
fn a_shader_compile_error_names_file_and_line() {
    for (backend, ext, bad) in [
        ("wgpu", "wgsl", "let stride = groups.x * 256u;"),
        ("opencl", "cl", "const uint stride = get_global_size(0);"),
    ] {
        let s = Scratch::new();
        if !available(backend) {
            continue;
        }
        let path = s.path(&format!("kernels/stream_triad/stream_triad.{ext}"));
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.lines().position(|l| l.trim() == bad).unwrap() + 1;
        std::fs::write(&path, text.replace(bad, &bad.replace(';', ""))).unwrap();
        s.hb()
            .args(["run", "--quick", "-b", backend, "-k", "stream_triad"])
            .assert()
            .code(3);
        let r = &s.results_json(&[])[0];
        assert_eq!(r["status"], "error", "{r}");
        let msg = r["message"].as_str().unwrap();
        assert!(
            msg.contains(&path.display().to_string()),
            "{backend}: {msg}"
        );
        assert!(
            msg.contains(&format!(":{line}:")) || msg.contains(&format!(":{}:", line + 1)),
            "{backend}: line {line} not in {msg}"
        );
    }
}
