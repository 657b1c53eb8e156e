//! Building this workspace's examples from a test, to run them as real
//! processes (the web app over HTTP, a second process sharing a cache).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Builds `examples/<name>.rs` with the profile of the running test (once
/// per process) and returns the executable's path, as cargo reports it.
///
/// Usually a no-op: `cargo test` has built the examples already.
///
/// # Panics
///
/// If cargo cannot be run or the build fails; the message carries cargo's
/// output.
///
/// ```no_run
/// let web_app = cache_tests::examples::build_example("web_app");
/// let child = std::process::Command::new(web_app).spawn()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn build_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    // A test runs as <target>/<profile dir>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile = match exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .and_then(|dir| dir.to_str())
    {
        Some("debug") | None => "dev",
        Some(dir) => dir,
    };
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into()));
    cargo
        .args(["build", "--quiet", "--example", name, "--profile", profile])
        .args(["--features", "web"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/Cargo.toml"))
        .stdin(Stdio::null());
    // Cargo describes the test's package to it through variables
    // (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`…). Build scripts that watch
    // them (ring's does) would see them changed and rebuild, in this build
    // and again in the next plain `cargo build`.
    for (var, _) in std::env::vars_os() {
        if var.to_str().is_some_and(describes_a_package) {
            cargo.env_remove(var);
        }
    }
    let output = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build examples/{name}.rs: {e}"));
    assert!(
        output.status.success(),
        "cargo build --example {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["target"]["name"] == name)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo did not name the executable of examples/{name}.rs"));
    built.insert(name.to_owned(), path.clone());
    path
}

/// Whether cargo sets `var` to describe the package being built or tested.
fn describes_a_package(var: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"]
        .iter()
        .any(|prefix| var.starts_with(prefix))
        || matches!(
            var,
            "OUT_DIR"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
        )
}
