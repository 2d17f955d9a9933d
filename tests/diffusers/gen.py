"""Golden data for gdf's diffusers config loader (`gdf::interop::diffusers`).

Runs diffusers' own schedulers (diffusers 0.42.1, torch 2.15 CPU) on the scheduler configs of
INTEROP-diffusers §2.1 and writes `golden.json` next to this file:

    /tmp/torchvenv/bin/python tests/diffusers/gen.py

Deterministic: fixed numpy seeds, one torch thread; re-running on the same CPU gives a
byte-identical file. torch's float32 SIMD paths differ between CPUs (seen: every run case moved
by up to ~1e-6 relative between two Xeons, well inside the consumer's tolerances), so to add
cases without rewriting the others, append them to CONFIGS and run

    /tmp/torchvenv/bin/python tests/diffusers/gen.py --new

which generates only the cases whose id the file does not hold yet and appends them, leaving
every existing line as it is.
For each case it records
  * `config`: the scheduler_config.json as the model ships it, `pipeline`: what the pipeline
    decides (the loader's `PipelineKind`), `steps`: num_inference_steps;
  * `grid`: per level (N steps + the final level) the reference's `a`, `b` (x = a·x0 + b·ε in
    the frame gdf uses: VP for the discrete and EDM schedulers, LERP for flows), the model
    timestep the pipeline passes to its network (`model_timestep`, per step), and the
    scheduler's own `timesteps`, `sigmas` and `alphas_cumprod` as it uses them;
  * `run`: a full sampling run with an analytic model, the exact denoiser of a 2-D Gaussian
    mixture (its posterior mean, reimplemented here in numpy; the same closed form as
    `gdf::toy::GaussianMixture2::denoise`), on a batch of 4 points, from fixed initial latents,
    driving the scheduler's own `step`. Per step: the latents the scheduler got (`sample`),
    the raw model output it got (`model_output`, the model's prediction type), the denoised
    estimate (`denoised`) and the latents after the step (`x`), all in the pipeline's frame;
    ancestral noise as the scheduler applied it (`noise`, Stable Cascade only).

Numbers are float64 widenings of what diffusers computes. diffusers builds its tables, sigmas
and timesteps in float32 (and some steps run in float32); `tol` of each case records the
tolerance the consumer uses and why.
"""

import json
import math
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
# torch's stock default dtype (float32), as in a pipeline: the schedulers build their tables,
# sigmas and timesteps as they do for users. Latents and model outputs are float64 tensors.

import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    CosineDPMSolverMultistepScheduler,
    CogVideoXDDIMScheduler,
    CogVideoXDPMScheduler,
    DDIMParallelScheduler,
    DDIMScheduler,
    DDPMParallelScheduler,
    DDPMScheduler,
    EulerAncestralDiscreteScheduler,
    UniPCMultistepScheduler,
    DDPMWuerstchenScheduler,
    DEISMultistepScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSDEScheduler,
    DPMSolverSinglestepScheduler,
    EDMDPMSolverMultistepScheduler,
    EDMEulerScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FlowMatchLCMScheduler,
    FlowMapEulerDiscreteScheduler,
    FlowMatchHeunDiscreteScheduler,
    HeunDiscreteScheduler,
    IPNDMScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LTXEulerAncestralRFScheduler,
    LCMScheduler,
    MiniMaxH3Scheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    SASolverScheduler,
    SCMScheduler,
    CMStochasticIterativeScheduler,
    DPMSolverMultistepInverseScheduler,
    TCDScheduler,
)

assert diffusers.__version__ == "0.42.1", diffusers.__version__

# The analytic model: a 2-D Gaussian mixture (weights, means, covariances).
MIX = {
    "weights": [0.5, 0.3, 0.2],
    "means": [[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]],
    "covs": [[[0.30, 0.10], [0.10, 0.20]], [[0.20, -0.05], [-0.05, 0.25]], [[0.15, 0.0], [0.0, 0.15]]],
}
BATCH = 4


def denoise(x, a, b):
    """E[x0 | a·x0 + b·ε = x] for the mixture, x of shape (B, 2), float64."""
    w = np.array(MIX["weights"]) / sum(MIX["weights"])
    out = np.zeros_like(x)
    for r in range(x.shape[0]):
        logs, means = [], []
        for k in range(len(w)):
            m = np.array(MIX["means"][k])
            s = np.array(MIX["covs"][k])
            c = a * a * s + b * b * np.eye(2)
            d = x[r] - a * m
            ci = np.linalg.inv(c)
            logs.append(math.log(w[k]) - 0.5 * d @ ci @ d - 0.5 * math.log(np.linalg.det(c)) - math.log(2 * math.pi))
            means.append(m + a * s @ (ci @ d))
        logs = np.array(logs)
        g = np.exp(logs - logs.max())
        g /= g.sum()
        out[r] = sum(gi * mi for gi, mi in zip(g, means))
    return out


def f64(t):
    return [float(v) for v in torch.as_tensor(t).reshape(-1).tolist()]


# ----------------------------------------------------------------------------------------------
# The configs of INTEROP-diffusers §2.1.

SD_BETAS = {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085}
# The files as shipped (INTEROP-diffusers §2.1), used as they are and as swapped classes.
SD15_FILE = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.17.0.dev0", **SD_BETAS,
             "clip_sample": False, "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.995,
             "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
             "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
             "thresholding": False, "trained_betas": None}
SDXL_FILE = {"_class_name": "EulerDiscreteScheduler", "_diffusers_version": "0.19.0.dev0", **SD_BETAS,
             "clip_sample": False, "interpolation_type": "linear", "num_train_timesteps": 1000,
             "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
             "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
             "trained_betas": None, "use_karras_sigmas": False}
# LTX-Video's scheduler config (Lightricks/LTX-Video, scheduler/scheduler_config.json).
LTX_FILE = {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.32.0.dev0",
            "base_image_seq_len": 1024, "base_shift": 0.95, "invert_sigmas": False, "max_image_seq_len": 4096,
            "max_shift": 2.05, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.1,
            "use_beta_sigmas": False, "use_dynamic_shifting": True, "use_exponential_sigmas": False,
            "use_karras_sigmas": False}
