//! Sets `cfg(gdf_kernel)` when a kernel runtime feature (`wgpu`, `cuda`, `hip`) is on: the
//! `#[cube]` halves of the components are compiled under it.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(gdf_kernel)");
    let kernel = ["WGPU", "CUDA", "HIP"]
        .iter()
        .any(|f| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some());
    if kernel {
        println!("cargo:rustc-cfg=gdf_kernel");
    }
}
