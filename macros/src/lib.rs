//! The `gdf!` macro of the [`gdf`](https://docs.rs/gdf) crate. Use it through `gdf`
//! (`gdf::gdf!`), which re-exports it; this crate is an implementation detail.
//!
//! The macro works in three phases: `ast` parses the input as written, `valid` hands it to
//! the validator of `gdf-catalog` (the catalog, checks and messages it shares with the
//! run-time parser `gdf::dynamic`), which gives it meaning and collects every error, and
//! `expand` writes the framework type with each error under its token.

mod ast;
mod expand;
mod formula;
mod valid;

use gdf_catalog::{catalog, num};

use proc_macro::TokenStream;

/// Declares a diffusion framework: schedule, input scaler, target, noise conditioning, loss
/// weight and optional offset noise, checked at compile time.
///
/// ```
/// use gdf::gdf;
///
/// gdf!(pub StageC = schedule: Cosine(clamp_range = [0.0001, 0.9999]), scaler: Vp,
///      target: Epsilon, noise_cond: CosineT, loss_weight: P2);
///
/// let stage_c = StageC::default();
/// assert_eq!(core::mem::size_of::<StageC>(), 0);
/// assert_eq!(
///     stage_c.to_string(),
///     "schedule: Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false), \
///      scaler: Vp, target: Epsilon, noise_cond: CosineT(s = 0.008), \
///      loss_weight: P2(k = 1.0, gamma = 1.0, s = 1.0), offset_noise: 0.0"
/// );
///
/// // The same framework written out by hand:
/// use gdf::{framework::Gdf, loss_weight::P2, noise_cond::CosineT, scaler::Vp,
///           schedule::Cosine, target::Epsilon};
/// let _: Gdf<Cosine, Vp, Epsilon, CosineT, P2> = stage_c;
///
/// // Without a name, the macro is an expression: the framework's value.
/// let rf = gdf!(schedule: RectifiedFlows, scaler: Lerp, target: RectifiedFlows,
///               noise_cond: RectifiedFlows, loss_weight: Constant, offset_noise: 0.1);
/// let (a, b): (f64, f64) = gdf::scaler::Scaler::ab(&rf.scaler, 0.0);
/// assert_eq!((a, b), (0.5, 0.5));
/// ```
///
/// # Syntax
///
/// ```text
/// gdf!( [#[attr]…] [vis] Name = slot: value, … [; another declaration …] )   // type aliases
/// gdf!( slot: value, … )                                                    // a value
/// ```
///
/// * **Slots:** `schedule`, `scaler` (or `input_scaler`), `target`, `noise_cond`,
///   `loss_weight`, each once, in any order, and the optional `offset_noise: <number>`
///   (default 0).
/// * **Components:** a built-in name, optionally with parameters in parentheses:
///   `Cosine`, `Cosine(s = 0.008, clamp_range = [0.0001, 0.9999])`. Omitted parameters take
///   the original GDF's defaults. The original's Python class names are accepted too
///   (`CosineSchedule`, `VPScaler`, `EpsilonTarget`, `CosineTNoiseCond`, `P2LossWeight`…).
/// * **Values:** numbers (`0.008`, `-10`, `1e-9`), whole numbers for counts (`1000`),
///   `true`/`false`, ranges `[lo, hi]`, nested components
///   (`Interpolated(Cosine(shift = 4), Cosine(shift = 0.25))`, `Discrete(CosineT, steps = 50)`)
///   and lists of loss weights (`Composed(mul = [MinSnr(max_snr = 5)], div = [SnrPlusOne])`,
///   up to 4 factors each).
/// * **Every schedule** also takes `shift` (its own shift factor), `discrete_steps` and
///   `force_limits`; **every noise cond** takes `shift` and `clamp_range` (except `CosineT`,
///   which the original always clamps to [0, 1]); **every loss weight** takes `clamp_range`.
/// * **Your own components:** write a path (`my_mod::MyCond`, `self::MyCond`,
///   `crate::MyCond<U3>`); it is used as the type as written, and the compiler checks that it
///   implements the slot's trait. A single bare name always means a built-in component.
///
/// | role | built-in components and their parameters (defaults) |
/// |---|---|
/// | schedule | `Cosine(s = 0.008, clamp_range = [0.0001, 0.9999], norm_instead = false)`, `Cosine2(logsnr_range = [-15, 15])`, `Sqrt(s = 0.0001, clamp_range = [0.0001, 0.9999], norm_instead = false)`, `RectifiedFlows(logsnr_range = [-15, 15])`, `Linear(logsnr_range = [-10, 10])`, `EdmSample(sigma_range = [0.002, 80], p = 7)`, `EdmTrain(mu = -1.2, std = 1.2)`, `StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 1000)`, `AdaptiveTrain(logsnr_range = [-10, 10], buckets = 100, min_probs = 0)`, `Interpolated(schedule1, schedule2, shifts = [1, 1])` ; training densities `LogitNormal(m = 0, s = 1)`, `ModeSampling(scale = 1.29)`, `EdmLogNormal(p_mean = -1.2, p_std = 1.2)`, `CosMap` |
/// | scaler | `Vp`, `Lerp` |
/// | target | `Epsilon`, `X0`, `V`, `NegV`, `RectifiedFlows`, `NegRectifiedFlows`, `Consistency(sigma_min = 0.004)` |
/// | noise_cond | `CosineT(s = 0.008)`, `Edm`, `Sigmoid`, `LogSnr`, `EdmSigma(sigma_data = 1)`, `RectifiedFlows`, `FlowSigma(scale = 1)`, `LogSigma(scale = 1)`, `FlowAlpha(scale = 1)`, `StableDiffusion(linear_range = [0.00085, 0.012], total_steps = 1000)`, `Discrete(noise_cond, steps = 1000, continuous_range = [0, 1])` |
/// | loss_weight | `Constant(v = 1)`, `Snr`, `P2(k = 1, gamma = 1, s = 1)`, `SnrPlusOne`, `MinSnr(max_snr = 5)`, `MinSnrPlusOne(max_snr = 5)`, `TruncatedSnr(min_snr = 1)`, `Sech(div = 2)`, `Debiased`, `Sigmoid(s = 1)`, `Composed(mul = [], div = [])`, `Adaptive(logsnr_range = [-10, 10], buckets = 300, weight_range = [1e-7, 1e7])`, `EdmWeight(target = X0, sigma_data = 0.5)`, `SoftMinSnr(target = X0, sigma_data = 1)`, `MinSnrGamma(target = Epsilon, gamma = 5)`, `SigmaSqrt`, `CosMapWeight` |
///
/// `PiecewiseLinear` needs run-time tables: build it by hand and pass it to
/// `Gdf::new`. `AdaptiveTrain` and `Adaptive` carry state (their buckets), so a framework
/// with them is not zero-sized; every other built-in framework is.
///
/// # What you get
///
/// `Name` is a type alias of `gdf::framework::Gdf<…>`, `Copy` and `Default` when its
/// components are: `Name::default()` is the framework. Every number becomes an exact
/// type-level constant (`gdf::konst::Dec`) whose `f64` is bit for bit the `f64` the literal
/// parses to; a literal that cannot be encoded exactly (more than about 15 significant
/// digits, or beyond `1e±22`) is refused. `Display` prints the declaration in this syntax
/// with every default explicit, and that text, pasted back into `gdf!`, declares the same
/// type. The same text, as a string, builds the run-time twin
/// (`"schedule: …, …".parse::<gdf::dynamic::DynGdf>()`), checked with the same messages.
///
/// # Errors
///
/// Mistakes are compile errors under the offending token, all reported at once: unknown
/// components, slots and parameters (with a "did you mean" suggestion), duplicates, missing
/// slots, a component in the wrong slot ("`Vp` is an input scaler, not a schedule"), a
/// parameter of the wrong kind, and invalid values (`lo >= hi`, a variance clamp outside
/// [0, 1], a non-positive σ or shift, zero steps, counts over 2^20…). The declaration is
/// still expanded with a default in place of each mistake, so one mistake does not cause
/// errors elsewhere.
///
/// ```compile_fail
/// gdf::gdf!(Bad = schedule: Vp, scaler: Vp, target: Epsilon, noise_cond: CosineT,
///           loss_weight: P2);   // error: `Vp` is an input scaler, not a schedule
/// ```
#[proc_macro]
pub fn gdf(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as ast::Input);
    expand::expand(&input).into()
}

/// One source for a formula on the host and on the device.
///
/// Goes on an inline module of generic functions (`fn f<F: Float>(…) -> F`) written against
/// the vocabulary that both sides spell the same way (`F::ln(x)`, `F::new(1.0)` for constants
/// exact in f32, `konst::<F>(c)` for any other constant, `clamp::<F>(x, lo, hi)`,
/// `select(c, a, b)`, `sigmoid`, `logit`, `comptime!(…)`, `#[comptime]` parameters). The
/// module keeps the host functions (`F: gdf::Real`); its `cube` submodule holds the same
/// bodies under `#[cube]` when `gdf` is built with a kernel runtime. See `gdf::formula`.
///
/// ```
/// #[gdf::formulas]
/// pub mod formula {
///     /// `λ ↦ 2·σ(λ) − 1`.
///     pub fn centred_sigmoid<F: Float>(l: F) -> F {
///         F::new(2.0) * sigmoid::<F>(l) - F::new(1.0)
///     }
/// }
/// assert_eq!(formula::centred_sigmoid(0.0f64), 0.0);
/// ```
#[proc_macro_attribute]
pub fn formulas(attr: TokenStream, item: TokenStream) -> TokenStream {
    formula::expand(attr.into(), item.into()).into()
}