CONFIGS = [
    {
        "id": "sd15",
        "model": "Stable Diffusion 1.5",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": SD15_FILE,
    },
    {
        "id": "sd21v",
        "model": "Stable Diffusion 2.1 (768, v)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SD_BETAS,
                   "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                   "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                   "trained_betas": None},
    },
    {
        "id": "sdxl",
        "model": "SDXL base",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "config": SDXL_FILE,
    },
    {
        "id": "sd3",
        "model": "Stable Diffusion 3",
        "pipeline": {"kind": "sd3"},
        "steps": 8,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0",
                   "num_train_timesteps": 1000, "shift": 3.0},
    },
    {
        "id": "flux_dev",
        "model": "Flux.1-dev",
        "pipeline": {"kind": "flux", "image_seq_len": 4096},
        "steps": 8,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.33.1",
                   "base_image_seq_len": 256, "base_shift": 0.5, "invert_sigmas": False,
                   "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
                   "shift_terminal": None, "time_shift_type": "exponential", "use_beta_sigmas": False,
                   "use_dynamic_shifting": True, "use_exponential_sigmas": False, "use_karras_sigmas": False},
    },
    {
        "id": "flux_schnell",
        "model": "Flux.1-schnell",
        "pipeline": {"kind": "flux", "image_seq_len": 4096},
        "steps": 4,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.30.0.dev0",
                   "base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
                   "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": False},
    },
    {
        "id": "pixart",
        "model": "PixArt-α/Σ",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        # DPMSolverMultistepScheduler() with every default, as the PixArt converters build it.
        "config": {"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.22.0.dev0"},
    },
    {
        "id": "playground25",
        "model": "Playground v2.5",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "EDMDPMSolverMultistepScheduler", "_diffusers_version": "0.27.0.dev0",
                   "algorithm_type": "dpmsolver++", "dynamic_thresholding_ratio": 0.995, "euler_at_final": False,
                   "final_sigmas_type": "zero", "lower_order_final": True, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "rho": 7.0, "sample_max_value": 1.0, "sigma_data": 0.5,
                   "sigma_max": 80.0, "sigma_min": 0.002, "solver_order": 2, "solver_type": "midpoint",
                   "thresholding": False},
    },
    {
        "id": "stable_cascade",
        "model": "Stable Cascade (prior and decoder)",
        "pipeline": {"kind": "stable_cascade"},
        "steps": 10,
        "config": {"_class_name": "DDPMWuerstchenScheduler", "_diffusers_version": "0.26.0.dev0",
                   "s": 0.008, "scaler": 1.0},
    },
    # Variants that exercise more of the loader: other tables, spacings, final levels, shifts.
    {
        "id": "ddim_cos_trailing_zero",
        "model": "variant: DDIM, squaredcos_cap_v2, trailing, set_alpha_to_one, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDIMScheduler", "beta_schedule": "squaredcos_cap_v2", "clip_sample": False,
                   "num_train_timesteps": 1000, "prediction_type": "v_prediction", "set_alpha_to_one": True,
                   "steps_offset": 0, "timestep_spacing": "trailing"},
    },
    {
        "id": "euler_ztsnr_trailing",
        "model": "variant: Euler, zero-terminal-SNR betas, trailing, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "EulerDiscreteScheduler", **SD_BETAS, "num_train_timesteps": 1000,
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "dpm_sde_karras",
        "model": "variant: DPMSolver++ 2M SDE, Karras sigmas, SD betas",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DPMSolverMultistepScheduler", **SD_BETAS, "algorithm_type": "sde-dpmsolver++",
                   "num_train_timesteps": 1000, "prediction_type": "epsilon", "solver_order": 2,
                   "use_karras_sigmas": True},
    },
    {
        "id": "dpm_sde_order3",
        "model": "variant: DPMSolver++ 3M SDE (diffusers' third-order SDE update), Karras sigmas, SD betas",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DPMSolverMultistepScheduler", **SD_BETAS, "algorithm_type": "sde-dpmsolver++",
                   "num_train_timesteps": 1000, "prediction_type": "epsilon", "solver_order": 3,
                   "use_karras_sigmas": True},
    },
    {
        "id": "sd3_dynamic",
        "model": "variant: SD3-style flow with dynamic shifting (μ from 1024 tokens)",
        "pipeline": {"kind": "sd3", "image_seq_len": 1024},
        "steps": 8,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0,
                   "use_dynamic_shifting": True},
    },
    {
        "id": "flow_shift_terminal",
        "model": "variant: flow, shift 2, shift_terminal 0.1",
        "pipeline": {"kind": "sd3"},
        "steps": 8,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 2.0,
                   "shift_terminal": 0.1},
    },
    {
        "id": "flux_dev_512",
        "model": "variant: Flux.1-dev at 512² (1024 tokens)",
        "pipeline": {"kind": "flux", "image_seq_len": 1024},
        "steps": 6,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256, "base_shift": 0.5,
                   "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000, "shift": 3.0,
                   "use_dynamic_shifting": True},
    },
    {
        "id": "sd15_unipc",
        "model": "variant: SD 1.5's config loaded as UniPCMultistepScheduler (the usual swap)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "UniPCMultistepScheduler", "_diffusers_version": "0.17.0.dev0", **SD_BETAS,
                   "clip_sample": False, "clip_sample_range": 1.0, "dynamic_thresholding_ratio": 0.995,
                   "num_train_timesteps": 1000, "prediction_type": "epsilon", "sample_max_value": 1.0,
                   "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                   "thresholding": False, "trained_betas": None},
    },
    {
        "id": "sdxl_turbo_euler_a",
        "model": "variant: SDXL-Turbo-style Euler ancestral, trailing",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "config": {"_class_name": "EulerAncestralDiscreteScheduler", **SD_BETAS, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "trailing"},
    },
    {
        "id": "euler_karras",
        "model": "variant: SDXL's Euler with Karras sigmas (fractional timesteps)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "config": {"_class_name": "EulerDiscreteScheduler", **SD_BETAS, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading",
                   "use_karras_sigmas": True},
    },
    {
        "id": "euler_continuous_v",
        "model": "variant: Euler, v-prediction, continuous timesteps (¼ ln σ), exponential sigmas",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "EulerDiscreteScheduler", **SD_BETAS, "num_train_timesteps": 1000,
                   "prediction_type": "v_prediction", "timestep_spacing": "trailing",
                   "timestep_type": "continuous", "use_exponential_sigmas": True},
    },
    {
        "id": "ddpm_sd",
        "model": "variant: DDPMScheduler on SD's table (leading, steps_offset 1, no clipping)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDPMScheduler", **SD_BETAS, "clip_sample": False, "num_train_timesteps": 1000,
                   "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading",
                   "variance_type": "fixed_small"},
    },
    # Zero-terminal-SNR rescale of diffusers' default *linear* betas: ᾱ_{N−2} (4.2e-9) lies
    # below the 2⁻²⁴ diffusers puts at ᾱ_{N−1}, so σ_{N−1} = 4096 < σ_{N−2} = 15406: the
    # table's σ is not monotone at its end (its `_sigma_to_t` still maps σ_{N−1} to N−1).
    {
        "id": "euler_ztsnr_linear_trailing",
        "model": "variant: Euler, zero-terminal-SNR linear betas (non-monotone σ at the end), trailing, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "EulerDiscreteScheduler", "beta_schedule": "linear",
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "euler_ztsnr_linear_karras",
        "model": "variant: Euler, zero-terminal-SNR linear betas, Karras sigmas (σ → t across the table's end)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "EulerDiscreteScheduler", "beta_schedule": "linear",
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing", "use_karras_sigmas": True},
    },
    {
        "id": "dpm_ztsnr_linear_trailing",
        "model": "variant: DPM-Solver++ 2M, zero-terminal-SNR linear betas, trailing, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DPMSolverMultistepScheduler", "beta_schedule": "linear",
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "unipc_ztsnr_linear_trailing",
        "model": "variant: UniPC bh2, zero-terminal-SNR linear betas, trailing, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "UniPCMultistepScheduler", "beta_schedule": "linear",
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "playground25_sigma_min",
        "model": "variant: Playground v2.5 with final_sigmas_type sigma_min (diffusers' last σ a float32 ulp above the ramp's end)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "EDMDPMSolverMultistepScheduler", "final_sigmas_type": "sigma_min",
                   "sigma_data": 0.5, "sigma_max": 80.0, "sigma_min": 0.002, "solver_order": 2},
    },
    # k-diffusion's samplers as diffusers schedulers (Heun, KDPM2, KDPM2 ancestral, LMS). The
    # first is the swap users make: SD 1.5's PNDM file loaded as Heun (`load_as`), whose
    # missing `timestep_spacing` becomes Heun's own default, linspace.
    {
        "id": "sd15_as_heun",
        "model": "variant: SD 1.5's PNDM config swapped to HeunDiscreteScheduler (from_config)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "load_as": "HeunDiscreteScheduler",
        "config": SD15_FILE,
    },
    {
        "id": "heun_karras_clip_v",
        "model": "variant: Heun, Karras sigmas, leading, v-prediction, clip_sample (x0 clipped on both calls)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 9,
        "config": {"_class_name": "HeunDiscreteScheduler", **SD_BETAS, "clip_sample": True,
                   "clip_sample_range": 1.0, "prediction_type": "v_prediction", "steps_offset": 1,
                   "timestep_spacing": "leading", "use_karras_sigmas": True},
    },
    {
        "id": "kdpm2_leading",
        "model": "variant: KDPM2 on SDXL's Euler config (leading, steps_offset 1)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "KDPM2DiscreteScheduler", **SD_BETAS, "clip_sample": False,
                   "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
                   "sample_max_value": 1.0, "set_alpha_to_one": False, "skip_prk_steps": True,
                   "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
                   "use_karras_sigmas": False},
    },
    {
        "id": "kdpm2_exponential_v",
        "model": "variant: KDPM2, exponential sigmas, v-prediction",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "KDPM2DiscreteScheduler", **SD_BETAS, "prediction_type": "v_prediction",
                   "use_exponential_sigmas": True},
    },
    {
        "id": "kdpm2_ancestral_trailing",
        "model": "variant: KDPM2 ancestral, trailing (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "KDPM2AncestralDiscreteScheduler", **SD_BETAS, "timestep_spacing": "trailing"},
    },
    {
        "id": "lms_leading",
        "model": "variant: LMS (order 4) on SD's table, leading, steps_offset 1",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "config": {"_class_name": "LMSDiscreteScheduler", **SD_BETAS, "steps_offset": 1,
                   "timestep_spacing": "leading"},
    },
    {
        "id": "lms_defaults_karras",
        "model": "variant: LMS with its default betas (linear 0.0001–0.02), Karras sigmas, linspace",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "LMSDiscreteScheduler", "use_karras_sigmas": True},
    },
    # Latent consistency models. The LCM-LoRA recipe swaps SDXL's Euler config to LCM.
    {
        "id": "sdxl_as_lcm",
        "model": "variant: SDXL's Euler config swapped to LCMScheduler (the LCM-LoRA recipe), 4 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "load_as": "LCMScheduler",
        "config": SDXL_FILE,
    },
    {
        "id": "lcm_config",
        "model": "variant: an LCMScheduler config with every field (LCM-distilled SD, 6 steps)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "config": {"_class_name": "LCMScheduler", **SD_BETAS, "clip_sample": False, "clip_sample_range": 1.0,
                   "dynamic_thresholding_ratio": 0.995, "num_train_timesteps": 1000,
                   "original_inference_steps": 50, "prediction_type": "epsilon",
                   "rescale_betas_zero_snr": False, "sample_max_value": 1.0, "set_alpha_to_one": True,
                   "steps_offset": 1, "thresholding": False, "timestep_scaling": 10.0,
                   "timestep_spacing": "leading", "trained_betas": None},
    },
    {
        "id": "lcm_v_clip_scaling",
        "model": "variant: LCM, v-prediction, clip_sample, 30 original steps, timestep_scaling 0.05 (c_skip matters)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "LCMScheduler", "clip_sample": True, "original_inference_steps": 30,
                   "prediction_type": "v_prediction", "timestep_scaling": 0.05},
    },
    # Trajectory consistency distillation: TCD-LoRA's swap of SDXL's config, at the pipeline's
    # default eta (γ = 0.3), and γ = 0.7 with v-prediction.
    {
        "id": "sdxl_as_tcd",
        "model": "variant: SDXL's Euler config swapped to TCDScheduler (TCD-LoRA), 4 steps, eta 0.3",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "load_as": "TCDScheduler",
        "config": SDXL_FILE,
    },
    {
        "id": "tcd_v_gamma07",
        "model": "variant: TCD, v-prediction, 20 original steps, eta 0.7, 6 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "step_kwargs": {"eta": 0.7},
        "config": {"_class_name": "TCDScheduler", "original_inference_steps": 20,
                   "prediction_type": "v_prediction"},
    },
    # EDM's Euler (k-diffusion's euler on EDM sigmas; its Karras ramp is float64).
    {
        "id": "edm_euler",
        "model": "variant: EDMEulerScheduler with its defaults (Karras ρ 7, σ 0.002–80, σ_data 0.5)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "EDMEulerScheduler"},
    },
    {
        "id": "edm_euler_v_sigma_min",
        "model": "variant: EDMEulerScheduler, v-prediction, ρ 5, σ_data 1, final σ the ramp's last",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "EDMEulerScheduler", "final_sigmas_type": "sigma_min",
                   "prediction_type": "v_prediction", "rho": 5.0, "sigma_data": 1.0,
                   "sigma_max": 120.0, "sigma_min": 0.01},
    },
    {
        "id": "edm_euler_exponential",
        "model": "variant: EDMEulerScheduler, exponential sigmas",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "config": {"_class_name": "EDMEulerScheduler", "sigma_schedule": "exponential"},
    },
    # Flow sigmas in the multistep schedulers: Wan-style UniPC and SANA-style DPM-Solver++ configs.
    {
        "id": "wan_unipc_flow",
        "model": "variant: Wan 2.1-style UniPCMultistepScheduler with use_flow_sigmas, flow_shift 3, flow_prediction",
        "pipeline": {"kind": "sd3"},
        "steps": 10,
        "config": {"_class_name": "UniPCMultistepScheduler", "beta_end": 0.02, "beta_schedule": "linear",
                   "beta_start": 0.0001, "disable_corrector": [], "dynamic_thresholding_ratio": 0.995,
                   "final_sigmas_type": "zero", "flow_shift": 3.0, "lower_order_final": True,
                   "num_train_timesteps": 1000, "predict_x0": True, "prediction_type": "flow_prediction",
                   "rescale_betas_zero_snr": False, "sample_max_value": 1.0, "solver_order": 2,
                   "solver_p": None, "solver_type": "bh2", "steps_offset": 0, "thresholding": False,
                   "timestep_spacing": "linspace", "trained_betas": None, "use_beta_sigmas": False,
                   "use_exponential_sigmas": False, "use_flow_sigmas": True, "use_karras_sigmas": False},
    },
    {
        "id": "sana_dpm_flow",
        "model": "variant: SANA-style DPMSolverMultistepScheduler with use_flow_sigmas, flow_shift 3, flow_prediction",
        "pipeline": {"kind": "sd3"},
        "steps": 12,
        "config": {"_class_name": "DPMSolverMultistepScheduler", "algorithm_type": "dpmsolver++",
                   "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001,
                   "euler_at_final": False, "final_sigmas_type": "zero", "flow_shift": 3.0,
                   "lower_order_final": True, "num_train_timesteps": 1000, "prediction_type": "flow_prediction",
                   "solver_order": 2, "solver_type": "midpoint", "timestep_spacing": "linspace",
                   "use_flow_sigmas": True},
    },
    {
        "id": "unipc_flow_sigma_min_terminal",
        "model": "variant: UniPC flow sigmas, bh1 order 3, shift 5, shift_terminal 0.1, final σ the last listed",
        "pipeline": {"kind": "sd3"},
        "steps": 8,
        "config": {"_class_name": "UniPCMultistepScheduler", "final_sigmas_type": "sigma_min", "flow_shift": 5.0,
                   "prediction_type": "flow_prediction", "shift_terminal": 0.1, "solver_order": 3,
                   "solver_type": "bh1", "use_flow_sigmas": True},
    },
    {
        "id": "dpm_flow_sigma_min_3",
        "model": "variant: DPM-Solver++ 3 with flow sigmas, final σ the table's VE σ_0 (diffusers' quirk), shift 2",
        "pipeline": {"kind": "sd3"},
        "steps": 9,
        "config": {"_class_name": "DPMSolverMultistepScheduler", "final_sigmas_type": "sigma_min", "flow_shift": 2.0,
                   "prediction_type": "flow_prediction", "solver_order": 3, "use_flow_sigmas": True},
    },
    # Zero terminal SNR in DDIM and DDPM (Lin et al.'s recipe: rescaled betas, trailing, v): DDIM's
    # table ends at ᾱ = 0, the first level is pure noise.
    {
        "id": "sd21v_ddim_ztsnr_trailing",
        "model": "variant: SD 2.1's DDIM config with rescale_betas_zero_snr and trailing spacing (Lin et al.)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SD_BETAS,
                   "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                   "rescale_betas_zero_snr": True, "set_alpha_to_one": False, "skip_prk_steps": True,
                   "steps_offset": 1, "timestep_spacing": "trailing", "trained_betas": None},
    },
    {
        "id": "ddim_ztsnr_clip",
        "model": "variant: DDIM defaults (clip_sample on) with zero-terminal-SNR linear betas, trailing, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DDIMScheduler", "prediction_type": "v_prediction",
                   "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
    },
    {
        "id": "ddpm_ztsnr_trailing_v",
        "model": "variant: DDPM, zero-terminal-SNR SD betas, trailing, v (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "config": {"_class_name": "DDPMScheduler", **SD_BETAS, "clip_sample": False,
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "ddim_ztsnr_leading_eps",
        "model": "variant: DDIM, zero-terminal-SNR SD betas, leading + offset 1, ε (first level above ᾱ = 0)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDIMScheduler", **SD_BETAS, "clip_sample": False,
                   "rescale_betas_zero_snr": True, "set_alpha_to_one": False, "steps_offset": 1,
                   "timestep_spacing": "leading"},
    },
    # Heun in flow coordinates: SD3's file swapped to FlowMatchHeunDiscreteScheduler.
    {
        "id": "sd3_as_flow_heun",
        "model": "variant: SD3's config swapped to FlowMatchHeunDiscreteScheduler (shift 3), 8 steps",
        "pipeline": {"kind": "sd3"},
        "steps": 8,
        "load_as": "FlowMatchHeunDiscreteScheduler",
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0",
                   "num_train_timesteps": 1000, "shift": 3.0},
    },
    # Custom timestep lists: Align Your Steps' SDXL ladder (Sabour et al.) under Euler (SDXL's
    # own file), DPM-Solver++ (the swap its authors recommend) and DDPM; a hand-made LCM list.
    {
        "id": "sdxl_ays_euler",
        "model": "variant: SDXL with Align Your Steps' 10-step timesteps (custom list)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "timesteps": [999, 845, 730, 587, 443, 310, 193, 116, 53, 13],
        "config": SDXL_FILE,
    },
    {
        "id": "sdxl_ays_dpm",
        "model": "variant: SDXL's file swapped to DPMSolverMultistep with Align Your Steps' timesteps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "timesteps": [999, 845, 730, 587, 443, 310, 193, 116, 53, 13],
        "load_as": "DPMSolverMultistepScheduler",
        "config": SDXL_FILE,
    },
    {
        "id": "ddpm_custom",
        "model": "variant: DDPM with a custom timestep list (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 5,
        "timesteps": [900, 700, 400, 100, 5],
        "config": {"_class_name": "DDPMScheduler", **SD_BETAS, "clip_sample": False},
    },
    {
        "id": "heun_custom_fractional",
        "model": "variant: Heun with a custom list of fractional timesteps, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "timesteps": [950.5, 700.25, 333.0, 40.75],
        "config": {"_class_name": "HeunDiscreteScheduler", **SD_BETAS, "prediction_type": "v_prediction"},
    },
    {
        "id": "lcm_custom",
        "model": "variant: LCM with a custom timestep list",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 3,
        "timesteps": [999, 499, 119],
        "config": {"_class_name": "LCMScheduler"},
    },
    # Custom σ lists: Align Your Steps' SDXL sigmas under SDXL's Euler, a hand-made SD3 list and
    # a Wan-style UniPC list (both shifted as configured).
    {
        "id": "sdxl_ays_sigmas",
        "model": "variant: SDXL with Align Your Steps' 10-step sigmas (custom σ list, final 0)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 11,
        "sigmas": [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029, 0.0],
        "config": SDXL_FILE,
    },
    {
        "id": "sd3_custom_sigmas",
        "model": "variant: SD3 with a custom flow σ list (shift 3 applied to it)",
        "pipeline": {"kind": "sd3"},
        "steps": 6,
        "sigmas": [1.0, 0.9, 0.7, 0.45, 0.2, 0.05],
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0",
                   "num_train_timesteps": 1000, "shift": 3.0},
    },
    {
        "id": "wan_unipc_custom_sigmas",
        "model": "variant: UniPC with flow sigmas and a custom σ list (shift 3, first σ moved in by 1e-6)",
        "pipeline": {"kind": "sd3"},
        "steps": 5,
        "sigmas": [1.0, 0.8, 0.55, 0.3, 0.1],
        "config": {"_class_name": "UniPCMultistepScheduler", "flow_shift": 3.0,
                   "prediction_type": "flow_prediction", "use_flow_sigmas": True},
    },
    # DPMSolverSinglestepScheduler: order groups 1-2(-3), updates from each group's start.
    {
        "id": "dpm_single_default",
        "model": "variant: DPMSolverSinglestepScheduler with every default (order 2, midpoint)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DPMSolverSinglestepScheduler"},
    },
    {
        "id": "dpm_single_order3_heun",
        "model": "variant: DPMSolverSinglestep order 3, heun, SD betas, 8 steps (groups 1-2-3, 1-2-3, 1, 1)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DPMSolverSinglestepScheduler", **SD_BETAS, "solver_order": 3,
                   "solver_type": "heun"},
    },
    {
        "id": "dpm_single_order3_karras_v",
        "model": "variant: DPMSolverSinglestep order 3, midpoint, Karras sigmas, v, final σ_min, whole groups",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 9,
        "config": {"_class_name": "DPMSolverSinglestepScheduler", **SD_BETAS, "solver_order": 3,
                   "use_karras_sigmas": True, "prediction_type": "v_prediction",
                   "final_sigmas_type": "sigma_min", "lower_order_final": False},
    },
    {
        "id": "dpm_single_sde",
        "model": "variant: DPMSolverSinglestep sde-dpmsolver++, order 2, SD betas (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "DPMSolverSinglestepScheduler", **SD_BETAS,
                   "algorithm_type": "sde-dpmsolver++"},
    },
    {
        "id": "dpm_single_sde_heun3",
        "model": "variant: DPMSolverSinglestep sde-dpmsolver++, order 3, heun, final σ_min (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 9,
        "config": {"_class_name": "DPMSolverSinglestepScheduler", **SD_BETAS, "solver_order": 3,
                   "algorithm_type": "sde-dpmsolver++", "solver_type": "heun",
                   "final_sigmas_type": "sigma_min", "lower_order_final": False},
    },
    {
        "id": "sd15_as_dpm_single",
        "model": "variant: SD 1.5's file swapped to DPMSolverSinglestepScheduler",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "load_as": "DPMSolverSinglestepScheduler",
        "config": SD15_FILE,
    },
    {
        "id": "dpm_single_custom",
        "model": "variant: DPMSolverSinglestep with a custom timestep list",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "timesteps": [999, 800, 600, 420, 250, 100, 20],
        "config": {"_class_name": "DPMSolverSinglestepScheduler", **SD_BETAS},
    },
    # FlowMatchLCMScheduler: flow-matching Euler's grid, x' = (1 − σ')·x0 + σ'·n each step.
    {
        "id": "sd3_as_flow_lcm",
        "model": "variant: SD3's file swapped to FlowMatchLCMScheduler (recorded noise)",
        "pipeline": {"kind": "sd3"},
        "steps": 6,
        "load_as": "FlowMatchLCMScheduler",
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0",
                   "num_train_timesteps": 1000, "shift": 3.0},
    },
    {
        "id": "flux_flow_lcm",
        "model": "variant: FlowMatchLCMScheduler with Flux's dynamic shifting at 1024² (recorded noise)",
        "pipeline": {"kind": "flux", "image_seq_len": 4096},
        "steps": 4,
        "config": {"_class_name": "FlowMatchLCMScheduler", "base_image_seq_len": 256, "base_shift": 0.5,
                   "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000,
                   "shift": 3.0, "use_dynamic_shifting": True},
    },
    # DEISMultistepScheduler: log-ρ Adams–Bashforth on noise estimates, UniPC's grid to σ_min.
    {
        "id": "deis_default",
        "model": "variant: DEISMultistepScheduler with every default (order 2, linspace)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DEISMultistepScheduler"},
    },
    {
        "id": "deis_order3_leading",
        "model": "variant: DEIS order 3, SD betas, leading + offset, 16 steps (no lower-order end)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 16,
        "config": {"_class_name": "DEISMultistepScheduler", **SD_BETAS, "solver_order": 3,
                   "timestep_spacing": "leading", "steps_offset": 1},
    },
    {
        "id": "deis_order3_karras_v",
        "model": "variant: DEIS order 3, Karras sigmas (a zero-length last step at σ_min), v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DEISMultistepScheduler", **SD_BETAS, "solver_order": 3,
                   "use_karras_sigmas": True, "prediction_type": "v_prediction"},
    },
    {
        "id": "deis_trailing_order1",
        "model": "variant: DEIS order 1 (DDIM on noise estimates), trailing",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "config": {"_class_name": "DEISMultistepScheduler", **SD_BETAS, "solver_order": 1,
                   "timestep_spacing": "trailing"},
    },
    {
        "id": "sdxl_as_deis",
        "model": "variant: SDXL's file swapped to DEISMultistepScheduler",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "load_as": "DEISMultistepScheduler",
        "config": SDXL_FILE,
    },
    # DPMSolverSDEScheduler: k-diffusion's DPM++ SDE (two draws per step, recorded).
    {
        "id": "dpm_sde_sched",
        "model": "variant: DPMSolverSDEScheduler with its defaults (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 6,
        "config": {"_class_name": "DPMSolverSDEScheduler"},
    },
    {
        "id": "sdxl_as_dpm_sde_karras",
        "model": "variant: SDXL's file swapped to DPMSolverSDEScheduler with Karras sigmas (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "load_as": "DPMSolverSDEScheduler",
        "config": {**SDXL_FILE, "use_karras_sigmas": True},
    },
    {
        "id": "dpm_sde_sched_v_trailing",
        "model": "variant: DPMSolverSDEScheduler, v, trailing, SD betas (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 5,
        "config": {"_class_name": "DPMSolverSDEScheduler", **SD_BETAS, "prediction_type": "v_prediction",
                   "timestep_spacing": "trailing"},
    },
    # CogVideoXDDIMScheduler: DDIM over SD's β's in float64, SNR-shifted, zero terminal SNR.
    {
        "id": "cogvideox_2b",
        "model": "CogVideoX-2b (CogVideoXDDIMScheduler: snr_shift_scale 3, zero terminal SNR, trailing, v)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "CogVideoXDDIMScheduler", "_diffusers_version": "0.30.0.dev0",
                   "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                   "clip_sample": False, "clip_sample_range": 1.0, "num_train_timesteps": 1000,
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "sample_max_value": 1.0,
                   "set_alpha_to_one": True, "snr_shift_scale": 3.0, "steps_offset": 0,
                   "timestep_spacing": "trailing", "trained_betas": None},
    },
    {
        "id": "cogvideox_ddim_linear_shift2",
        "model": "variant: CogVideoXDDIMScheduler over float32 linear β's, snr_shift_scale 2, leading, ε",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "CogVideoXDDIMScheduler", "beta_schedule": "linear", "beta_start": 0.0001,
                   "beta_end": 0.02, "snr_shift_scale": 2.0, "prediction_type": "epsilon",
                   "set_alpha_to_one": False, "steps_offset": 1},
    },
    {
        "id": "cogvideox_5b",
        "model": "CogVideoX-5b (CogVideoXDPMScheduler: DPM++ 2M SDE, snr_shift_scale 1, zero terminal SNR, "
                 "trailing, v; recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "CogVideoXDPMScheduler", "_diffusers_version": "0.31.0.dev0",
                   "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                   "clip_sample": False, "clip_sample_range": 1.0, "num_train_timesteps": 1000,
                   "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "sample_max_value": 1.0,
                   "set_alpha_to_one": True, "snr_shift_scale": 1.0, "steps_offset": 0,
                   "timestep_spacing": "trailing", "trained_betas": None},
    },
    {
        "id": "cogvideox_dpm_leading_sigma_min",
        "model": "variant: CogVideoXDPMScheduler, leading, set_alpha_to_one false (a first-order last "
                 "step to ᾱ_0), ε, shift 3 (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 7,
        "config": {"_class_name": "CogVideoXDPMScheduler", "snr_shift_scale": 3.0, "prediction_type": "epsilon",
                   "set_alpha_to_one": False, "steps_offset": 1, "timestep_spacing": "leading"},
    },
    # CosineDPMSolverMultistepScheduler (Stable Audio Open): EDM preconditioning, c_noise =
    # atan(σ)·2/π, SDE-DPM-Solver++ on a Brownian tree (its draws recorded).
    {
        "id": "stable_audio_open",
        "model": "Stable Audio Open 1.0 (CosineDPMSolverMultistepScheduler; recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "CosineDPMSolverMultistepScheduler", "_diffusers_version": "0.30.0.dev0",
                   "euler_at_final": False, "final_sigmas_type": "zero", "lower_order_final": True,
                   "num_train_timesteps": 1000, "prediction_type": "v_prediction", "rho": 7.0,
                   "sigma_data": 1.0, "sigma_max": 500.0, "sigma_min": 0.3, "sigma_schedule": "exponential",
                   "solver_order": 2, "solver_type": "midpoint"},
    },
    {
        "id": "cosine_dpm_karras_heun",
        "model": "variant: CosineDPMSolverMultistepScheduler, Karras, heun, σ_data 0.5, ε (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "CosineDPMSolverMultistepScheduler", "sigma_schedule": "karras",
                   "solver_type": "heun", "sigma_data": 0.5, "prediction_type": "epsilon",
                   "sigma_max": 80.0, "sigma_min": 0.05},
    },
    # SASolverScheduler: stochastic Adams predictor-corrector, τ = 1 on training steps 200…800.
    {
        "id": "sa_solver_default",
        "model": "variant: SASolverScheduler with every default (orders 2/2; recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "SASolverScheduler"},
    },
    {
        "id": "sa_solver_p3_c4_leading",
        "model": "variant: SASolver predictor 3, corrector 4, SD betas, leading + offset, 16 steps (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 16,
        "config": {"_class_name": "SASolverScheduler", **SD_BETAS, "predictor_order": 3, "corrector_order": 4,
                   "timestep_spacing": "leading", "steps_offset": 1},
    },
    {
        "id": "sa_solver_karras_v_p1",
        "model": "variant: SASolver predictor 1, corrector 3, Karras sigmas, v (recorded noise)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "SASolverScheduler", **SD_BETAS, "predictor_order": 1, "corrector_order": 3,
                   "use_karras_sigmas": True, "prediction_type": "v_prediction"},
    },
    # PNDMScheduler itself (PLMS: a two-evaluation first step, then Adams–Bashforth 2–4 on the
    # raw outputs): one-, two- and three-step runs (one step is DDIM; the two-step run repeats
    # its last timestep), a trailing run to ᾱ = 1, and SD 2.1's v-prediction config as PNDM
    # (diffusers combines the v's, not ε's).
    {
        "id": "sd15_plms_1",
        "model": "variant: SD 1.5's PNDM config, 1 step (DDIM)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 1,
        "config": SD15_FILE,
    },
    {
        "id": "sd15_plms_2",
        "model": "variant: SD 1.5's PNDM config, 2 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 2,
        "config": SD15_FILE,
    },
    {
        "id": "sd15_plms_3",
        "model": "variant: SD 1.5's PNDM config, 3 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 3,
        "config": SD15_FILE,
    },
    {
        "id": "plms_trailing_alpha_one",
        "model": "variant: PNDM, trailing spacing, set_alpha_to_one, 20 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 20,
        "config": {**SD15_FILE, "timestep_spacing": "trailing", "steps_offset": 0, "set_alpha_to_one": True},
    },
    {
        "id": "sd21v_as_pndm",
        "model": "variant: SD 2.1's v-prediction config swapped to PNDMScheduler (from_config)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "load_as": "PNDMScheduler",
        "config": {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SD_BETAS,
                   "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                   "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                   "trained_betas": None},
    },
    # IPNDMScheduler (Dance Diffusion, harmonai's v-diffusion audio models): the "crash"
    # grid b = sin²(π·s/2), a = sqrt(1 − b²) over s = linspace(1, 0, n+1) in float32, the model
    # (a v-prediction) given t = atan2(b, a)·2/π, Adams–Bashforth 1–4 on ε.
    {
        "id": "dance_diffusion",
        "model": "Dance Diffusion (harmonai/maestro-150k)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "IPNDMScheduler", "_diffusers_version": "0.8.0.dev0",
                   "num_train_timesteps": 1000},
    },
    {
        "id": "ipndm_25",
        "model": "variant: IPNDMScheduler, 25 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 25,
        "config": {"_class_name": "IPNDMScheduler"},
    },
    {
        "id": "ipndm_1",
        "model": "variant: IPNDMScheduler, 1 step",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 1,
        "config": {"_class_name": "IPNDMScheduler"},
    },
    {
        "id": "ipndm_3",
        "model": "variant: IPNDMScheduler, 3 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 3,
        "config": {"_class_name": "IPNDMScheduler"},
    },
    # PNDM's Runge-Kutta warm-up (`skip_prk_steps = false`, the class's default): PNDMScheduler()
    # with its own defaults at 10 steps, at its minimum of 4, and SD 1.5's file with the
    # warm-up and v-prediction at 12 (r = 83: midpoints t' + 41).
    {
        "id": "pndm_prk_defaults",
        "model": "variant: PNDMScheduler's own defaults (Runge-Kutta warm-up), 10 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "PNDMScheduler"},
    },
    {
        "id": "pndm_prk_4",
        "model": "variant: PNDMScheduler's own defaults, 4 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "config": {"_class_name": "PNDMScheduler"},
    },
    {
        "id": "pndm_prk_v_leading",
        "model": "variant: SD 1.5's file with the Runge-Kutta warm-up and v, 12 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 12,
        "config": {**SD15_FILE, "skip_prk_steps": False, "prediction_type": "v_prediction"},
    },
    # LTXEulerAncestralRFScheduler (LTX-Video's, ComfyUI's euler_ancestral_RF step) over LTX's
    # flow-matching config (dynamic shifting, shift_terminal 0.1): swapped in with its defaults
    # (eta 1), with eta 0.5 / s_noise 0.8, and with eta 0 (flow Euler, no draws).
    {
        "id": "ltx_euler_ancestral_rf",
        "model": "LTX-Video (LTXEulerAncestralRFScheduler swapped in)",
        "pipeline": {"kind": "sd3", "image_seq_len": 2048},
        "steps": 12,
        "load_as": "LTXEulerAncestralRFScheduler",
        "config": LTX_FILE,
    },
    {
        "id": "ltx_rf_eta05",
        "model": "variant: LTXEulerAncestralRFScheduler, eta 0.5, s_noise 0.8",
        "pipeline": {"kind": "sd3", "image_seq_len": 1024},
        "steps": 8,
        "config": {**LTX_FILE, "_class_name": "LTXEulerAncestralRFScheduler", "eta": 0.5, "s_noise": 0.8},
    },
    {
        "id": "ltx_rf_eta0",
        "model": "variant: LTXEulerAncestralRFScheduler, eta 0",
        "pipeline": {"kind": "sd3", "image_seq_len": 4096},
        "steps": 6,
        "config": {**LTX_FILE, "_class_name": "LTXEulerAncestralRFScheduler", "eta": 0.0},
    },
    # The Parallel variants of DDIM and DDPM (ParaDiGMS): the same fields and `step`.
    {
        "id": "sd21v_as_ddim_parallel",
        "model": "variant: SD 2.1's v config swapped to DDIMParallelScheduler (from_config)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "load_as": "DDIMParallelScheduler",
        "config": {"_class_name": "DDIMScheduler", "_diffusers_version": "0.8.0", **SD_BETAS,
                   "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
                   "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
                   "trained_betas": None},
    },
    {
        "id": "ddpm_parallel_sd",
        "model": "variant: DDPMParallelScheduler with SD's betas, trailing",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": {"_class_name": "DDPMParallelScheduler", **SD_BETAS, "timestep_spacing": "trailing",
                   "clip_sample": False},
    },
    # FlowMapEulerDiscreteScheduler (AnyFlow's flow-map models; its network also takes the next
    # level's timestep): float64 flow sigmas, shifted; Euler along the predicted velocity.
    {
        "id": "anyflow_flow_map",
        "model": "AnyFlow (FlowMapEulerDiscreteScheduler, shift 5)",
        "pipeline": {"kind": "sd3"},
        "steps": 4,
        "config": {"_class_name": "FlowMapEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 5.0},
    },
    {
        "id": "flow_map_unshifted_8",
        "model": "variant: FlowMapEulerDiscreteScheduler, shift 1, 8 steps",
        "pipeline": {"kind": "sd3"},
        "steps": 8,
        "config": {"_class_name": "FlowMapEulerDiscreteScheduler"},
    },
    {
        "id": "flow_map_custom_sigmas",
        "model": "variant: FlowMapEulerDiscreteScheduler, shift 3, a custom σ list",
        "pipeline": {"kind": "sd3"},
        "steps": 3,
        "sigmas": [1.0, 0.6, 0.2],
        "config": {"_class_name": "FlowMapEulerDiscreteScheduler", "shift": 3.0},
    },
    # MiniMaxH3Scheduler (MiniMax-H3): flow Euler with the velocity toward the data; its
    # `set_timesteps(m)` counts levels (`steps` here is the step count, m − 1).
    {
        "id": "minimax_h3_video",
        "model": "MiniMax-H3 (video latents): MiniMaxH3Scheduler with shift 12",
        "pipeline": {"kind": "sd3"},
        "steps": 12,
        "config": {"_class_name": "MiniMaxH3Scheduler", "_diffusers_version": "0.42.1", "shift": 12.0},
    },
    {
        "id": "minimax_h3_audio",
        "model": "variant: MiniMaxH3Scheduler with shift 3 (MiniMax-H3's audio latents), 7 steps",
        "pipeline": {"kind": "sd3"},
        "steps": 7,
        "config": {"_class_name": "MiniMaxH3Scheduler", "shift": 3.0},
    },
    {
        "id": "minimax_h3_custom_sigmas",
        "model": "variant: MiniMaxH3Scheduler, a custom σ list (unshifted, ending at 0)",
        "pipeline": {"kind": "sd3"},
        "steps": 4,
        "sigmas": [1.0, 0.8, 0.45, 0.1, 0.0],
        "config": {"_class_name": "MiniMaxH3Scheduler"},
    },
    # Mochi (genmo/mochi-1-preview): FlowMatchEulerDiscreteScheduler with invert_sigmas and
    # the pipeline's linear-quadratic sigmas (threshold_noise 0.025); its transformer takes
    # σ·1000 of the inverted σ and predicts x0 − ε.
    {
        "id": "mochi",
        "model": "Mochi 1 preview (genmo/mochi-1-preview): FlowMatchEulerDiscreteScheduler with invert_sigmas, the pipeline's linear-quadratic sigmas",
        "pipeline": {"kind": "mochi", "threshold_noise": 0.025, "linear_steps": None},
        "steps": 12,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.32.0.dev0",
                   "base_image_seq_len": 256, "base_shift": 0.5, "invert_sigmas": True,
                   "max_image_seq_len": 4096, "max_shift": 1.15, "num_train_timesteps": 1000,
                   "shift": 1.0, "use_dynamic_shifting": False},
    },
    {
        "id": "mochi_shift3_linear5",
        "model": "variant: Mochi's scheduler with shift 3, threshold_noise 0.05, 5 linear steps of 9",
        "pipeline": {"kind": "mochi", "threshold_noise": 0.05, "linear_steps": 5},
        "steps": 9,
        "config": {"_class_name": "FlowMatchEulerDiscreteScheduler", "invert_sigmas": True, "shift": 3.0},
    },
    # SCMScheduler (SANA-Sprint, sCM's TrigFlow): the pipeline's angles (max_timesteps,
    # intermediate_timesteps); the flow transformer's velocity is converted to TrigFlow's F as
    # `SanaSprintPipeline` does.
    {
        "id": "sana_sprint",
        "model": "SANA-Sprint 1.6B (Efficient-Large-Model/Sana_Sprint_1.6B_1024px_diffusers): SCMScheduler, the pipeline's defaults (2 steps, angles 1.5708, 1.3, 0)",
        "pipeline": {"kind": "sana_sprint", "max_timesteps": 1.5708, "intermediate_timesteps": 1.3},
        "steps": 2,
        "config": {"_class_name": "SCMScheduler", "_diffusers_version": "0.33.0.dev0",
                   "num_train_timesteps": 1000, "prediction_type": "trigflow", "sigma_data": 0.5},
    },
    {
        "id": "scm_4_steps",
        "model": "variant: SCMScheduler, 4 steps of linspace(1.5708, 0, 5) (no intermediate angle)",
        "pipeline": {"kind": "sana_sprint", "max_timesteps": 1.5708, "intermediate_timesteps": None},
        "steps": 4,
        "config": {"_class_name": "SCMScheduler"},
    },
    {
        "id": "scm_1_step_max_1_5",
        "model": "variant: SCMScheduler, 1 step from the angle 1.5, sigma_data 1",
        "pipeline": {"kind": "sana_sprint", "max_timesteps": 1.5, "intermediate_timesteps": None},
        "steps": 1,
        "config": {"_class_name": "SCMScheduler", "sigma_data": 1.0},
    },
    {
        "id": "scm_custom_angles",
        "model": "variant: SCMScheduler, custom angles",
        "pipeline": {"kind": "sana_sprint", "max_timesteps": None, "intermediate_timesteps": None},
        "steps": 3,
        "timesteps": [1.55, 1.1, 0.6, 0.0],
        "config": {"_class_name": "SCMScheduler"},
    },
    # CMStochasticIterativeScheduler (consistency models, ConsistencyModelPipeline): its
    # defaults are the ImageNet-64 distillation's (40 training steps, Karras 0.002–80, ρ 7,
    # σ_d 0.5, clip_denoised); the mixture reaches past ±1, so the clamp acts.
    {
        "id": "cm_one_step",
        "model": "variant: CMStochasticIterativeScheduler with its defaults, one step (onestep sampling)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 1,
        "config": {"_class_name": "CMStochasticIterativeScheduler"},
    },
    {
        "id": "cm_timesteps_22_0",
        "model": "variant: CMStochasticIterativeScheduler with its defaults, the pipeline docs' multistep timesteps [22, 0]",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 2,
        "timesteps": [22, 0],
        "config": {"_class_name": "CMStochasticIterativeScheduler"},
    },
    {
        "id": "cm_20_steps_no_clip_s_noise",
        "model": "variant: CMStochasticIterativeScheduler, 20 steps, clip_denoised false, s_noise 1.007, sigma_data 1",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 20,
        "config": {"_class_name": "CMStochasticIterativeScheduler", "clip_denoised": False,
                   "s_noise": 1.007, "sigma_data": 1.0},
    },
    {
        "id": "cm_201_custom",
        "model": "variant: CMStochasticIterativeScheduler, 201 training steps, Karras 0.01–40 ρ 5, custom timesteps [150, 80, 30, 0]",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 4,
        "timesteps": [150, 80, 30, 0],
        "config": {"_class_name": "CMStochasticIterativeScheduler", "num_train_timesteps": 201,
                   "sigma_min": 0.01, "sigma_max": 40.0, "rho": 5.0},
    },
    # DPMSolverMultistepInverseScheduler (DPM-Solver++ inversion): the run starts from the
    # (here random) latents at the clean end and walks toward noise; the model takes the
    # timestep of the level each step starts from.
    {
        "id": "dpm_inverse_sd15",
        "model": "Stable Diffusion 1.5's file as DPMSolverMultistepInverseScheduler (DiffEdit-style inversion), 10 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 10,
        "config": SD15_FILE,
        "load_as": "DPMSolverMultistepInverseScheduler",
    },
    {
        "id": "dpm_inverse_defaults_20",
        "model": "variant: DPMSolverMultistepInverseScheduler with its defaults, 20 steps (second order to the end)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 20,
        "config": {"_class_name": "DPMSolverMultistepInverseScheduler"},
    },
    {
        "id": "dpm_inverse_order3_heun_leading_v",
        "model": "variant: DPMSolverMultistepInverseScheduler, order 3, heun, leading + offset 1, scaled-linear, v",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 16,
        "config": {"_class_name": "DPMSolverMultistepInverseScheduler", "solver_order": 3,
                   "solver_type": "heun", "timestep_spacing": "leading", "steps_offset": 1,
                   "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                   "prediction_type": "v_prediction"},
    },
    {
        "id": "dpm_inverse_trailing",
        "model": "variant: DPMSolverMultistepInverseScheduler, trailing (its last step has zero length: the list reaches T − 1)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 8,
        "config": {"_class_name": "DPMSolverMultistepInverseScheduler", "timestep_spacing": "trailing"},
    },
    {
        "id": "dpm_inverse_trailing_order3_nan",
        "model": "variant: DPMSolverMultistepInverseScheduler, trailing at order 3 and 16 steps: diffusers' zero-length last step returns NaN (listed; gdf keeps the sample)",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 16,
        "config": {"_class_name": "DPMSolverMultistepInverseScheduler", "timestep_spacing": "trailing",
                   "solver_order": 3},
    },
    {
        "id": "dpm_inverse_clipped_euler_at_final",
        "model": "variant: DPMSolverMultistepInverseScheduler, lambda_min_clipped -3 (stops short of pure noise), euler_at_final, 20 steps",
        "pipeline": {"kind": "stable_diffusion"},
        "steps": 20,
        "config": {"_class_name": "DPMSolverMultistepInverseScheduler", "lambda_min_clipped": -3.0,
                   "euler_at_final": True},
    },
]

