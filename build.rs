//! Release builds lay out the server's code in the order of
//! `.cargo/symbol-order.txt`: the functions a server runs from start-up to
//! idle first, packed together, instead of spread over the whole binary.
//! The kernel maps a binary's code in 64 KiB windows around each page it
//! touches, so the spread cost ~20 MB of resident code for ~6 MB of
//! functions run (see `scripts/symbol-order`, which writes the file).
//! Names the file lists that a build lacks are skipped without a warning;
//! a stale file costs memory, never correctness.

fn main() {
    let order = std::path::Path::new(".cargo/symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // rustc links this target with its own lld (Rust 1.90+), which reads
    // the file; GNU ld would refuse the option.
    let lld_target = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let own_linker = std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some();
    if release && lld_target && !own_linker && order.exists() {
        let path = std::fs::canonicalize(order).expect("the symbol order file has a path");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", path.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
