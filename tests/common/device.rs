//! Device-test plumbing (features `wgpu`, `cuda`, `hip`): the client, uploads and downloads.

use gdf::kernel::cubecl::prelude::*;
use gdf::kernel::cubecl::server::Handle;

/// The default device's client; `None` (the test is skipped) without an adapter, unless
/// `GDF_REQUIRE_GPU=1`, where a missing adapter fails the test (`gdf::kernel::doc_client`,
/// which the doc examples use too).
pub fn client() -> Option<Client> {
    let got = gdf::kernel::doc_client();
    if got.is_none() {
        eprintln!("skipping kernel test: no compute adapter found (set GDF_REQUIRE_GPU=1 to fail instead)");
    }
    got
}

/// Uploads f32 values.
pub fn up(c: &Client, x: &[f32]) -> Handle {
    c.create_from_slice(f32::as_bytes(x))
}

/// Reads f32 values back.
pub fn down(c: &Client, h: &Handle) -> Vec<f32> {
    f32::from_bytes(&c.read_one(h.clone()).unwrap()).to_vec()
}

/// f64 → f32.
pub fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// f32 → f64.
pub fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// A device run's values against the host run's, in f32: `|d − h| ≤ tol + tol·|h|` for every
/// value (each test crate passes its own `tol`).
#[track_caller]
pub fn assert_matches_host(what: &str, dev: &[f32], host: &[f32], tol: f32) {
    assert_eq!(dev.len(), host.len(), "{what}: lengths");
    for (i, (&d, &h)) in dev.iter().zip(host).enumerate() {
        assert!(
            (d - h).abs() <= tol + tol * h.abs(),
            "{what}: x[{i}] device {d}, host {h}"
        );
    }
}