CLASSES = {c.__name__: c for c in [DDIMScheduler, DDPMScheduler, DDIMParallelScheduler, DDPMParallelScheduler, DDPMWuerstchenScheduler, DEISMultistepScheduler,
                                   CogVideoXDDIMScheduler, CogVideoXDPMScheduler,
                                   CosineDPMSolverMultistepScheduler, SASolverScheduler,
                                   DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                                   DPMSolverSDEScheduler,
                                   EDMDPMSolverMultistepScheduler,
                                   EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                                   FlowMatchEulerDiscreteScheduler, PNDMScheduler,
                                   UniPCMultistepScheduler, HeunDiscreteScheduler,
                                   KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler,
                                   LMSDiscreteScheduler, LCMScheduler, TCDScheduler,
                                   EDMEulerScheduler, FlowMatchHeunDiscreteScheduler,
                                   FlowMatchLCMScheduler, IPNDMScheduler,
                                   LTXEulerAncestralRFScheduler, FlowMapEulerDiscreteScheduler,
                                   SCMScheduler, MiniMaxH3Scheduler, CMStochasticIterativeScheduler,
                                   DPMSolverMultistepInverseScheduler]}
# Two-stage schedulers: `2N − 1` calls of `step` over interleaved timesteps.
TWO_STAGE = ("HeunDiscreteScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
             "FlowMatchHeunDiscreteScheduler", "DPMSolverSDEScheduler")


