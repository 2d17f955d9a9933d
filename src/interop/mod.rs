//! Configurations written for other libraries, loaded as gdf frameworks, solvers and grids.
//!
//! - [`diffusers`]: a diffusers `scheduler_config.json` (Stable Diffusion 1.x/2.x/XL, SD3,
//!   Flux, PixArt, Playground v2.5, Stable Cascade, …).
//! - [`comfy`]: ComfyUI's schedulers (`"normal"`, `"karras"`, `"simple"`, `"beta"`, …) over a
//!   model's `model_sampling` (discrete, flow, Flux, continuous EDM).
//! - [`torch`]: PyTorch's CPU generator (`torch.manual_seed` + `torch.randn`), so a seed
//!   written for a diffusers or ComfyUI pipeline draws the same noise.

pub mod comfy;
pub mod diffusers;
pub mod torch;
