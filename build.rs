//! Sets `cfg(gdf_kernel)` when a kernel runtime feature (`wgpu`, `cuda`, `hip`) is on: the
//! `#[cube]` halves of the components are compiled under it. Sets `cfg(gdf_avx512)` when the
//! compiler has stable AVX-512 intrinsics (Rust 1.89 and later), which the host's AVX-512
//! paths are compiled under (older compilers, down to the crate's MSRV, build without them).
fn main() {
    println!("cargo:rustc-check-cfg=cfg(gdf_kernel)");
    println!("cargo:rustc-check-cfg=cfg(gdf_avx512)");
    if rustc_minor().is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=gdf_avx512");
    }
    let kernel = ["WGPU", "CUDA", "HIP"]
        .iter()
        .any(|f| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some());
    if kernel {
        println!("cargo:rustc-cfg=gdf_kernel");
    }
}

/// The minor version of the compiler building the crate (`1.x`), if it can be read.
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}
