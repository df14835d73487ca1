//! Builds the web UI (`web/` → `web/dist`, embedded by `src/web.rs`) when it is missing or older
//! than its sources, so `cargo run --release -p opsconductor -- serve` from a clean clone gives
//! a binary with the UI. It needs Node.js and npm (packages come from the npm registry); without
//! them, or with `OPSCONDUCTOR_SKIP_UI_BUILD=1`, the build goes on without the UI and says so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
    for input in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "public",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    // The embedded files are read when this crate compiles (and, in debug builds, whether the
    // folder exists at all): a new `web/dist` must recompile it.
    println!("cargo:rerun-if-changed={}", web.join("dist").display());
    println!("cargo:rerun-if-env-changed=OPSCONDUCTOR_SKIP_UI_BUILD");
    if std::env::var_os("OPSCONDUCTOR_SKIP_UI_BUILD").is_some_and(|v| v == "1") {
        return;
    }
    if !web.join("package.json").exists() {
        return;
    }
    let built = web.join("dist/index.html");
    let fresh =
        modified(&built).is_some_and(|dist| newest(&web.join("src")).is_none_or(|src| src <= dist));
    if fresh {
        return;
    }
    if let Err(why) = build(&web) {
        println!(
            "cargo:warning=the web UI was not built ({why}); the server will run without it. \
             Build it with `(cd web && npm ci && npm run build)`."
        );
    }
}

fn build(web: &Path) -> Result<(), String> {
    let install = if web.join("node_modules").exists() {
        None
    } else {
        Some(["ci", "--no-audit", "--no-fund"].as_slice())
    };
    for args in install.into_iter().chain([["run", "build"].as_slice()]) {
        let status = Command::new("npm")
            .args(args)
            .current_dir(web)
            .status()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !status.success() {
            return Err(format!("`npm {}` failed with {status}", args.join(" ")));
        }
    }
    Ok(())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of any file under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    let mut newest = None;
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(time) = modified(&path) {
                newest = newest.max(Some(time));
            }
        }
    }
    newest
}