MOCHI_PIPELINE = "pipelines/mochi/pipeline_mochi.py"


def pipeline_function(rel_path, name, ns=None):
    """diffusers' own function `name`, compiled out of the installed pipeline file `rel_path`
    (under the diffusers package) by its syntax tree: the pipeline modules import transformers
    at their top, which this environment does not have, and these functions read nothing of
    the module. Returns the function and the file's sha256 (recorded with the cases); `ns`
    holds the names the function uses."""
    import ast
    import hashlib
    path = os.path.join(os.path.dirname(diffusers.__file__), rel_path)
    src = open(path, encoding="utf-8").read()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            ns = dict(ns or {})
            exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), ns)
            return ns[name], hashlib.sha256(src.encode()).hexdigest()
    raise RuntimeError(f"{name} not found in {path}")


def calculate_shift(seq, c):
    """The Flux pipeline's μ(image_seq_len) (pipeline_flux.py), same arithmetic."""
    m = (c.get("max_shift", 1.15) - c.get("base_shift", 0.5)) / (
        c.get("max_image_seq_len", 4096) - c.get("base_image_seq_len", 256))
    b = c.get("base_shift", 0.5) - m * c.get("base_image_seq_len", 256)
    return seq * m + b


def build(case):
    cfg = {k: v for k, v in case["config"].items() if not k.startswith("_")}
    cls = CLASSES[case["config"]["_class_name"]]
    note = None
    if "load_as" in case:
        # The swap users make: `Other.from_config(pipe.scheduler.config)`, where the in-memory
        # config of the shipped class lists the fields the file left at their defaults
        # (`_use_default_values`), which the new class drops.
        return CLASSES[case["load_as"]].from_config(cls.from_config(cfg).config), note
    # from_config, as pipelines load a scheduler: keys another scheduler class owns are ignored.
    return cls.from_config(cfg), note


