//! Frameworks from text (`gdf::dynamic::DynGdf` and the components' `FromStr`): every
//! snapshot framework and every golden config round-trips text → dynamic → `Display` →
//! text; a type declared with `gdf!` and its parsed twin give identical numbers; each
//! `tests/ui` error case of `gdf!` has a run-time twin with the same messages on the same
//! text; serde holds a framework as its text.

mod common;

use std::path::Path;

use common::*;
use gdf::dynamic::{
    DynGdf, DynLossWeight, DynNoiseCond, DynScaler, DynSchedule, DynTarget, ParseError,
};
use gdf::framework::{DiffuseArgs, Gdf};
use gdf::prelude::*;
use serde_json::Value;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Parses `text` as `T`, prints it, and checks the print is `text` again.
fn round_trip<T>(text: &str) -> T
where
    T: core::str::FromStr<Err = ParseError> + LogSnrFn,
{
    let parsed: T = text
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse:\n{e}"));
    assert_eq!(
        parsed.decl(),
        text,
        "component text changed in the round trip"
    );
    parsed
}

fn round_trip_framework(text: &str) -> DynGdf {
    let parsed: DynGdf = text
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} does not parse:\n{e}"));
    assert_eq!(
        parsed.to_string(),
        text,
        "framework text changed in the round trip"
    );
    parsed
}

/// Every framework and component declaration printed in `tests/snapshots/tables__*.snap`
/// (the lines `schedule: …`, `noise_cond: …`, `loss_weight: …` of each table's header).
#[test]
fn snapshot_declarations_round_trip() {
    let dir = manifest().join("tests/snapshots");
    let (mut frameworks, mut components) = (0, 0);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("tables__") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The insta header ends at the second `---`.
        let body = text.splitn(3, "---\n").nth(2).unwrap_or("");
        for line in body.lines().take_while(|l| !l.is_empty()) {
            if line.contains(", offset_noise: ") {
                round_trip_framework(line);
                frameworks += 1;
            } else if let Some(d) = line.strip_prefix("schedule: ") {
                round_trip::<DynSchedule>(d);
                components += 1;
            } else if let Some(d) = line.strip_prefix("noise_cond: ") {
                round_trip::<DynNoiseCond>(d);
                components += 1;
            } else if let Some(d) = line.strip_prefix("loss_weight: ") {
                round_trip::<DynLossWeight>(d);
                components += 1;
            }
        }
    }
    // sc, edm, rf, stretched, adaptive (and the sampling tables' copies of them).
    assert!(frameworks >= 5, "{frameworks} frameworks found");
    assert!(components >= 30, "{components} components found");
    println!("{frameworks} frameworks and {components} components round-tripped");
}

/// Each golden config, built as the golden tests build it (`tests/common`), prints a text
/// that parses back to an equal value printing the same text.
#[test]
fn golden_configs_round_trip() {
    fn check<T>(built: T) -> usize
    where
        T: core::str::FromStr<Err = ParseError> + LogSnrFn + PartialEq,
    {
        let text = built.decl();
        let parsed: T = round_trip(&text);
        assert!(
            parsed == built,
            "{text}: parsed value differs from the config's"
        );
        1
    }
    let mut n = 0;
    for case in load("schedules.json") {
        n += check(schedule(&case).unwrap());
    }
    for case in load("noise_conds.json") {
        n += check(noise_cond(&case).unwrap());
    }
    for case in load("loss_weights.json") {
        n += check(loss_weight(&case).unwrap());
    }
    for case in load("scalers.json") {
        n += check(scaler(&case).unwrap());
    }
    for case in load("targets.json") {
        n += check(target(&case).unwrap());
    }
    let mut frameworks = 0;
    for file in ["diffuse.json", "sample_loops.json", "samplers.json"] {
        for case in load(file) {
            // samplers.json holds the GDF spec under `gdf` (`gdf_spec` reads its `params`).
            let params = case.get("params").unwrap();
            let g = gdf_spec(params.get("gdf").unwrap_or(params)).unwrap();
            let mut sc = g.scaler;
            for (mx, mn, shift) in &g.setup_limits {
                sc = sc.stretched(&g.schedule, *mx, *mn, *shift).unwrap();
            }
            let built = DynGdf::new(
                g.schedule,
                sc,
                g.target,
                g.noise_cond.unwrap(),
                g.loss_weight.unwrap(),
            )
            .with_offset_noise(g.offset_noise);
            let parsed = round_trip_framework(&built.to_string());
            assert_eq!(parsed, built);
            frameworks += 1;
        }
    }
    assert!(
        n > 150 && frameworks > 20,
        "{n} components, {frameworks} frameworks"
    );
    println!("{n} golden components and {frameworks} golden frameworks round-tripped");
}

