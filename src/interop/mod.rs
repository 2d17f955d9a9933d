//! Configurations written for other libraries, loaded as gdf frameworks, solvers and grids.
//!
//! - [`diffusers`]: a diffusers `scheduler_config.json` (Stable Diffusion 1.x/2.x/XL, SD3,
//!   Flux, PixArt, Playground v2.5, Stable Cascade, …).

pub mod diffusers;