def frame(case, s):
    """Per-level reference values and the pipeline ↔ gdf frame conversion."""
    kind = type(s).__name__
    n = case["steps"]
    out = {}
    if kind in ("DDIMScheduler", "DDPMScheduler", "LCMScheduler", "TCDScheduler", "CogVideoXDDIMScheduler",
                "CogVideoXDPMScheduler", "PNDMScheduler", "DDIMParallelScheduler", "DDPMParallelScheduler"):
        ts = [int(t) for t in s.timesteps.tolist()]
        if kind == "PNDMScheduler":
            # The levels are DDIM's (PNDM's own ascending `_timesteps`, reversed); the model
            # calls are more: PLMS evaluates its second timestep twice (the first step's two
            # evaluations), the Runge-Kutta warm-up four times per step at t, t' + r//2 (twice)
            # and t'.
            out["eval_timesteps"] = [float(t) for t in ts]
            ts = [int(t) for t in s._timesteps[::-1]]
        ratio = s.config.num_train_timesteps // n
        ac = [float(s.alphas_cumprod[t]) for t in ts]
        # DDIM steps to t − ratio (its final_alpha_cumprod below 0); DDPM's previous_timestep
        # is the next one in its list, and −1 (ᾱ = 1, `self.one`) after the last. LCM and TCD
        # renoise to the next listed timestep; LCM's last returns the denoised sample (ᾱ = 1),
        # TCD's stops at training step 0 (its `prev_timestep` after the last).
        if kind in ("DDIMScheduler", "CogVideoXDDIMScheduler", "CogVideoXDPMScheduler", "PNDMScheduler",
                    "DDIMParallelScheduler"):
            prev, final = ts[-1] - ratio, float(s.final_alpha_cumprod)
        else:
            prev, final = (0 if kind == "TCDScheduler" else -1), 1.0
        ac.append(float(s.alphas_cumprod[prev]) if prev >= 0 else final)
        out.update(timesteps=[float(t) for t in ts], alphas_cumprod=ac,
                   a=[math.sqrt(v) for v in ac], b=[math.sqrt(1 - v) for v in ac],
                   model_timestep=[float(t) for t in ts])
        out["scale"] = [1.0] * (n + 1)  # pipeline latent = scale · gdf x
    elif kind in TWO_STAGE:
        # The N + 1 levels: σ's are [σ0, σ1, σ1, …, σ_{N−1}, σ_{N−1}, 0(, 0, 0)], the timesteps
        # [t0, t1, t1, …] (Heun) or [t0, m1, t1, m2, t2, …] (KDPM2, m the midpoints').
        sig_all, ts_all = f64(s.sigmas), f64(s.timesteps)
        assert len(ts_all) == 2 * n - 1, (kind, len(ts_all))
        assert all(sig_all[2 * k - 1] == sig_all[2 * k] for k in range(1, n)), sig_all
        sig = [sig_all[0]] + sig_all[1:2 * n - 1:2] + [sig_all[-1]]
        ts = ts_all[0::2]
        assert len(sig) == n + 1 and sig[-1] == 0.0 and len(ts) == n
        if kind == "FlowMatchHeunDiscreteScheduler":
            # Flow latents (1−σ)·x0 + σ·ε, the SD3-style transformer takes σ·1000.
            out.update(timesteps=ts, sigmas=sig, a=[1 - v for v in sig], b=sig, model_timestep=ts,
                       eval_timesteps=ts_all)
            out["scale"] = [1.0] * (n + 1)
            return finish_frame(out)
        a = [1 / math.sqrt(1 + v * v) for v in sig]
        out.update(timesteps=ts, sigmas=sig, a=a, b=[v * ai for v, ai in zip(sig, a)], model_timestep=ts,
                   eval_timesteps=ts_all, init_noise_sigma=float(s.init_noise_sigma))
        out["scale"] = [1 / ai for ai in a]
    elif kind in ("DPMSolverMultistepScheduler", "UniPCMultistepScheduler") and s.config.get("use_flow_sigmas"):
        # Flow sigmas (SANA, Wan): x = (1−σ)·x0 + σ·ε; the transformer takes the int64 timesteps.
        sig = f64(s.sigmas)
        out.update(timesteps=f64(s.timesteps), sigmas=sig, a=[1 - v for v in sig], b=sig,
                   model_timestep=f64(s.timesteps))
        out["scale"] = [1.0] * (n + 1)
    elif kind in ("EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "DPMSolverMultistepScheduler",
                  "DPMSolverMultistepInverseScheduler",
                  "DPMSolverSinglestepScheduler", "DEISMultistepScheduler", "SASolverScheduler",
                  "UniPCMultistepScheduler",
                  "LMSDiscreteScheduler"):
        sig = f64(s.sigmas)
        a = [1 / math.sqrt(1 + v * v) for v in sig]
        out.update(timesteps=f64(s.timesteps), sigmas=sig, a=a, b=[v * ai for v, ai in zip(sig, a)],
                   model_timestep=f64(s.timesteps))
        # Euler (Euler ancestral, LMS) keep VE latents (x0 + σε), DPMSolver and UniPC VP ones.
        euler = kind.startswith("Euler") or kind == "LMSDiscreteScheduler"
        out["scale"] = [1 / ai for ai in a] if euler else [1.0] * (n + 1)
        if euler:
            out["init_noise_sigma"] = float(s.init_noise_sigma)
    elif kind == "FlowMatchEulerDiscreteScheduler" and s.config.invert_sigmas:
        # Mochi's inverted convention: the scheduler's σ weighs x0 (x = σ·x0 + (1 − σ)·ε), from
        # 0 (noise) up to its appended 1; the transformer takes its float32 timesteps σ·T.
        sig = f64(s.sigmas)
        out.update(timesteps=f64(s.timesteps), a=sig, b=[1 - v for v in sig],
                   model_timestep=f64(s.timesteps))
        out["scale"] = [1.0] * (n + 1)
    elif kind in ("FlowMatchEulerDiscreteScheduler", "FlowMatchLCMScheduler", "LTXEulerAncestralRFScheduler",
                  "FlowMapEulerDiscreteScheduler", "MiniMaxH3Scheduler"):
        sig = f64(s.sigmas)
        out.update(timesteps=f64(s.timesteps), sigmas=sig, a=[1 - v for v in sig], b=sig)
        if case["pipeline"]["kind"] == "flux":
            # pipeline_flux.py: timestep = t.expand(B).to(latents.dtype) / 1000, in float32 latents.
            mt = (s.timesteps.to(torch.float32) / 1000).tolist()
        else:
            mt = s.timesteps.tolist()
        out["model_timestep"] = [float(v) for v in mt]
        out["scale"] = [1.0] * (n + 1)
    elif kind in ("EDMDPMSolverMultistepScheduler", "EDMEulerScheduler", "CosineDPMSolverMultistepScheduler"):
        sd = s.config.sigma_data
        sig = f64(s.sigmas)
        a = [1 / math.sqrt(1 + (v / sd) ** 2) for v in sig]
        out.update(timesteps=f64(s.timesteps), sigmas=sig, a=a, b=[v / sd * ai for v, ai in zip(sig, a)],
                   model_timestep=f64(s.timesteps))
        # pipeline latent x = x0 + σε; gdf's x is VP over x0/σ_data: x = σ_data/a · x_gdf.
        out["scale"] = [sd / ai for ai in a]
    elif kind == "CMStochasticIterativeScheduler":
        # Data-unit latents x0 + σε as EDM's; the float32 σ's end at float32 sigma_min; the
        # network takes 250·ln σ of the float64 σ's.
        sd = s.config.sigma_data
        sig = f64(s.sigmas)
        a = [1 / math.sqrt(1 + (v / sd) ** 2) for v in sig]
        out.update(timesteps=f64(s.timesteps), sigmas=sig, a=a, b=[v / sd * ai for v, ai in zip(sig, a)],
                   model_timestep=f64(s.timesteps), init_noise_sigma=float(s.init_noise_sigma))
        out["scale"] = [sd / ai for ai in a]
    elif kind == "IPNDMScheduler":
        # Its own `betas` are the levels' b, its `alphas` their a (float32); the network takes
        # the timesteps t = atan2(b, a)·2/π; VP latents.
        out.update(timesteps=f64(s.timesteps), a=f64(s.alphas), b=f64(s.betas),
                   model_timestep=f64(s.timesteps))
        out["scale"] = [1.0] * (n + 1)
    elif kind == "SCMScheduler":
        # TrigFlow x = cos(s)·X + sin(s)·σ_d·ε (X = σ_d·x0); gdf works on the flow latents the
        # transformer takes, x_flow = x/(σ_d·(cos s + sin s)), at τ = sin s/(sin s + cos s).
        ang = s.timesteps.to(torch.float32)
        c, si = torch.cos(ang), torch.sin(ang)
        tau = si / (c + si)
        sd = float(s.config.sigma_data)
        cf, sf = f64(c), f64(si)
        out.update(timesteps=f64(ang[:-1]), a=[cv / (cv + sv) for cv, sv in zip(cf, sf)],
                   b=[sv / (cv + sv) for cv, sv in zip(cf, sf)], model_timestep=f64(tau[:-1]))
        out["scale"] = [sd * (cv + sv) for cv, sv in zip(cf, sf)]
    elif kind == "DDPMWuerstchenScheduler":
        ts = s.timesteps.to(torch.float32)
        ac = f64(s._alpha_cumprod(ts, "cpu"))
        out.update(timesteps=f64(ts), alphas_cumprod=ac, a=[math.sqrt(v) for v in ac],
                   b=[math.sqrt(1 - v) for v in ac], model_timestep=f64(ts[:-1]))
        # The inverse of the unclamped cosine at the clamped ᾱ (what a λ → t noise cond can give):
        # t = acos(sqrt(ᾱ·c0))·(1+s)·2/π − s with c0 = cos(s/(1+s)·π/2)².
        s0 = s.config.s
        c0 = math.cos(s0 / (1 + s0) * math.pi / 2) ** 2
        out["model_timestep_inverse"] = [math.acos(math.sqrt(v * c0)) * (1 + s0) * 2 / math.pi - s0
                                         for v in ac[:-1]]
        out["scale"] = [1.0] * (n + 1)
    else:
        raise ValueError(kind)
    return finish_frame(out)


