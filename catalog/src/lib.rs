//! The component catalog of the [`gdf`](https://docs.rs/gdf) crate, shared by its two front
//! ends: the `gdf!` macro (crate `gdf-macros`, at compile time) and the run-time parser
//! (`gdf::dynamic`, from text). Both build the same [`ast`] from their input, and the one
//! [`valid::Validator`] gives it meaning and checks it with one set of messages, so a mistake
//! reads the same under the offending token of a macro call and at the offending column of a
//! config string. This crate is an implementation detail of `gdf`; use `gdf` itself.
//!
//! * [`catalog`]: the built-in components (names, aliases, roles, parameters, defaults,
//!   value checks).
//! * [`num`]: decimal literals as exact constants (the macro's `Dec<M, E>`).
//! * [`ast`]: a declaration as written, over any kind of span `S`.
//! * [`valid`]: meaning and checks, collecting every error with its span.
#![deny(missing_docs)]

pub mod ast;
pub mod catalog;
pub mod num;
pub mod valid;
