"""Golden data for gdf's diffusion-forcing driver (`gdf::solver::Forcing`, `ForcingPlan`).

Reproduces the denoising loop of diffusers 0.42.1's SkyReels-V2 diffusion-forcing pipeline
(`SkyReelsV2DiffusionForcingPipeline.__call__`, short-video branch) around an analytic model
and writes `forcing.json` next to this file:

    /tmp/torchvenv/bin/python tests/diffusers/gen_forcing.py

What comes from diffusers itself: the timestep matrix and update mask (the pipeline's own
`generate_timestep_matrix`, called unbound: it reads nothing from `self`), one deep copy of the
scheduler per frame after `set_timesteps`, and each frame's `step` called only where the mask
says, with the frame's column of the matrix as its timestep, as the pipeline does.

The model: frames of 4 points in 2-D (`P × 2` per frame). For frame `f` at its scheduler's
current σ it predicts the flow velocity of the denoised estimate
`D_f = GaussianMixture(x_f) + c·mean(x_{f−1})` (`c = COUPLE`, the previous frame's current
latents whatever their level: not started, in progress or done), so a driver that shows the
model a wrong neighbour fails. `D` uses the same mixture as `gen.py`.

Per case it records the config, `steps`, the plan's parameters (`frames`, `ar_step`,
`causal_block_size`, `ready` frames given clean), `x_init` (`[frames][P][2]` flattened, the
ready frames holding their clean latents), and per row: `timesteps` (the matrix row the model
gets), `update` (the mask), `sample` (the model's input, all frames), `model_output` and `x`
(all frames after the row's updates). Float64 widenings of what diffusers computes.
"""

import copy
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import gen  # noqa: E402  (the mixture, its denoiser and the JSON encoding)

import diffusers  # noqa: E402
from diffusers import DPMSolverMultistepScheduler, UniPCMultistepScheduler  # noqa: E402

PIPELINE = "pipelines/skyreels_v2/pipeline_skyreels_v2_diffusion_forcing.py"
PIPELINE_SHA256 = None  # set below, recorded in the output


def load_timestep_matrix():
    """diffusers' own `generate_timestep_matrix`, compiled from the installed pipeline file
    (`gen.pipeline_function`: the module imports transformers' text encoders and the LoRA
    loaders at its top; the method reads nothing from `self`)."""
    import math as _math
    import typing

    global PIPELINE_SHA256
    ns = {"torch": torch, "math": _math, "Tuple": typing.Tuple, "List": typing.List}
    fn, PIPELINE_SHA256 = gen.pipeline_function(PIPELINE, "generate_timestep_matrix", ns)
    return fn


P = 4
COUPLE = 0.1

def config_of(case_id):
    """The scheduler config of `gen.py`'s case `case_id`."""
    return next(c["config"] for c in gen.CONFIGS if c["id"] == case_id)


# SkyReels-V2-DF's scheduler: Wan's UniPC with flow sigmas, `flow_shift` 8 as the pipeline's
# example sets it for text-to-video.
SKYREELS = {**config_of("wan_unipc_flow"), "flow_shift": 8.0}

CASES = [
    {"id": "skyreels_sync", "config": SKYREELS, "steps": 8, "frames": 3, "ar_step": 0,
     "causal_block_size": 1, "ready": 0},
    {"id": "skyreels_async", "config": SKYREELS, "steps": 8, "frames": 6, "ar_step": 2,
     "causal_block_size": 2, "ready": 0},
    {"id": "skyreels_async_lag5", "config": SKYREELS, "steps": 10, "frames": 4, "ar_step": 5,
     "causal_block_size": 1, "ready": 0},
    {"id": "skyreels_prefix", "config": SKYREELS, "steps": 6, "frames": 5, "ar_step": 3,
     "causal_block_size": 1, "ready": 2},
    {"id": "skyreels_unipc_order3", "config": {**SKYREELS, "solver_order": 3, "flow_shift": 5.0},
     "steps": 7, "frames": 4, "ar_step": 1, "causal_block_size": 2, "ready": 2},
    # Another multistep solver in the same loop: SANA-style DPM-Solver++ 2M with flow sigmas.
    {"id": "sana_dpm_staggered",
     "config": config_of("sana_dpm_flow"),
     "steps": 6, "frames": 5, "ar_step": 1, "causal_block_size": 1, "ready": 0},
]