def finish_frame(out):
    """The levels' logSNR from `a`, `b`."""
    # (a ≤ 0: SCM's first angle 1.5708 lies past π/2, where cos < 0; its level is pure noise.)
    out["logsnr"] = [math.inf if b == 0 else -math.inf if a <= 0 else 2 * (math.log(a) - math.log(b))
                     for a, b in zip(out["a"], out["b"])]
    return out


def eval_sigma(s, k):
    """The VE σ at which a two-stage scheduler's `k`-th `step` call wants the model (its
    `step`'s `sigma_input`): the level itself on first-order calls (even k), then the next
    level (Heun) or the midpoint (KDPM2; the ancestral one indexes its midpoints one behind)."""
    kind = type(s).__name__
    if k % 2 == 0 or kind in ("HeunDiscreteScheduler", "FlowMatchHeunDiscreteScheduler"):
        return float(s.sigmas[k])
    if kind == "KDPM2DiscreteScheduler":
        return float(s.sigmas_interpol[k])
    if kind == "DPMSolverSDEScheduler":
        # The midpoint in t = −ln σ between the step's levels, in float32 as its `step`.
        t, tn = s.sigmas[k - 1].log().neg(), s.sigmas[k].log().neg()
        return float((t + (tn - t) * 0.5).neg().exp())
    return float(s.sigmas_interpol[k - 1])


