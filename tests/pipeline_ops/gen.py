"""Golden data for gdf's pipeline operations (issue 18 part B), from diffusers itself.

Run:  /tmp/torchvenv/bin/python tests/pipeline_ops/gen.py > tests/pipeline_ops/golden.json
(diffusers 0.42.1, torch 2.15 CPU; the pipeline classes whose get_timesteps it calls import
`transformers`, so that must be installed too: 5.24.0 was used, its version does not enter
the numbers). Scheduler-level: no networks. The "model" is a fixed
linear epsilon-predictor eps(x) = c * x + w (w a fixed vector stored in the case), which is
deterministic and easy to evaluate on the Rust side.

Everything runs in float64: inputs are float64 tensors and, after set_timesteps, the
schedulers' float32 tables (alphas_cumprod, sigmas) are replaced by their float64 casts, so the
golden values are the float64 results of diffusers' step arithmetic at those (float32-born)
levels. The grid each case gives gdf is logSNR = ln(acp / (1 - acp)) of those float64 values
(or -2 ln sigma for the sigma-based DPM-Solver), so gdf and diffusers step through the same
levels. Re-running gives byte-identical output (seeded numpy RNG, one torch thread).

Cases:
  img2img       the timesteps diffusers keeps for a strength (StableDiffusionImg2ImgPipeline
                .get_timesteps, first- and second-order schedulers) and the noised start
                scheduler.add_noise(image, noise, timesteps[:1]).
  handoff       SDXL base/refiner split: denoising_end on the base (the filter in
                StableDiffusionXLPipeline.__call__) and denoising_start on the refiner
                (StableDiffusionXLImg2ImgPipeline.get_timesteps).
  inpaint       the inpaint loop of StableDiffusionInpaintPipeline for a 4-channel UNet:
                step, then init_latents_proper = add_noise(image, noise, t_next) (the clean
                image after the last step) and latents = (1 - mask) * proper + mask * latents.
  threshold     DDPM / DDIM / DPMSolverMultistep / UniPCMultistep `step` loops with clip_sample or dynamic
                thresholding on (and baselines with both off). DDIM's step keeps the raw
                model output as epsilon (use_clipped_model_output=False, its default).
                DPMSolverMultistep's and UniPC's float64->float32 casts inside step() are
                suppressed (keep_f64), as for ../shared/golden/solvers.json.
  invert        DDIM inversion: the loop of diffusers' inversion pipelines (DiffEdit's
                `invert`) over DDIMInverseScheduler built from a config (recorded as the
                JSON gdf loads): for t in timesteps: pred = model(latents, t);
                latents = step(pred, t, latents). The model depends on the timestep,
                pred = c*x + w + d*t/1000, so the timestep convention is checked too; it
                is read as epsilon, v or x0 by the config's prediction_type.
"""
import json
import sys
import types

import numpy as np
import torch
import diffusers
from diffusers import (
    DDIMInverseScheduler,
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    HeunDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionXLImg2ImgPipeline,
)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
RNG = np.random.default_rng(20261129)
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)
COMMAND = "/tmp/torchvenv/bin/python tests/pipeline_ops/gen.py > tests/pipeline_ops/golden.json"


def t64(a):
    return torch.tensor(np.asarray(a, dtype=np.float64))


