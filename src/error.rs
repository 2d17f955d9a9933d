//! The crate's error type.

use core::fmt;

/// Everything that can go wrong when a GDF component or framework is given bad input.
///
/// Every message says what was wrong and what was expected.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum GdfError {
    /// A buffer does not have the length the call needs.
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A buffer's length is not a whole number of samples.
    NotDivisible {
        /// Which argument.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The batch size it must divide into.
        batch: usize,
    },
    /// The batch (or a buffer that must not be empty) is empty.
    EmptyBatch {
        /// Which argument.
        what: &'static str,
    },
    /// A value that must be finite is NaN or infinite.
    NonFinite {
        /// Which argument.
        what: &'static str,
        /// Index of the first offending element.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A training-only schedule (EDMTrain, AdaptiveTrain) was given `t`.
    TrainingOnly {
        /// The schedule's name.
        schedule: &'static str,
    },
    /// A runtime value is outside the range it must lie in.
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value given.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
    /// The model wrote a NaN or infinite prediction (found by the opt-in check of a
    /// sampling run, [`SampleOpts::check_predictions`](crate::sample::SampleOpts)).
    ModelOutput {
        /// The sampling step (0-based) whose model call wrote it.
        step: usize,
        /// Which half of the model batch: `"conditional"`, `"unconditional"` (guided steps)
        /// or `"unguided"`.
        branch: &'static str,
        /// The batch item (0-based) of the first bad value.
        sample: usize,
        /// The element within that sample.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// The model failed (its [`Model::predict`](crate::sample::Model::predict) returned an error).
    Model {
        /// The sampling step (0-based) or, in a solver run, the model evaluation whose call
        /// failed.
        step: usize,
        /// The model's error message.
        message: String,
    },
    /// A field of a configuration file (a diffusers `scheduler_config.json`) has a value gdf
    /// cannot honour, or is unknown.
    Config {
        /// The field's name.
        field: String,
        /// Its value, as written in the file.
        value: String,
        /// What gdf supports instead, or why it cannot honour the value.
        expected: String,
    },
    /// A parameter or specification is invalid (tables, state restored from disk, …).
    Invalid {
        /// What was wrong and what was expected.
        message: String,
    },
}

impl fmt::Display for GdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GdfError::LengthMismatch {
                what,
                expected,
                got,
            } => write!(f, "`{what}` has length {got}, expected {expected}"),
            GdfError::NotDivisible { what, len, batch } => write!(
                f,
                "`{what}` has length {len}, which is not a multiple of the batch size {batch}"
            ),
            GdfError::EmptyBatch { what } => {
                write!(f, "`{what}` is empty, expected at least one element")
            }
            GdfError::NonFinite { what, index, value } => {
                write!(f, "`{what}[{index}]` is {value}, expected a finite number")
            }
            GdfError::TrainingOnly { schedule } => write!(
                f,
                "the {schedule} schedule is training-only: it draws logSNR itself and cannot \
                 evaluate a given t; use a sampling schedule (e.g. Cosine or EdmSample) to \
                 evaluate t"
            ),
            GdfError::OutOfRange {
                what,
                value,
                expected,
            } => {
                write!(f, "`{what}` is {value}, expected {expected}")
            }
            GdfError::Model { step, message } => {
                write!(f, "the model failed at step {step}: {message}")
            }
            GdfError::ModelOutput {
                step,
                branch,
                sample,
                index,
                value,
            } => write!(
                f,
                "the model's {branch} prediction at step {step} is {value} for sample {sample} \
                 (element {index}), expected finite numbers; check the model and its inputs \
                 at that noise level"
            ),
            GdfError::Config {
                field,
                value,
                expected,
            } => write!(f, "config field `{field}` is {value}, expected {expected}"),
            GdfError::Invalid { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for GdfError {}

/// Shorthand for `Result<T, GdfError>`.
pub type Result<T, E = GdfError> = core::result::Result<T, E>;

pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(GdfError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

pub(crate) fn check_nonempty(what: &'static str, len: usize) -> Result<()> {
    if len == 0 {
        Err(GdfError::EmptyBatch { what })
    } else {
        Ok(())
    }
}

pub(crate) fn check_finite<F: crate::Real>(what: &'static str, xs: &[F]) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(index) => Err(GdfError::NonFinite {
            what,
            index,
            value: xs[index].as_f64(),
        }),
    }
}

/// Checks that `len` is `batch · k` for some `k ≥ 1` and returns `k`.
pub(crate) fn per_sample(what: &'static str, len: usize, batch: usize) -> Result<usize> {
    check_nonempty("batch", batch)?;
    check_nonempty(what, len)?;
    if len % batch != 0 {
        return Err(GdfError::NotDivisible { what, len, batch });
    }
    Ok(len / batch)
}
