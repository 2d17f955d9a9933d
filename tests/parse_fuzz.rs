//! A seeded property test of the run-time parser: random and mutated strings never make it
//! panic, and whatever it accepts prints a text that parses back to the same value. Each
//! input goes to the framework parser and to one component parser (in turn).
//!
//! 100 000 inputs by default (a few seconds in a debug build); `GDF_FUZZ_CASES=N` runs `N`
//! (e.g. `GDF_FUZZ_CASES=10000000 cargo test --release --test parse_fuzz` for a long run)
//! and `GDF_FUZZ_SEED` changes the seed.

use std::panic::{catch_unwind, AssertUnwindSafe};

use gdf::dynamic::{DynGdf, DynLossWeight, DynNoiseCond, DynScaler, DynSchedule, DynTarget};
use gdf::LogSnrFn;

/// SplitMix64: a small seeded generator, so a failure replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Valid declarations to mutate: frameworks and single components.
const SEEDS: &[&str] = &[
    "schedule: Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false), scaler: Vp, target: Epsilon, noise_cond: CosineT(s = 0.008), loss_weight: P2(k = 1.0, gamma = 1.0, s = 1.0), offset_noise: 0.0",
    "schedule: EdmSample(sigma_range = [0.002, 80.0], p = 7.0), scaler: Vp, target: V, noise_cond: Edm, loss_weight: Composed(mul = [MinSnr(max_snr = 5.0)], div = [SnrPlusOne]), offset_noise: 0.0",
    "schedule: RectifiedFlows(logsnr_range = [-15.0, 15.0]), scaler: Lerp, target: RectifiedFlows, noise_cond: RectifiedFlows, loss_weight: Constant(v = 1.0), offset_noise: 0.0",
    "schedule: Cosine, scaler: Vp.stretched([0.01, 0.99995, 0.01, 0.99995]), target: X0, noise_cond: Sigmoid, loss_weight: Snr, offset_noise: 0.1",
    "schedule: AdaptiveTrain(logsnr_range = [-10.0, 10.0], buckets = 100, min_probs = 0.0), scaler: Vp, target: Epsilon, noise_cond: LogSnr, loss_weight: Adaptive(logsnr_range = [-10.0, 10.0], buckets = 300, weight_range = [1e-7, 10000000.0])",
    "schedule: Interpolated(Cosine(shift = 4), Linear(logsnr_range = [-5, 5]), shifts = [2, 0.5]), scaler: Vp, target: X0, noise_cond: Discrete(StableDiffusion(total_steps = 50), steps = 50, clamp_range = [1, 40]), loss_weight: Sech(div = 3, clamp_range = [0.01, 10])",
    "schedule: Linear(discrete_steps = 11, force_limits = false, shift = 0.5), input_scaler: LERPScaler, target: VTarget, noise_cond: EdmSigma(sigma_data = 0.5), loss_weight: TruncatedSnr(min_snr = 2),",
    "schedule: PiecewiseLinear(xs = [0.0, 0.25, 0.5, 1.0], ys = [0.9999, 0.8, 0.5, 0.0001]), scaler: Vp, target: Epsilon, noise_cond: PiecewiseLinear(xs = [0.0, 1.0], ys = [0.9, 0.1]), loss_weight: Debiased",
    "schedule: StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 100), scaler: Vp, target: Epsilon, noise_cond: StableDiffusion(total_steps = 100), loss_weight: MinSnrPlusOne(max_snr = 5)",
    "schedule: EdmTrain(mu = -1.2, std = 1.2), scaler: Vp, target: X0, noise_cond: Edm(shift = 2, clamp_range = [-5, 5]), loss_weight: Composed(mul = [Snr, Sigmoid(s = 2)], div = [SnrPlusOne, Constant(v = 2)], clamp_range = [0, 10])",
    "Cosine2(logsnr_range = [-15.0, 15.0])",
    "Sqrt(s = 0.0001, clamp_range = [0.0001, 0.9999], norm_instead = false)",
    "Discrete(CosineT(s = 0.008), steps = 1000, continuous_range = [0.0, 1.0])",
];