def lst(t):
    return [float(v) for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def arr(t):
    a = np.asarray(t, dtype=np.float64)
    return {"shape": list(a.shape), "data": lst(a)}


def lam_of_acp(acp):
    acp = float(acp)
    if acp >= 1.0:
        return "inf"
    return float(np.log(acp) - np.log1p(-acp))


_TO = torch.Tensor.to


def _to_keep_f64(self, *args, **kwargs):
    """Tensor.to with float64 -> float32 casts suppressed (see keep_f64)."""
    dt = kwargs.get("dtype", args[0] if args and isinstance(args[0], torch.dtype) else None)
    if dt == torch.float32 and self.dtype == torch.float64:
        return self
    return _TO(self, *args, **kwargs)


class keep_f64:
    """DPMSolverMultistep's step() casts the sample to float32 (meant as an up-cast for half
    precision); in a float64 run that truncates. As for ../shared/golden/solvers.json, the cast
    is suppressed during step(), so the golden values are diffusers' formulas in float64."""

    def __enter__(self):
        torch.Tensor.to = _to_keep_f64

    def __exit__(self, *exc):
        torch.Tensor.to = _TO


def f64_tables(s):
    s.alphas_cumprod = s.alphas_cumprod.double()
    if hasattr(s, "final_alpha_cumprod"):
        s.final_alpha_cumprod = torch.as_tensor(s.final_alpha_cumprod).double()
    s.one = torch.tensor(1.0, dtype=torch.float64)


def ddim_grid(s):
    """The levels a DDIM/DDPM run steps through: acp[t] for each timestep, then the final one."""
    ts = [int(t) for t in s.timesteps]
    lams = [lam_of_acp(s.alphas_cumprod[t]) for t in ts]
    step = s.config.num_train_timesteps // s.num_inference_steps
    last = ts[-1] - step
    if last >= 0:
        fin = s.alphas_cumprod[last]
    elif isinstance(s, DDIMScheduler):
        fin = s.final_alpha_cumprod
    else:
        fin = s.one
    lams.append(lam_of_acp(fin))
    return ts, lams


def img2img_cases():
    out = []
    for cls, n, strength in [
        (DDIMScheduler, 50, 0.75),
        (DDIMScheduler, 50, 0.3),
        (DDIMScheduler, 20, 1.0),
        (DDIMScheduler, 7, 0.5),
        (HeunDiscreteScheduler, 25, 0.6),
        (EulerDiscreteScheduler, 30, 0.35),
    ]:
        s = cls(**SD, steps_offset=1, timestep_spacing="leading")
        s.set_timesteps(n)
        pipe = types.SimpleNamespace(scheduler=s)
        kept, nsteps = StableDiffusionImg2ImgPipeline.get_timesteps(pipe, n, strength, "cpu")
        case = {
            "kind": "img2img",
            "scheduler": cls.__name__,
            "params": {"steps": n, "strength": strength, "order": s.order},
            "input": {"timesteps": lst(s.timesteps)},
            "output": {"kept_timesteps": lst(kept), "num_inference_steps": int(nsteps)},
        }
        if cls is DDIMScheduler:
            f64_tables(s)
            image = RNG.standard_normal((2, 3, 2, 2))
            noise = RNG.standard_normal((2, 3, 2, 2))
            start = s.add_noise(t64(image), t64(noise), kept[:1].repeat(2))
            ts, lams = ddim_grid(s)
            case["input"].update({"logsnr": lams, "image": arr(image), "noise": arr(noise)})
            case["output"]["x_start"] = arr(start)
        out.append(case)
    return out


def handoff_cases():
    out = []
    for cls, n, frac in [
        (EulerDiscreteScheduler, 40, 0.8),
        (DDIMScheduler, 25, 0.7),
        (HeunDiscreteScheduler, 30, 0.8),
    ]:
        s = cls(**SD, steps_offset=1, timestep_spacing="leading")
        s.set_timesteps(n)
        ts = s.timesteps
        # base: the filter in StableDiffusionXLPipeline.__call__ (denoising_end)
        cutoff = int(round(s.config.num_train_timesteps - frac * s.config.num_train_timesteps))
        base_n = len(list(filter(lambda t: t >= cutoff, ts)))
        base = ts[:base_n]
        # refiner: StableDiffusionXLImg2ImgPipeline.get_timesteps (denoising_start)
        s2 = cls(**SD, steps_offset=1, timestep_spacing="leading")
        s2.set_timesteps(n)
        pipe = types.SimpleNamespace(scheduler=s2)
        ref, ref_n = StableDiffusionXLImg2ImgPipeline.get_timesteps(pipe, n, 0.3, "cpu", denoising_start=frac)
        out.append({
            "kind": "handoff",
            "scheduler": cls.__name__,
            "params": {"steps": n, "denoising_end": frac, "denoising_start": frac, "order": s.order,
                       "num_train_timesteps": 1000},
            "input": {"timesteps": lst(ts)},
            "output": {"base_timesteps": lst(base), "refiner_timesteps": lst(ref),
                       "refiner_num_inference_steps": int(ref_n)},
        })
    return out


def linear_model(c, w):
    return lambda x: c * x + w


def inpaint_cases():
    out = []
    for n, shape, soft in [(8, (2, 4, 3, 3), False), (10, (1, 4, 4, 4), True)]:
        s = DDIMScheduler(**SD, steps_offset=1, timestep_spacing="leading", clip_sample=False,
                          set_alpha_to_one=False)
        s.set_timesteps(n)
        f64_tables(s)
        image = RNG.standard_normal(shape) * 0.8
        noise = RNG.standard_normal(shape)
        w = RNG.standard_normal(shape) * 0.3
        c = 0.25
        hw = shape[2:]
        if soft:
            m = RNG.uniform(0.0, 1.0, (shape[0], 1) + hw)
        else:
            m = (RNG.uniform(0.0, 1.0, (shape[0], 1) + hw) > 0.5).astype(np.float64)
        mask = np.broadcast_to(m, shape).copy()  # gdf takes a per-element mask
        model = linear_model(c, t64(w))
        image_t, noise_t, mask_t = t64(image), t64(noise), t64(m)
        latents = noise_t * s.init_noise_sigma  # strength 1: pure noise
        steps = []
        ts = s.timesteps
        for i, t in enumerate(ts):
            eps = model(latents)
            latents = s.step(eps, t, latents, eta=0.0).prev_sample
            proper = image_t
            if i < len(ts) - 1:
                proper = s.add_noise(proper, noise_t, torch.tensor([int(ts[i + 1])]))
            latents = (1 - mask_t) * proper + mask_t * latents
            steps.append(lst(latents))
        _, lams = ddim_grid(s)
        out.append({
            "kind": "inpaint",
            "scheduler": "DDIMScheduler",
            "params": {"steps": n, "eta": 0.0, "model": "eps = c*x + w", "c": c, "soft_mask": soft},
            "input": {"logsnr": lams, "timesteps": lst(ts), "image": arr(image), "noise": arr(noise),
                      "mask": arr(mask), "w": arr(w), "x_init": arr(noise)},
            "output": {"x_steps": steps, "x": arr(latents)},
        })
    return out


def threshold_cases():
    out = []
    shape = (2, 4, 4, 4)
    specs = [
        ("DDPMScheduler", dict(clip_sample=False, thresholding=False), 6),
        ("DDPMScheduler", dict(clip_sample=True, clip_sample_range=1.0), 6),
        ("DDPMScheduler", dict(clip_sample=False, thresholding=True, dynamic_thresholding_ratio=0.995,
                               sample_max_value=1.5), 6),
        ("DDIMScheduler", dict(clip_sample=True, clip_sample_range=0.8), 6),
        ("DDIMScheduler", dict(clip_sample=False, thresholding=True, dynamic_thresholding_ratio=0.9,
                               sample_max_value=2.0), 6),
        ("DPMSolverMultistepScheduler", dict(thresholding=False), 8),
        ("DPMSolverMultistepScheduler", dict(thresholding=True, dynamic_thresholding_ratio=0.995,
                                             sample_max_value=1.5), 8),
        ("DPMSolverMultistepScheduler", dict(thresholding=True, dynamic_thresholding_ratio=0.8,
                                             sample_max_value=3.0, solver_order=3), 8),
        ("UniPCMultistepScheduler", dict(thresholding=True, dynamic_thresholding_ratio=0.95,
                                         sample_max_value=1.5), 8),
    ]
    for name, cfg, n in specs:
        cls = getattr(diffusers, name)
        sigma_based = name in ("DPMSolverMultistepScheduler", "UniPCMultistepScheduler")
        if sigma_based:
            s = cls(**SD, **cfg)
        else:
            s = cls(**SD, steps_offset=1, timestep_spacing="leading", **cfg)
        s.set_timesteps(n)
        f64_tables(s)
        if sigma_based:
            s.sigmas = s.sigmas.double()
            lams = [(-2.0 * float(np.log(float(v)))) if float(v) > 0 else "inf" for v in s.sigmas]
        else:
            _, lams = ddim_grid(s)
        x = t64(RNG.standard_normal(shape))
        x_init = x.clone()
        w = RNG.standard_normal(shape) * 1.5  # pushes |x0| past 1 at the noisy end
        c = 0.4
        model = linear_model(c, t64(w))
        noises = []
        steps = []
        x0s = []
        for i, t in enumerate(s.timesteps):
            eps = model(x)
            if name == "DDPMScheduler":
                seed = 1000 + i
                g = torch.Generator().manual_seed(seed)
                nz = diffusers.utils.torch_utils.randn_tensor(shape, generator=g, dtype=torch.float64)
                noises.append(lst(nz) if int(t) > 0 else [0.0] * nz.numel())
                r = s.step(eps, t, x, generator=torch.Generator().manual_seed(seed))
            elif name == "DDIMScheduler":
                r = s.step(eps, t, x, eta=0.0)
            else:
                with keep_f64():
                    r = s.step(eps, t, x)
            x = r.prev_sample
            if hasattr(r, "pred_original_sample") and r.pred_original_sample is not None:
                x0s.append(lst(r.pred_original_sample))
            steps.append(lst(x))
        case = {
            "kind": "threshold",
            "scheduler": name,
            "params": dict(cfg, steps=n, model="eps = c*x + w", c=c),
            "input": {"logsnr": lams, "timesteps": lst(s.timesteps), "x_init": arr(x_init), "w": arr(w)},
            "output": {"x_steps": steps, "x": arr(x)},
        }
        if noises:
            case["input"]["noise"] = noises
        if x0s:
            case["output"]["x0_steps"] = x0s
        out.append(case)
    return out


def invert_cases():
    out = []
    specs = [
        # Stable Diffusion 1.5's config as pipelines pass it to from_config.
        (dict(SD, steps_offset=1, set_alpha_to_one=False, clip_sample=False, skip_prk_steps=True,
              _class_name="PNDMScheduler"), 10, 1.0),
        # DDIMInverseScheduler's own defaults: linear betas, from alpha = 1, clip at 1.
        (dict(_class_name="DDIMInverseScheduler"), 8, 1.6),
        (dict(SD, timestep_spacing="trailing", prediction_type="v_prediction", clip_sample=False,
              _class_name="DDIMScheduler"), 10, 1.0),
        # trailing with 1000/7 not whole: each step starts at t - 142, not where the last ended.
        (dict(SD, timestep_spacing="trailing", clip_sample=True, clip_sample_range=1.5,
              _class_name="DDIMInverseScheduler"), 7, 1.3),
        (dict(beta_schedule="squaredcos_cap_v2", prediction_type="sample", set_alpha_to_one=False,
              steps_offset=1, clip_sample=True, clip_sample_range=2.0,
              _class_name="DDIMInverseScheduler"), 6, 1.0),
        # zero terminal SNR: the last step goes to alpha_bar = 0 exactly (pure noise).
        (dict(SD, rescale_betas_zero_snr=True, timestep_spacing="trailing",
              prediction_type="v_prediction", clip_sample=False,
              _class_name="DDIMInverseScheduler"), 5, 1.0),
    ]
    shape = (2, 4, 3, 3)
    for cfg, n, scale in specs:
        kwargs = {k: v for k, v in cfg.items() if not k.startswith("_")}
        if cfg["_class_name"] == "DDIMInverseScheduler":
            s = DDIMInverseScheduler(**kwargs)
        else:
            s = DDIMInverseScheduler.from_config(kwargs)
        s.set_timesteps(n)
        s.alphas_cumprod = s.alphas_cumprod.double()
        s.initial_alpha_cumprod = torch.as_tensor(s.initial_alpha_cumprod).double()
        x = t64(RNG.standard_normal(shape) * scale)
        x_init = x.clone()
        w = RNG.standard_normal(shape) * 0.3
        c, d = 0.3, 0.5
        steps = []
        for t in s.timesteps:
            pred = c * x + t64(w) + d * float(t) / 1000.0
            x = s.step(pred, t, x).prev_sample
            steps.append(lst(x))
        ratio = s.config.num_train_timesteps // n
        acp_from = []
        acp_to = []
        for t in s.timesteps:
            t = int(t)
            acp_from.append(float(s.alphas_cumprod[t - ratio] if t - ratio >= 0 else s.initial_alpha_cumprod))
            acp_to.append(float(s.alphas_cumprod[t]))
        out.append({
            "kind": "invert",
            "scheduler": "DDIMInverseScheduler",
            "params": {"steps": n, "model": "pred = c*x + w + d*t/1000", "c": c, "d": d},
            "input": {"config": json.dumps(cfg, sort_keys=True), "timesteps": lst(s.timesteps),
                      "acp_from": acp_from, "acp_to": acp_to, "x_init": arr(x_init), "w": arr(w)},
            "output": {"x_steps": steps, "x": arr(x)},
        })
    return out


def main():
    cases = img2img_cases() + handoff_cases() + inpaint_cases() + threshold_cases() + invert_cases()
    doc = {
        "version": 1,
        "command": COMMAND,
        "generator": {"diffusers": diffusers.__version__, "torch": torch.__version__.split("+")[0]},
        "cases": cases,
    }
    json.dump(doc, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