def eval_frame(s, fr, k):
    """`fr` at the level of the `k`-th model call: (a, b, latent scale)."""
    if type(s).__name__ == "PNDMScheduler":
        # Each call at its own timestep's table level (PLMS repeats one, PRK adds midpoints).
        ac = float(s.alphas_cumprod[int(s.timesteps[k])])
        return math.sqrt(ac), math.sqrt(1 - ac), 1.0
    if type(s).__name__ not in TWO_STAGE:
        return fr["a"][k], fr["b"][k], fr["scale"][k]
    sig = eval_sigma(s, k)
    if type(s).__name__ == "FlowMatchHeunDiscreteScheduler":
        return 1 - sig, sig, 1.0
    a = 1 / math.sqrt(1 + sig * sig)
    return a, sig * a, 1 / a


def model_output(case, s, fr, i, x):
    """The raw model output the scheduler expects when the model is the exact denoiser.
    Returns (output, denoised) in the pipeline frame."""
    kind = type(s).__name__
    a, b, sc = eval_frame(s, fr, i)
    if kind in ("FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler",
                "FlowMatchLCMScheduler", "LTXEulerAncestralRFScheduler",
                "FlowMapEulerDiscreteScheduler", "MiniMaxH3Scheduler") or s.config.get("use_flow_sigmas"):
        # The mixture is in the flow's x0 space; the VP-normalised input is x/√(a²+b²).
        r = math.sqrt(a * a + b * b)
        d = denoise(x / r, a / r, b / r)
        if kind == "MiniMaxH3Scheduler":
            return (d - x) / b, d  # its model predicts x0 − ε (`denoised = x + σ·p`)
        if s.config.get("invert_sigmas"):
            return d - (x - a * d) / b, d  # Mochi's transformer: x0 − ε
        return (x - d) / b, d  # velocity v = ε − x0 with x = (1−σ)x0 + σε
    if kind == "SCMScheduler":
        # The mixture lives in the pipeline's X = σ_d·x0 (x = cos(s)·X + sin(s)·σ_d·ε); the
        # transformer sees the flow latents at τ and predicts the flow velocity ε − x0.
        sd = float(s.config.sigma_data)
        ang = float(s.timesteps[i])
        cs, sn = math.cos(ang), math.sin(ang)
        d = denoise(x, cs, sd * sn)
        eps = (x - cs * d) / (sd * sn)
        return eps - d / sd, d
    if kind == "CMStochasticIterativeScheduler":
        # The network sees x/√(σ² + σ_d²); its output F gives D = c_skip·x + c_out·F with the
        # boundary at σ_min (`get_scalings_for_boundary_condition`), before the clamp.
        sd, smin = s.config.sigma_data, s.config.sigma_min
        sig = fr["sigmas"][i]
        ar = 1 / math.sqrt(1 + sig * sig)
        d = denoise(x * ar, ar, sig * ar)
        c_skip = sd**2 / ((sig - smin) ** 2 + sd**2)
        c_out = (sig - smin) * sd / math.sqrt(sig**2 + sd**2)
        return (d - c_skip * x) / c_out, d
    if kind in ("EDMDPMSolverMultistepScheduler", "EDMEulerScheduler", "CosineDPMSolverMultistepScheduler"):
        sd = s.config.sigma_data
        sig = fr["sigmas"][i]
        # The mixture lives in the pipeline's x0 space (x = x0 + σε).
        ar = 1 / math.sqrt(1 + sig * sig)
        d = denoise(x * ar, ar, sig * ar)
        c_skip = sd**2 / (sig**2 + sd**2)
        c_out = sig * sd / math.sqrt(sig**2 + sd**2)
        # precondition_outputs: denoised = c_skip·x + c_out·F, c_out negated for v_prediction.
        if s.config.prediction_type == "v_prediction":
            c_out = -c_out
        return (d - c_skip * x) / c_out, d
    xv = x / sc  # VP latents
    d = denoise(xv, a, b)
    eps = (xv - a * d) / b
    # IPNDM's step reads its model output as a velocity (Dance Diffusion's v-models).
    pt = "v_prediction" if kind == "IPNDMScheduler" else s.config.get("prediction_type", "epsilon")
    if pt == "epsilon":
        return eps, d
    if pt == "v_prediction":
        return a * eps - b * d, d
    raise ValueError(pt)