/// Tokens to insert or build random strings from.
const VOCAB: &[&str] = &[
    "schedule",
    "scaler",
    "input_scaler",
    "target",
    "noise_cond",
    "loss_weight",
    "offset_noise",
    "Cosine",
    "Cosine2",
    "Sqrt",
    "Linear",
    "EdmSample",
    "EdmTrain",
    "StableDiffusion",
    "AdaptiveTrain",
    "Interpolated",
    "PiecewiseLinear",
    "RectifiedFlows",
    "NegRectifiedFlows",
    "Consistency",
    "LogSigma",
    "FlowAlpha",
    "Vp",
    "Lerp",
    "Epsilon",
    "X0",
    "V",
    "CosineT",
    "Edm",
    "Sigmoid",
    "LogSnr",
    "EdmSigma",
    "Discrete",
    "Constant",
    "Snr",
    "P2",
    "SnrPlusOne",
    "MinSnr",
    "Sech",
    "Debiased",
    "Composed",
    "Adaptive",
    "shift",
    "clamp_range",
    "discrete_steps",
    "force_limits",
    "steps",
    "buckets",
    "total_steps",
    "xs",
    "ys",
    "mul",
    "div",
    "s",
    "k",
    "true",
    "false",
    "True",
    "stretched",
    ":",
    ",",
    "=",
    "(",
    ")",
    "[",
    "]",
    "-",
    ".",
    "::",
    "<",
    ">",
    ";",
    " ",
    "\n",
    "\"x\"",
    "'",
    "0",
    "1",
    "0.5",
    "1e-9",
    "2",
    "1000",
    "my::Cond",
    "self::X<U3>",
];

/// Numbers that stress the literal handling.
const NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "99999999999999999999999999999",
    "18446744073709551616",
    "18446744073709551615",
    "4294967296",
    "1048577",
    "1048576",
    "-0.0",
    "-0",
    "NaN",
    "inf",
    "-inf",
    "0x10",
    "0b1",
    "1_000",
    "1.",
    "1e",
    "1e+",
    "1f32",
    "1u64",
    "1.5f64",
    "0.1234567890123456789",
    "1e22",
    "1e23",
    "123456789012345678",
    "9007199254740993",
    "0.0",
    "1e-22",
    "5e-324",
    "_1",
    "1__0",
    "00000000000000000000001",
    "1.0e-0_7",
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let at = |rng: &mut Rng| rng.below(n + 1);
    let join = |parts: &[&[char]]| parts.iter().flat_map(|p| p.iter()).collect::<String>();
    match rng.below(10) {
        // Delete a range.
        0 => {
            let (a, b) = (at(rng), at(rng));
            let (a, b) = (a.min(b), a.max(b).min(a.min(b) + 12));
            join(&[&chars[..a], &chars[b..]])
        }
        // Duplicate a range.
        1 => {
            let (a, b) = (at(rng), at(rng));
            let (a, b) = (a.min(b), a.max(b));
            join(&[&chars[..b], &chars[a..b], &chars[b..]])
        }
        // Swap two ranges of tokens-ish size.
        2 => {
            let mut v = chars.clone();
            if n > 2 {
                let len = 1 + rng.below(6);
                let a = rng.below(n.saturating_sub(len));
                let b = rng.below(n.saturating_sub(len));
                for i in 0..len.min(n - a.max(b)) {
                    v.swap(a + i, b + i);
                }
            }
            v.into_iter().collect()
        }
        // Random bytes (as chars: ASCII, controls, multi-byte).
        3 => {
            let pos = at(rng);
            let k = 1 + rng.below(4);
            let noise: Vec<char> = (0..k)
                .map(|_| match rng.below(4) {
                    0 => char::from(rng.below(128) as u8),
                    1 => *rng.pick(&['λ', 'σ', '…', '\u{0}', '\u{feff}', '日', '🦀']),
                    _ => char::from(32 + rng.below(95) as u8),
                })
                .collect();
            join(&[&chars[..pos], &noise, &chars[pos..]])
        }
        // Replace a number with a stressful one.
        4 | 5 => {
            let starts: Vec<usize> = (0..n)
                .filter(|&i| {
                    chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
                })
                .collect();
            if starts.is_empty() {
                return s.to_string();
            }
            let a = *rng.pick(&starts);
            let mut b = a;
            while b < n && (chars[b].is_ascii_alphanumeric() || chars[b] == '.' || chars[b] == '_')
            {
                b += 1;
            }
            let num: Vec<char> = rng.pick(NUMBERS).chars().collect();
            join(&[&chars[..a], &num, &chars[b..]])
        }
        // Insert a vocabulary token.
        6 => {
            let pos = at(rng);
            let tok: Vec<char> = rng.pick(VOCAB).chars().collect();
            join(&[&chars[..pos], &tok, &chars[pos..]])
        }
        // Deep nesting around a position.
        7 => {
            let pos = at(rng);
            let depth = 1 + rng.below(80);
            let (open, close) = *rng.pick(&[
                ("Interpolated(", ", Cosine)"),
                ("[", "]"),
                ("Discrete(", ")"),
                ("Composed(mul = [", "])"),
                ("(", ")"),
            ]);
            let mut out: String = chars[..pos].iter().collect();
            for _ in 0..depth {
                out.push_str(open);
            }
            out.push_str("Cosine");
            if rng.below(2) == 0 {
                for _ in 0..depth {
                    out.push_str(close);
                }
            }
            out.extend(&chars[pos..]);
            out
        }
        // Truncate.
        8 => chars[..at(rng)].iter().collect(),
        // A random string of tokens.
        _ => (0..rng.below(30))
            .map(|_| *rng.pick(VOCAB))
            .collect::<Vec<_>>()
            .join(""),
    }
}

