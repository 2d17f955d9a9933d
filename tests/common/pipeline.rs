//! The pipeline-operations golden file (`tests/pipeline_ops/golden.json`), shared by the
//! host and the device tests.

use gdf::pipeline::Threshold;
use serde_json::Value;

use super::num;

/// Every case of the file (its format version and generator checked).
pub fn golden() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/pipeline_ops/golden.json"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("golden file"))
        .expect("golden json");
    assert_eq!(doc["version"], 1);
    assert!(doc["command"].as_str().unwrap().contains("gen.py"));
    doc["cases"].as_array().expect("cases").clone()
}

/// The cases of one kind (at least one).
pub fn cases(kind: &str) -> Vec<Value> {
    let v: Vec<Value> = golden().into_iter().filter(|c| c["kind"] == kind).collect();
    assert!(!v.is_empty(), "no {kind} case");
    v
}

/// A case's numeric parameter.
pub fn p(case: &Value, k: &str) -> f64 {
    num(&case["params"][k]).unwrap_or_else(|e| panic!("param {k}: {e}"))
}

/// The threshold stage a case's scheduler settings ask for.
pub fn threshold_of(case: &Value) -> Threshold {
    let params = &case["params"];
    if params["thresholding"] == true {
        Threshold::dynamic(
            p(case, "dynamic_thresholding_ratio"),
            p(case, "sample_max_value"),
        )
        .unwrap()
    } else if params["clip_sample"] == true {
        Threshold::clip(num(&params["clip_sample_range"]).unwrap_or(1.0)).unwrap()
    } else {
        Threshold::None
    }
}