gdf::gdf!(StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
          target: Epsilon, noise_cond: CosineT, loss_weight: P2);
gdf::gdf!(Edm = schedule: EdmSample(sigma_range = [0.002, 80]), scaler: Vp, target: V,
          noise_cond: Edm, loss_weight: Composed(mul = [MinSnr(max_snr = 5)], div = [SnrPlusOne]));

/// A declared framework and the framework parsed from its `Display` text compute the same
/// numbers, bit for bit.
fn twins<S, Sc, T, N, L, O>(declared: Gdf<S, Sc, T, N, L, O>)
where
    S: Schedule,
    Sc: Scaler,
    T: Target,
    N: NoiseCond,
    L: LossWeight,
    O: gdf::konst::Param,
    Gdf<S, Sc, T, N, L, O>: core::fmt::Display,
{
    let text = declared.to_string();
    let parsed = round_trip_framework(&text);
    let (b, per) = (5, 6);
    let x0: Vec<f64> = (0..b * per).map(|i| (i as f64 * 0.37).sin()).collect();
    let eps: Vec<f64> = (0..b * per).map(|i| (i as f64 * 0.91).cos()).collect();
    let t = [0.0, 0.13, 0.5, 0.77, 1.0];
    for args in [
        DiffuseArgs {
            eps: Some(&eps),
            t: Some(&t),
            ..Default::default()
        },
        DiffuseArgs {
            seed: 11,
            ..Default::default()
        },
        DiffuseArgs {
            t: Some(&t),
            shift: 2.0,
            loss_shift: 0.5,
            seed: 3,
            channels: 2,
            ..Default::default()
        },
    ] {
        // Training-only schedules refuse a given t: both the same way.
        let d = declared.diffuse(&x0, b, &args);
        let p = parsed.diffuse(&x0, b, &args);
        match (d, p) {
            (Ok(d), Ok(p)) => {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for (name, d, p) in [
                    ("noised", &d.noised, &p.noised),
                    ("eps", &d.eps, &p.eps),
                    ("target", &d.target, &p.target),
                    ("logsnr", &d.logsnr, &p.logsnr),
                    ("noise_cond", &d.noise_cond, &p.noise_cond),
                    ("loss_weight", &d.loss_weight, &p.loss_weight),
                ] {
                    assert_eq!(bits(d), bits(p), "{text}: diffuse's {name} differs");
                }
            }
            (d, p) => assert_eq!(d.err(), p.err(), "{text}: diffuse differs"),
        }
    }
    for i in 0..=20 {
        let t = i as f64 / 20.0;
        let l: gdf::Result<f64> = declared.schedule.logsnr(t, 1.0);
        assert_eq!(
            l.map(f64::to_bits),
            parsed.schedule.logsnr(t, 1.0).map(f64::to_bits),
            "{text}: logsnr({t})"
        );
        let l = 12.0 - 1.2 * i as f64;
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        assert!(same(
            declared.noise_cond.noise_cond(l),
            parsed.noise_cond.noise_cond(l)
        ));
        assert!(same(
            declared.loss_weight.loss_weight(l, 1.0),
            parsed.loss_weight.loss_weight(l, 1.0)
        ));
        let (a, b) = declared.scaler.ab(l);
        assert_eq!((a, b), parsed.scaler.ab(l));
    }
}