/// Parses `text` as a framework and as the component of `role`; what parses must print a
/// text that parses to the same value. Returns whether the framework parsed.
fn check(text: &str, role: usize) -> bool {
    let framework = text.parse::<DynGdf>();
    if let Ok(g) = &framework {
        let printed = g.to_string();
        let again: DynGdf = printed
            .parse()
            .unwrap_or_else(|e| panic!("{text:?} parsed, but its print {printed:?} does not: {e}"));
        assert_eq!(
            &again, g,
            "{text:?}: print {printed:?} parses to another framework"
        );
        assert_eq!(again.to_string(), printed);
    }
    fn component<T>(text: &str)
    where
        T: core::str::FromStr + LogSnrFn + PartialEq,
        T::Err: core::fmt::Display,
    {
        if let Ok(c) = text.parse::<T>() {
            let printed = c.decl();
            let again: T = printed.parse().unwrap_or_else(|e| {
                panic!("{text:?} parsed, but its print {printed:?} does not: {e}")
            });
            assert!(
                again == c,
                "{text:?}: print {printed:?} parses to another component"
            );
        }
    }
    match role % 5 {
        0 => component::<DynSchedule>(text),
        1 => component::<DynScaler>(text),
        2 => component::<DynTarget>(text),
        3 => component::<DynNoiseCond>(text),
        _ => component::<DynLossWeight>(text),
    }
    framework.is_ok()
}

#[test]
fn random_and_mutated_strings_never_panic() {
    let cases: usize = std::env::var("GDF_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("GDF_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6D_F016);
    let mut rng = Rng(seed);
    let (mut accepted, mut refused) = (0usize, 0usize);
    for i in 0..cases {
        let mut text = rng.pick(SEEDS).to_string();
        for _ in 0..1 + rng.below(3) {
            text = mutate(&mut rng, &text);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&text, i)));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("case {i} (seed {seed}) panicked on {text:?}"),
        }
    }
    println!("{cases} inputs: {accepted} frameworks accepted, {refused} refused");
    // The mutations keep some inputs valid and break most.
    assert!(
        accepted > cases / 100 && refused > cases / 2,
        "{accepted} / {refused}"
    );
}
