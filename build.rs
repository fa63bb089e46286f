//! Link flags for this package's executables (not for dependencies or proc macros).
//!
//! The hook is a process Claude Code starts for every event, so its start-up is on the hot path.
//! The usual build is static and position-dependent (`.cargo/config.toml`: `crt-static`,
//! `relocation-model=static`): no dynamic loader, no relocations at start. When it is dynamic
//! (another target, or RUSTFLAGS set), a position-dependent executable still needs no relative
//! relocations at start, and lazy binding resolves only the libc symbols actually called:
//! together ~0.2 ms off every hook run of this ~10 MB binary (measured with `just bench-hook`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let static_crt = features.split(',').any(|f| f == "crt-static");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && !static_crt {
        println!("cargo:rustc-link-arg=-no-pie");
        println!("cargo:rustc-link-arg=-Wl,-z,lazy");
    }
    // glibc >= 2.33 keeps what `cpuid` said at start-up and gives it out
    // (`__x86_get_cpuid_feature_leaf`): SHA-256 asks it instead of running `cpuid` again (see
    // src/ids/sha256.rs). Read from the build machine's C library, so only where it is the
    // target's (no cross build); elsewhere the `sha2` crate detects as usual.
    println!("cargo::rustc-check-cfg=cfg(glibc_cpu_features)");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == std::env::var("HOST").unwrap_or_default() && target.ends_with("-linux-gnu") {
        let version = std::process::Command::new("getconf")
            .arg("GNU_LIBC_VERSION")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .unwrap_or_default();
        // "glibc 2.36"
        let minor = version.trim().strip_prefix("glibc 2.").and_then(|m| m.split('.').next()?.parse::<u32>().ok());
        if minor.is_some_and(|m| m >= 33) {
            println!("cargo:rustc-cfg=glibc_cpu_features");
        }
    }
    // The functions a hook run executes, placed together (link/hook-order.txt, made by
    // scripts/bench/hook-order.sh): fewer pages of code to fault in per run. An LLD option:
    // x86_64 Linux links with LLD (rustc's default there).
    println!("cargo:rerun-if-changed=link/hook-order.txt");
    println!("cargo:rerun-if-env-changed=AGENT_TELEMETRY_NO_LINK_ORDER");
    let order =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link/hook-order.txt");
    if target == "x86_64-unknown-linux-gnu"
        && order.is_file()
        && std::env::var_os("AGENT_TELEMETRY_NO_LINK_ORDER").is_none()
    {
        println!("cargo:rustc-link-arg-bin=agent-telemetry=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bin=agent-telemetry=-Wl,--no-warn-symbol-ordering");
    }
}