/// Declares each framework with `gdf!` and parses the same input text at run time: the
/// parsed framework prints what the declared type prints and computes the same numbers.
macro_rules! twins {
    ($($name:ident = { $($decl:tt)* })*) => {{
        let mut n = 0;
        $({
            gdf::gdf!($name = $($decl)*);
            let input = stringify!($($decl)*);
            let parsed: DynGdf = input
                .parse()
                .unwrap_or_else(|e| panic!("{input:?} does not parse:\n{e}"));
            assert_eq!(parsed.to_string(), $name::default().to_string(), "{input}");
            twins($name::default());
            n += 1;
        })*
        n
    }};
}

#[test]
fn declared_and_parsed_twins_agree() {
    let n = twins! {
        Sc = { schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
               noise_cond: CosineT, loss_weight: P2 }
        EdmF = { schedule: EdmSample(sigma_range = [0.002, 80]), scaler: Vp, target: V,
                 noise_cond: Edm, loss_weight: Composed(mul = [MinSnr(max_snr = 5)], div = [SnrPlusOne]) }
        Rf = { schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows,
               noise_cond: RectifiedFlows(shift = 2), loss_weight: Constant, offset_noise: 0.1 }
        Wrapped = { schedule: Interpolated(Cosine(shift = 4), Linear(logsnr_range = [-5, 5]),
                                           shifts = [2, 0.5]),
                    scaler: Vp, target: X0,
                    noise_cond: Discrete(StableDiffusion(total_steps = 500), steps = 500,
                                         clamp_range = [1, 400]),
                    loss_weight: Sech(div = 3, clamp_range = [0.01, 10]) }
        Snapped = { schedule: Linear(discrete_steps = 11, force_limits = false, shift = 0.5),
                    input_scaler: LERPScaler, target: VTarget,
                    noise_cond: EdmSigma(sigma_data = 0.5),
                    loss_weight: TruncatedSNR(min_snr = 2), }
        // The declarations of tests/macro_golden.rs.
        Everything = { schedule: Cosine(s = 0.01, clamp_range = [0.001, 0.999], norm_instead = true,
                 shift = 2, discrete_steps = 100, force_limits = false),
             scaler: Lerp, target: V, noise_cond: Discrete(CosineT(s = 0.01), steps = 50,
                 continuous_range = [0, 1], shift = 0.5, clamp_range = [0, 49]),
             loss_weight: Sech(div = 3, clamp_range = [0.001, 1]), offset_noise: 0.05 }
        Mixture = { schedule: Interpolated(Cosine(shift = 4), Cosine(shift = 0.25), shifts = [2, 0.5]),
             scaler: Vp, target: X0, noise_cond: LogSnr,
             loss_weight: Composed(mul = [P2(gamma = 0.5), Sigmoid(s = 2), MinSnrPlusOne],
                                   div = [Debiased, TruncatedSnr(min_snr = 0.5)]) }
        SdDiscrete = { schedule: StableDiffusion(linear_range = [0.001, 0.02], total_steps = 500),
             scaler: Vp, target: Epsilon,
             noise_cond: Discrete(StableDiffusion(total_steps = 500), steps = 500),
             loss_weight: SnrPlusOne }
        EdmSigmaTrain = { schedule: EdmTrain(mu = 1.2, std = 0.8), scaler: Vp, target: V,
             noise_cond: EdmSigma(sigma_data = 0.5), loss_weight: MinSnr(max_snr = 10) }
        Misc = { schedule: Sqrt(s = 0.001), scaler: Vp, target: Epsilon, noise_cond: Sigmoid,
             loss_weight: Constant(v = 2) }
        AdaptiveBoth = { schedule: AdaptiveTrain(logsnr_range = [-8, 8], buckets = 20, min_probs = 0.01),
             scaler: Vp, target: Epsilon, noise_cond: LogSnr,
             loss_weight: Adaptive(logsnr_range = [-5, 5], buckets = 30, weight_range = [0.001, 1000]) }
        Digits = { schedule: Cosine(s = 0.123456789012345, clamp_range = [1e-5, 0.99995]),
             scaler: Vp, target: Epsilon, noise_cond: EdmSigma(sigma_data = 0.5),
             loss_weight: P2(k = 2.5e-3, gamma = -0.75, s = 1e20), offset_noise: 0.3 }
        // Literal spellings: exponents, underscores, a trailing comma.
        Spelled = { schedule: Cosine(s = 8E-3, clamp_range = [1e-4, 0.999_9]), scaler: VP,
             target: EpsilonTarget, noise_cond: CosineTNoiseCond(s = 0.008f64),
             loss_weight: P2LossWeight(k = -2.5e-3, gamma = 123456.789, s = 1E2),
             offset_noise: 1_000.5, }
    };
    assert_eq!(n, 13);
}

