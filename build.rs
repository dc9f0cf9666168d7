//! Release builds lay out the server's code in the order of
//! `.cargo/symbol-order.txt`: the functions a server runs from start-up to
//! idle first, packed together, instead of spread over the whole binary.
//! The kernel maps a binary's code in 64 KiB windows around each page it
//! touches, so the spread cost ~20 MB of resident code for ~6 MB of
//! functions run (see `scripts/symbol-order`, which writes the file).
//! Names the file lists that a build lacks are skipped without a warning;
//! a stale file costs memory, never correctness.
//!
//! Only lld reads the file (rustc links x86_64 Linux with its own lld
//! since Rust 1.90); GNU ld would refuse the option. So the option is
//! first tried on an empty program, with this build's flags and linker,
//! and passed on only when that links.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    let order = Path::new(".cargo/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    // The linker chosen for this target (the probe's answer depends on it).
    let target = env::var("TARGET").unwrap_or_default().to_uppercase().replace('-', "_");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_{target}_LINKER");
    println!("cargo:rerun-if-env-changed=RUSTFLAGS");
    println!("cargo:rerun-if-changed=.cargo/config.toml");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    if !release || !order.exists() {
        return;
    }
    let path = std::fs::canonicalize(order).expect("the symbol order file has a path");
    // Also by its absolute path: the link argument below names it, and two
    // checkouts sharing one target directory share this script's output
    // (cargo's metadata hash leaves the checkout's path out), so when the
    // checkout it names is gone the script must run again.
    println!("cargo:rerun-if-changed={}", path.display());
    let args = [
        "-Xlinker".to_string(),
        format!("--symbol-ordering-file={}", path.display()),
        "-Xlinker".to_string(),
        "--no-warn-symbol-ordering".to_string(),
    ];
    if links_with(&args) {
        for arg in &args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    } else {
        println!(
            "cargo:warning=the linker does not take --symbol-ordering-file (it is not lld): \
             the release binary's code is not packed, and an idle server holds ~13 MiB more"
        );
    }
}

/// Whether an empty program links with `args`, this build's target, flags
/// and linker.
fn links_with(args: &[String]) -> bool {
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else { return false };
    let src = out.join("probe.rs");
    if std::fs::write(&src, "fn main() {}\n").is_err() {
        return false;
    }
    let mut cmd = Command::new(env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    cmd.arg("--edition=2021").arg("--crate-name=probe").arg("-o").arg(out.join("probe")).arg(&src);
    if let Ok(target) = env::var("TARGET") {
        cmd.arg("--target").arg(target);
    }
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = std::ffi::OsString::from("linker=");
        flag.push(linker);
        cmd.arg("-C").arg(flag);
    }
    for arg in args {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}