def run_case(case):
    s, note = build(case)
    source = None
    n = case["steps"]
    pk = case["pipeline"]
    if pk["kind"] == "sana_sprint":
        # SanaSprintPipeline: set_timesteps(n, timesteps, max_timesteps, intermediate_timesteps)
        # then set_begin_index(0); custom angles come without max/intermediate.
        if "timesteps" in case:
            s.set_timesteps(n, timesteps=case["timesteps"], max_timesteps=None, intermediate_timesteps=None)
        else:
            s.set_timesteps(n, max_timesteps=pk["max_timesteps"],
                            intermediate_timesteps=pk["intermediate_timesteps"])
        s.set_begin_index(0)
    elif pk["kind"] == "mochi":
        # MochiPipeline: retrieve_timesteps(scheduler, n, sigmas=linear_quadratic_schedule(n,
        # threshold_noise)) with the schedule's own default linear_steps.
        lqs, sha = pipeline_function(MOCHI_PIPELINE, "linear_quadratic_schedule")
        source = {"file": MOCHI_PIPELINE, "sha256": sha}
        sig = np.array(lqs(n, pk["threshold_noise"], pk.get("linear_steps")))
        s.set_timesteps(sigmas=sig)
    elif pk["kind"] == "flux":
        sig = np.linspace(1.0, 1 / n, n)
        mu = calculate_shift(pk["image_seq_len"], s.config)
        s.set_timesteps(sigmas=sig, mu=mu)
    elif pk["kind"] == "sd3" and s.config.get("use_dynamic_shifting"):
        s.set_timesteps(n, mu=calculate_shift(pk["image_seq_len"], s.config))
    elif type(s).__name__ == "MiniMaxH3Scheduler":
        # Its `set_timesteps(m)` counts the levels, σ = 0 included: n steps are m = n + 1.
        if "sigmas" in case:
            s.set_timesteps(sigmas=case["sigmas"])
        else:
            s.set_timesteps(n + 1)
    elif "sigmas" in case:
        # A custom σ list (`pipe(..., sigmas=...)`).
        # (as a numpy array: UniPC's flow branch multiplies the list itself and fails on a list)
        s.set_timesteps(sigmas=np.array(case["sigmas"]))
    elif "timesteps" in case:
        # A custom list (`pipe(..., timesteps=...)`): Align Your Steps and the like.
        assert len(case["timesteps"]) == n
        s.set_timesteps(timesteps=case["timesteps"])
    else:
        s.set_timesteps(n)
    fr = frame(case, s)
    rng = np.random.default_rng(1234)
    z = rng.standard_normal((BATCH, 2))
    # The pipelines' `latents · init_noise_sigma` (flows and Würstchen: pure noise, no factor).
    x = z * float(getattr(s, "init_noise_sigma", 1.0))
    if type(s).__name__ == "SCMScheduler":
        x = z * float(s.config.sigma_data)  # the pipeline's `latents · sigma_data`
    # Ancestral / SDE noise: the scheduler module's randn_tensor replaced by a seeded numpy
    # draw that is recorded.
    noise_log = []
    nrng = np.random.default_rng(99)

    def fake_randn(shape, generator=None, device=None, dtype=None, layout=None):
        e = torch.from_numpy(nrng.standard_normal(tuple(shape)))
        noise_log.append(e.clone())
        return e if dtype is None else e.to(dtype)

    mod = sys.modules[type(s).__module__]
    if hasattr(mod, "randn_tensor"):
        mod.randn_tensor = fake_randn

    class FakeTree:
        """DPMSolverSDE's Brownian tree replaced by recorded normals (its numbers are
        torchsde's; the run needs only the draws it applied, in order)."""

        def __init__(self, x, *args, **kwargs):
            self.shape, self.dtype = tuple(x.shape), x.dtype

        def __call__(self, sigma, sigma_next):
            return fake_randn(self.shape, dtype=self.dtype)

    if hasattr(mod, "BrownianTreeNoiseSampler"):
        mod.BrownianTreeNoiseSampler = FakeTree
    run = {"x_init": x.tolist(), "sample": [], "model_output": [], "denoised": [], "x": []}
    xt = torch.from_numpy(x.copy())
    ts = s.timesteps[:-1] if type(s).__name__ in ("DDPMWuerstchenScheduler", "SCMScheduler") else s.timesteps
    old_pred = None
    for i, t in enumerate(ts):
        xin = xt.numpy().astype(np.float64)
        mo, d = model_output(case, s, fr, i, xin)
        run["sample"].append(xin.reshape(-1).tolist())
        run["model_output"].append(mo.reshape(-1).tolist())
        run["denoised"].append(d.reshape(-1).tolist())
        mo_t = torch.from_numpy(mo)
        if type(s).__name__ == "DDPMWuerstchenScheduler":
            prev = s.step(mo_t, t.to(torch.float32).expand(BATCH), xt).prev_sample
        elif type(s).__name__ == "SCMScheduler":
            # SanaSprintPipeline: the transformer's flow velocity at the flow latents
            # `latents/σ_d·√(τ² + (1−τ)²)` becomes TrigFlow's F, cast to float32, times σ_d.
            sd = float(s.config.sigma_data)
            tt = t.expand(BATCH)
            te = (torch.sin(tt) / (torch.cos(tt) + torch.sin(tt))).view(-1, 1)
            norm = torch.sqrt(te**2 + (1 - te) ** 2)
            lmi = xt / sd * norm
            npred = ((1 - 2 * te) * lmi + (1 - 2 * te + 2 * te**2) * mo_t) / norm
            npred = npred.float() * sd
            prev, den = s.step(npred, tt, xt, return_dict=False)
            assert np.abs(den.numpy() - d).max() < 1e-5, (den, d)
        elif type(s).__name__ == "CogVideoXDPMScheduler":
            # The CogVideoX pipeline passes the previous prediction and timestep.
            prev, old_pred = s.step(mo_t, old_pred, t, ts[i - 1] if i > 0 else None, xt,
                                    return_dict=False)
        else:
            # `step_kwargs`: what the pipeline passes to `step` (TCD's `eta`).
            prev = s.step(mo_t, t, xt, **case.get("step_kwargs", {})).prev_sample
        xt = prev.to(torch.float64)
        # A two-stage scheduler finishes a step on its second call (or the last, first-order one).
        # PLMS's first call returns its trial sample, the second finishes the first step;
        # each Runge-Kutta step finishes on its fourth call.
        if type(s).__name__ == "PNDMScheduler":
            prk = not s.config.skip_prk_steps
            if (i % 4 == 3 or i >= 12) if prk else not (i == 0 and len(ts) > 1):
                run["x"].append(xt.numpy().reshape(-1).tolist())
        elif type(s).__name__ not in TWO_STAGE or s.state_in_first_order or i == len(ts) - 1:
            run["x"].append(xt.numpy().reshape(-1).tolist())
    if noise_log and type(s).__name__ == "DDPMWuerstchenScheduler":
        # The scheduler multiplies its draw by (prev_t != 0): record the noise it applied.
        mask = [float(v != 0) for v in f64(s.timesteps[1:])]
        run["noise"] = [(e * m).reshape(-1).tolist() for e, m in zip(noise_log, mask)]
    elif noise_log:
        run["noise"] = [e.reshape(-1).tolist() for e in noise_log]
    elif type(s).__name__ == "CMStochasticIterativeScheduler":
        # One step: diffusers applies zeros instead of a draw (`len(self.timesteps) > 1`).
        run["noise"] = [[0.0] * (BATCH * 2) for _ in range(n)]
    out = {
        "id": case["id"],
        "model": case["model"],
        "config": case["config"],
        **({"load_as": case["load_as"]} if "load_as" in case else {}),
        **({"step_kwargs": case["step_kwargs"]} if "step_kwargs" in case else {}),
        **({"timesteps": case["timesteps"]} if "timesteps" in case else {}),
        **({"sigmas": case["sigmas"]} if "sigmas" in case else {}),
        "pipeline": pk,
        "steps": n,
        "scheduler_run": type(s).__name__,
        "grid": {k: v for k, v in fr.items()},
        "run": run,
        "mixture": MIX,
    }
    if note:
        out["grid"].update(note)
    if source:
        out["pipeline_source"] = source
    return out


def enc(v):
    """Non-finite floats as the strings "inf", "-inf", "nan" (the golden README's encoding)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    if isinstance(v, list):
        return [enc(x) for x in v]
    return v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "golden.json")
    lines = []
    todo = CONFIGS
    if sys.argv[1:] == ["--new"]:
        # Keep the file's lines verbatim; generate only the cases it does not hold yet.
        with open(path) as f:
            text = f.read()
        assert text.startswith("[\n") and text.endswith("\n]\n"), "unexpected file layout"
        lines = text[2:-3].split(",\n")
        have = {json.loads(line)["id"] for line in lines}
        todo = [c for c in CONFIGS if c["id"] not in have]
    elif sys.argv[1:]:
        raise SystemExit("usage: gen.py [--new]")
    lines += [json.dumps(enc(run_case(c)), sort_keys=True, allow_nan=False) for c in todo]
    with open(path, "w") as f:
        f.write("[\n")
        f.write(",\n".join(lines))
        f.write("\n]\n")


if __name__ == "__main__":
    main()
