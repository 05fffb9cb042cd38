//! Helpers shared by the integration tests: where the fixtures and the Python peers are.
//!
//! Fixtures come from `MESHLAKE_FIXTURES` (default `../shared/fixtures` next to the repo). The Python
//! interpreter with the interop peers (pyarrow, deltalake, pyiceberg, rasterio, xarray, zarr, shapely)
//! comes from `MESHLAKE_PYTHON` (set by `scripts/test`). When either is missing, a test skips with a
//! printed notice — except under `CI=true`, where it fails.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub mod rest_catalog;
pub mod servers;
pub mod ui;

pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skip (or fail under CI) with a notice.
pub fn skip_or_fail(what: &str) {
    if in_ci() {
        panic!("required for this test under CI=true: {what}");
    }
    eprintln!("SKIPPED (not under CI): {what}");
}

/// The fixtures folder, or None (after printing a notice) when it is absent outside CI.
pub fn fixtures() -> Option<PathBuf> {
    let dir = std::env::var_os("MESHLAKE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_or_fail(&format!(
            "fixtures folder {} (set MESHLAKE_FIXTURES)",
            dir.display()
        ));
        None
    }
}

/// The Python interpreter that has the interop peers, or None (after a notice) outside CI.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("MESHLAKE_PYTHON") {
        Some(p) if PathBuf::from(&p).exists() => Some(PathBuf::from(p)),
        _ => {
            skip_or_fail("MESHLAKE_PYTHON (a Python with the peers; run scripts/test)");
            None
        }
    }
}

/// Run a Python snippet with the peers; returns stdout, panics with stderr on failure.
pub fn run_python(python: &std::path::Path, code: &str, args: &[&str]) -> String {
    // The deltalake package's runtime threads can abort a normal interpreter exit ("terminate called
    // without an active exception"): after the snippet ran to its end, leave without the teardown.
    let code = format!("{code}\nimport os as _os, sys as _sys\n_sys.stdout.flush(); _sys.stderr.flush(); _os._exit(0)\n");
    let out = Command::new(python)
        .arg("-c")
        .arg(&code)
        .args(args)
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "python failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run the `meshlake` binary with `args` (logging only errors) and extra environment variables:
/// whether it succeeded, its stdout and its stderr.
pub fn run_meshlake(args: &[&str], env: &[(&str, &std::path::Path)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshlake"));
    command.args(args).env("RUST_LOG", "error");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("the meshlake binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Copy a folder tree; the copies are writable (fixtures may be read-only).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}