CLASSES = {"UniPCMultistepScheduler": UniPCMultistepScheduler,
           "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler}


def denoised(x, f, sig):
    """The model's denoised estimate of frame `f` at flow level σ (`x = (1−σ)x0 + σε`)."""
    a, b = 1 - sig, sig
    r = math.sqrt(a * a + b * b)
    d = gen.denoise(x[f] / r, a / r, b / r)
    if f > 0:
        d = d + COUPLE * x[f - 1].mean()
    return d


def run_case(case):
    cfg = {k: v for k, v in case["config"].items() if not k.startswith("_")}
    base = CLASSES[case["config"]["_class_name"]].from_config(cfg)
    n, frames = case["steps"], case["frames"]
    base.set_timesteps(n)
    scheds = [copy.deepcopy(base) for _ in range(frames)]
    step_matrix, _, update_mask, valid = load_timestep_matrix()(
        None, frames, base.timesteps, frames, case["ar_step"], case["ready"], case["causal_block_size"])
    assert all(v == (0, frames) for v in valid), valid
    rng = np.random.default_rng(4321)
    x = rng.standard_normal((frames, P, 2))
    # Ready frames hold clean latents (a prefix video): the mixture's means, perturbed.
    for f in range(case["ready"]):
        x[f] = np.array(gen.MIX["means"])[np.arange(P) % 3] + 0.1 * rng.standard_normal((P, 2))
    out = {"x_init": x.reshape(-1).tolist(), "timesteps": [], "update": [], "sample": [],
           "model_output": [], "x": []}
    for i, t in enumerate(step_matrix):
        xin = x.copy()
        mo = np.zeros_like(x)
        for f in range(frames):
            if update_mask[i][f]:
                s = scheds[f]
                k = 0 if s.step_index is None else s.step_index
                sig = float(s.sigmas[k])
                d = denoised(xin, f, sig)
                mo[f] = (xin[f] - d) / sig  # velocity ε − x0
        for f in range(frames):
            if update_mask[i][f]:
                # Copies: the schedulers keep the sample tensor (`last_sample`), which must not
                # share memory with the array updated in place below.
                prev = scheds[f].step(torch.from_numpy(mo[f].copy()), t[f],
                                      torch.from_numpy(x[f].copy()), return_dict=False)[0]
                x[f] = prev.to(torch.float64).numpy()
        out["timesteps"].append([float(v) for v in t.tolist()])
        out["update"].append([bool(v) for v in update_mask[i].tolist()])
        out["sample"].append(xin.reshape(-1).tolist())
        out["model_output"].append(mo.reshape(-1).tolist())
        out["x"].append(x.reshape(-1).tolist())
    return {"id": case["id"], "config": case["config"], "pipeline": {"kind": "sd3"}, "steps": n,
            "frames": frames, "ar_step": case["ar_step"],
            "causal_block_size": case["causal_block_size"], "ready": case["ready"],
            "points": P, "couple": COUPLE, "mixture": gen.MIX,
            "source": {"diffusers": diffusers.__version__, "file": PIPELINE, "sha256": PIPELINE_SHA256},
            "run": out}


def main():
    path = os.path.join(here, "forcing.json")
    with open(path, "w") as fh:
        fh.write("[\n")
        fh.write(",\n".join(json.dumps(gen.enc(run_case(c))) for c in CASES))
        fh.write("\n]\n")


if __name__ == "__main__":
    main()
