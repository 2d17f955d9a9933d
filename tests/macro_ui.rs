//! Compile-fail cases of `gdf!`: each file in `tests/ui/` is one kind of mistake, and its
//! `.stderr` shows every error under the offending token. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test macro_ui` and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