/// One error of a `.stderr` file: its message and the text under its carets.
#[derive(Debug)]
struct UiError {
    message: String,
    text: Option<String>,
}

fn ui_errors(stderr: &str) -> Vec<UiError> {
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(message) = line.strip_prefix("error: ") else {
            continue;
        };
        // `  --> file:l:c`, ` |`, `N | code`, ` |   ^^^^`.
        let code = lines[i + 3];
        let carets = lines[i + 4];
        let bar = code.find("| ").unwrap();
        let code = &code[bar + 2..];
        let carets = carets.get(bar + 2..).unwrap_or("");
        let text = match (carets.find('^'), carets.rfind('^')) {
            (Some(s), Some(e)) if !carets.contains('/') => {
                Some(code.chars().skip(s).take(e + 1 - s).collect())
            }
            _ => None,
        };
        out.push(UiError {
            message: message.to_string(),
            text,
        });
    }
    out
}

/// The slots of each `gdf::gdf!(…)` call in a ui case, without the declared name.
fn ui_declarations(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("gdf::gdf!(") {
        let body = &rest[i + "gdf::gdf!(".len()..];
        let mut depth = 1;
        let end = body
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' | '[' => 1,
                    ')' | ']' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .unwrap()
            .0;
        let decl = &body[..end];
        // `[pub] Name = slots` → slots.
        let slots = match decl.find(" = ") {
            Some(eq) if !decl[..eq].contains(':') && !decl[..eq].contains('(') => &decl[eq + 3..],
            _ => decl,
        };
        out.push(slots.to_string());
        rest = &body[end..];
    }
    out
}

/// Each `tests/ui` case's declaration, parsed at run time, fails with the messages of the
/// macro's `.stderr`, in order, each on the same text.
#[test]
fn ui_cases_have_run_time_twins() {
    let dir = manifest().join("tests/ui");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    let mut checked = 0;
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().to_string();
        let source = std::fs::read_to_string(&case).unwrap();
        let stderr = std::fs::read_to_string(case.with_extension("stderr")).unwrap();
        let decls = ui_declarations(&source);
        assert!(!decls.is_empty(), "{name}: no gdf! call found");
        let mut got = Vec::new();
        for d in &decls {
            match d.parse::<DynGdf>() {
                Ok(_) => {}
                Err(e) => got.extend(e.issues),
            }
        }
        if name == "user_component_wrong_role" {
            // The compiler, not the macro, reports a user type in the wrong role; run-time
            // text names built-in components only, so it refuses the path itself.
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(got
                .iter()
                .all(|i| i.text == "self::Half" && i.message.contains("is not a built-in")));
            continue;
        }
        let want = ui_errors(&stderr);
        assert!(!want.is_empty(), "{name}: no errors in the .stderr");
        let got_msgs: Vec<&str> = got.iter().map(|i| i.message.as_str()).collect();
        let want_msgs: Vec<&str> = want.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(got_msgs, want_msgs, "{name}: messages");
        for (g, w) in got.iter().zip(&want) {
            // A missing slot is reported on the declared name (or the macro call) by the
            // macro and on the whole text at run time.
            if w.message.starts_with("missing slot") {
                continue;
            }
            assert_eq!(
                Some(&g.text),
                w.text.as_ref(),
                "{name}: where `{}` is",
                w.message
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "{checked} ui cases checked");
}

#[test]
fn errors_say_where_and_what() {
    let text = "schedule: Cosine,\n  scaler: Vp, target: Epsilon,\n  noise_cond: CosineT(s = -1), loss_weight: P2";
    let e = text.parse::<DynGdf>().unwrap_err();
    assert_eq!(e.issues.len(), 1);
    let i = &e.issues[0];
    assert_eq!((i.line, i.column), (3, 27));
    assert_eq!(i.text, "-1");
    assert_eq!(&text[i.span.clone()], "-1");
    assert_eq!(i.message, "`s` must be zero or positive, found `-1.0`");
    assert_eq!(
        e.to_string(),
        "3:27: `s` must be zero or positive, found `-1.0` (at `-1`)"
    );
    // A syntax error at the end of the input.
    let e = "schedule: Cosine(s = 0.008".parse::<DynGdf>().unwrap_err();
    assert_eq!(
        e.issues[0].message,
        "unexpected end of input, expected `,` or `)`"
    );
    assert_eq!(e.issues[0].span, 26..26);
    // Into the crate's error.
    let g: gdf::GdfError = e.into();
    assert!(g.to_string().contains("expected `,` or `)`"));
    // Run-time only forms: tables and stretched limits; a table's own checks apply.
    let s: DynSchedule = "PiecewiseLinear(xs = [0.0, 1.0], ys = [0.9, 0.1])"
        .parse()
        .unwrap();
    assert_eq!(
        s.decl(),
        "PiecewiseLinear(xs = [0.0, 1.0], ys = [0.9, 0.1])"
    );
    round_trip::<DynSchedule>(
        "PiecewiseLinear(xs = [0.0, 0.5, 1.0], ys = [0.9, 0.5, 0.1], shift = 2.0, discrete_steps = 5)",
    );
    round_trip::<DynNoiseCond>(
        "PiecewiseLinear(xs = [0.0, 1.0], ys = [0.9, 0.1], clamp_range = [0.0, 0.5])",
    );
    let e = "PiecewiseLinear(xs = [0.0, 1.0])"
        .parse::<DynSchedule>()
        .unwrap_err();
    assert_eq!(
        e.issues[0].message,
        "`PiecewiseLinear` needs `ys` (a list of numbers `[…]`)"
    );
    assert_eq!(e.issues[0].text, "PiecewiseLinear");
    let e = "PiecewiseLinear(xs = [0.0, 1.0], ys = [0.9, inf])"
        .parse::<DynSchedule>()
        .unwrap_err();
    assert_eq!(
        e.issues[0].message,
        "`ys` takes numbers, found the component `inf`"
    );
    let e = "PiecewiseLinear(xs = [0.0], ys = [0.9, 0.1])"
        .parse::<DynSchedule>()
        .unwrap_err();
    assert!(e.issues[0].message.starts_with("piecewise table"), "{e}");
    assert_eq!(e.issues[0].text, "[0.0]");
    let sc: DynScaler = "Lerp.stretched([0.1, 0.9, 0.05, 0.95])".parse().unwrap();
    assert_eq!(sc.stretched_limits(), Some([0.1, 0.9, 0.05, 0.95]));
    let e = "Cosine.stretched([0.1, 0.9, 0.05, 0.95])"
        .parse::<DynSchedule>()
        .unwrap_err();
    assert!(e.issues[0].message.contains("is for a scaler"), "{e}");
    // A user's path cannot be built from text.
    let e = "my::Cond".parse::<DynNoiseCond>().unwrap_err();
    assert!(e.issues[0]
        .message
        .starts_with("`my::Cond` is not a built-in noise cond"));
    assert_eq!("V".parse::<DynTarget>().unwrap(), DynTarget::V);
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct TrainConfig {
    framework: DynGdf,
    sampling_schedule: DynSchedule,
    steps: u32,
}

#[test]
fn serde_holds_a_framework_as_its_text() {
    let json = r#"{
        "framework": "schedule: EdmSample, scaler: Vp, target: V, noise_cond: Edm, loss_weight: Composed(mul = [MinSnr], div = [SnrPlusOne])",
        "sampling_schedule": "Cosine(shift = 2)",
        "steps": 20
    }"#;
    let cfg: TrainConfig = serde_json::from_str(json).unwrap();
    assert_eq!(cfg.framework, Edm::default().to_string().parse().unwrap());
    assert_eq!(cfg.sampling_schedule.own_shift(), 2.0);
    // Written back: every default explicit, and read again to the same value.
    let out = serde_json::to_value(&cfg).unwrap();
    assert_eq!(out["framework"], Value::String(Edm::default().to_string()));
    assert_eq!(
        out["sampling_schedule"],
        "Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false, shift = 2.0)"
    );
    let back: TrainConfig = serde_json::from_value(out).unwrap();
    assert_eq!(back, cfg);
    // A mistake in the text is a serde error with the parser's message.
    let bad = json.replace("EdmSample", "EdmSampel");
    let e = serde_json::from_str::<TrainConfig>(&bad).unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown schedule `EdmSampel`: did you mean `EdmSample`?"),
        "{e}"
    );
}

#[test]
fn toml_config_holds_a_framework() {
    let text = r#"
steps = 50
sampling_schedule = "Linear(logsnr_range = [-8, 8], discrete_steps = 11)"
framework = """schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp, target: Epsilon,
               noise_cond: CosineT, loss_weight: P2"""
"#;
    let cfg: TrainConfig = toml::from_str(text).unwrap();
    assert_eq!(cfg.framework.to_string(), StageC::default().to_string());
    assert_eq!(cfg.sampling_schedule.discrete_steps(), Some(11));
    let written = toml::to_string(&cfg).unwrap();
    assert!(written.contains(&format!("framework = {:?}", StageC::default().to_string())));
    assert_eq!(toml::from_str::<TrainConfig>(&written).unwrap(), cfg);
    // A mistake on the framework's second line: the parser says where within the string.
    let bad = text.replace("noise_cond: CosineT", "noise_cond: CosineT(s = -1)");
    let e = toml::from_str::<TrainConfig>(&bad).unwrap_err().to_string();
    assert!(
        e.contains("2:40: `s` must be zero or positive, found `-1.0` (at `-1`)"),
        "{e}"
    );
}

#[test]
fn large_inputs_are_refused_quickly() {
    let start = std::time::Instant::now();
    for text in [
        "[".repeat(100_000),
        "schedule: ".to_string() + &"Interpolated(".repeat(10_000),
        "a".repeat(1_000_000),
        format!("schedule: {}, scaler: Vp", "Cosinee".repeat(100_000)),
        format!("schedule: Cosine(s = 0.{}1)", "0".repeat(100_000)),
        format!("schedule: Cosine(s = 1{})", "0".repeat(100_000)),
        "schedule: StableDiffusion(total_steps = 1048577)".to_string(),
        "schedule: AdaptiveTrain(buckets = 99999999999999999999999)".to_string(),
    ] {
        let e = text.parse::<DynGdf>().unwrap_err();
        assert!(!e.issues.is_empty());
    }
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
    let e = "schedule: StableDiffusion(total_steps = 1048577)"
        .parse::<DynGdf>()
        .unwrap_err();
    assert_eq!(
        e.issues[1].message,
        "`total_steps` must be at most 1048576, found 1048577"
    );
    assert_eq!(e.issues[1].text, "1048577");
}
