"""Golden data for `gdf::solver::gaussian_steps` / `FlowSde` (policy-gradient fine-tuning).

Runs the reference implementations of the two published step-with-log-probability functions
and writes `golden.json` next to this file:

  * Flow-GRPO's `sde_step_with_logprob` (github.com/yifan123/flow_grpo, commit FLOW_GRPO below,
    `flow_grpo/diffusers_patch/sd3_sde_with_logprob.py`) on diffusers' SD3
    `FlowMatchEulerDiscreteScheduler`;
  * DDPO's `ddim_step_with_logprob` (github.com/kvablack/ddpo-pytorch, commit DDPO below,
    `ddpo_pytorch/diffusers_patch/ddim_with_logprob.py`) on diffusers' `DDIMScheduler` with
    Stable Diffusion 1.5's config.

    /tmp/torchvenv/bin/python tests/rl/gen.py [FLOW_GRPO_REPO DDPO_REPO]

The two repositories are git checkouts (default: the `fetch` mirrors under /work/.mirror);
each file is read at the pinned commit, its sha256 checked and recorded, and its function
compiled as it stands (DDPO's module imports `randn_tensor` from where diffusers kept it in
2023; the generator provides it there). diffusers 0.42.1, torch 2.15 CPU, one thread.

Per case: a rollout of `steps` steps on a batch of 4 points of the 2-D Gaussian mixture of
`tests/diffusers/gen.py` (its exact denoiser as the model), every sample at the same step,
recording the function's own outputs (`sample`, `model_output`, `prev_sample`, `mean`,
`std` = the transition's standard deviation, `log_prob`) and its noise draws (`noise`); then
`train`: each sample at its own step (batched timesteps, `steps_of`), the rollout's
transition re-scored under a perturbed model output (`model_output` = 1.1·output + 0.05), as
a trainer does after a policy update (`log_prob`, `mean`).
"""

import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "diffusers"))
import gen  # noqa: E402  (the mixture, its denoiser, the JSON encoding)

import diffusers  # noqa: E402
import diffusers.utils  # noqa: E402
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler  # noqa: E402
from diffusers.utils.torch_utils import randn_tensor as _randn_tensor  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__

FLOW_GRPO = ("ac4c86e", "flow_grpo/diffusers_patch/sd3_sde_with_logprob.py",
             "/work/.mirror/yifan123+flow_grpo/repo")
DDPO = ("1958463", "ddpo_pytorch/diffusers_patch/ddim_with_logprob.py",
        "/work/.mirror/kvablack+ddpo-pytorch/repo")
BATCH = 4


def load(ref, repo, name, draws):
    """The function `name` of the pinned file, compiled with its module's imports; its
    `randn_tensor` records what it draws into `draws`."""
    commit, path, _ = ref
    src = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"], check=True,
                         capture_output=True).stdout
    digest = hashlib.sha256(src).hexdigest()
    # DDPO imports randn_tensor from `diffusers.utils` (diffusers ≤ 0.20).
    diffusers.utils.randn_tensor = _randn_tensor
    ns = {"__name__": "reference"}
    exec(compile(src.decode(), path, "exec"), ns)
    rng = np.random.default_rng(99)

    def fake_randn(shape, generator=None, device=None, dtype=None, layout=None):
        e = torch.from_numpy(rng.standard_normal(tuple(shape)))
        draws.append(e.clone())
        return e if dtype is None else e.to(dtype)

    ns["randn_tensor"] = fake_randn
    return ns[name], {"repository": repo.split("/")[-2].replace("+", "/"), "commit": commit,
                      "path": path, "sha256": digest}


def flow_velocity(x, sigma):
    """The mixture's flow velocity ε − x0 at flow sigma σ (x = (1−σ)·x0 + σ·ε)."""
    a, b = 1 - sigma, sigma
    r = math.sqrt(a * a + b * b)
    d = gen.denoise(x / r, a / r, b / r)
    return (x - d) / b


def ddim_eps(x, ac):
    a, b = math.sqrt(ac), math.sqrt(1 - ac)
    d = gen.denoise(x, a, b)
    return (x - a * d) / b


def flow_case(repo, case):
    draws = []
    fn, src = load(FLOW_GRPO, repo, "sde_step_with_logprob", draws)
    cfg = {k: v for k, v in case["config"].items() if not k.startswith("_")}
    s = FlowMatchEulerDiscreteScheduler.from_config(cfg)
    n = case["steps"]
    s.set_timesteps(n)
    rng = np.random.default_rng(1234)
    # Flow-GRPO's function takes image latents (B, C, H, W): points as (B, 1, 1, 2).
    shape = (BATCH, 1, 1, 2)
    x = torch.from_numpy(rng.standard_normal((BATCH, 2))).reshape(shape)
    roll = {k: [] for k in ("sample", "model_output", "prev_sample", "mean", "std", "log_prob")}
    for i, t in enumerate(s.timesteps):
        sig = float(s.sigmas[i])
        v = torch.from_numpy(flow_velocity(x.double().reshape(BATCH, 2).numpy(), sig)).reshape(shape)
        tb = t.expand(BATCH)
        prev, lp, mean, std_t = fn(s, v, tb, x, noise_level=case["noise_level"])
        dt = float(s.sigmas[i + 1]) - sig
        roll["sample"].append(x.double().reshape(-1).tolist())
        roll["model_output"].append(v.reshape(-1).tolist())
        roll["prev_sample"].append(prev.double().reshape(-1).tolist())
        roll["mean"].append(mean.double().reshape(-1).tolist())
        roll["std"].append(float((std_t.reshape(-1)[0] * torch.sqrt(torch.tensor(-dt))).double()))
        roll["log_prob"].append(lp.double().tolist())
        x = prev
    noise = [e.reshape(-1).tolist() for e in draws]
    # Re-scoring: sample k at its own step.
    steps_of = case["train_steps"]
    pick = lambda key: torch.tensor([roll[key][j][2 * k:2 * k + 2] for k, j in enumerate(steps_of)],
                                    dtype=torch.float64).reshape(shape)
    xs, ps = pick("sample"), pick("prev_sample")
    vs = pick("model_output") * 1.1 + 0.05
    tb = torch.stack([s.timesteps[j] for j in steps_of])
    _, lp, mean, _ = fn(s, vs, tb, xs, noise_level=case["noise_level"], prev_sample=ps)
    train = {"steps_of": steps_of, "sample": xs.reshape(-1).tolist(), "prev_sample": ps.reshape(-1).tolist(),
             "model_output": vs.reshape(-1).tolist(), "mean": mean.double().reshape(-1).tolist(),
             "log_prob": lp.double().tolist()}
    return {**case, "source": src, "run": {**roll, "x_init": roll["sample"][0], "noise": noise}, "train": train}


def ddpo_case(repo, case):
    draws = []
    fn, src = load(DDPO, repo, "ddim_step_with_logprob", draws)
    cfg = {k: v for k, v in case["config"].items() if not k.startswith("_")}
    s = DDIMScheduler.from_config(cfg)
    n = case["steps"]
    s.set_timesteps(n)
    ratio = s.config.num_train_timesteps // n
    rng = np.random.default_rng(1234)
    x = torch.from_numpy(rng.standard_normal((BATCH, 2)))
    roll = {k: [] for k in ("sample", "model_output", "prev_sample", "log_prob")}
    for t in s.timesteps:
        ac = float(s.alphas_cumprod[int(t)])
        eps = torch.from_numpy(ddim_eps(x.numpy(), ac))
        prev, lp = fn(s, eps, t.expand(BATCH), x, eta=case["eta"])
        roll["sample"].append(x.reshape(-1).tolist())
        roll["model_output"].append(eps.reshape(-1).tolist())
        roll["prev_sample"].append(prev.reshape(-1).tolist())
        roll["log_prob"].append(lp.double().tolist())
        x = prev
    noise = [e.reshape(-1).tolist() for e in draws]
    steps_of = case["train_steps"]
    pick = lambda key: torch.tensor([roll[key][j][2 * k:2 * k + 2] for k, j in enumerate(steps_of)],
                                    dtype=torch.float64)
    xs, ps = pick("sample"), pick("prev_sample")
    es = pick("model_output") * 1.1 + 0.05
    tb = torch.stack([s.timesteps[j] for j in steps_of])
    _, lp = fn(s, es, tb, xs, eta=case["eta"], prev_sample=ps)
    train = {"steps_of": steps_of, "sample": xs.reshape(-1).tolist(), "prev_sample": ps.reshape(-1).tolist(),
             "model_output": es.reshape(-1).tolist(), "log_prob": lp.double().tolist()}
    assert ratio > 0
    return {**case, "source": src, "run": {**roll, "x_init": roll["sample"][0], "noise": noise}, "train": train}


SD15 = {"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
        "beta_end": 0.012, "steps_offset": 1, "set_alpha_to_one": False, "clip_sample": False,
        "num_train_timesteps": 1000, "prediction_type": "epsilon", "timestep_spacing": "leading"}
SD3 = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0, "num_train_timesteps": 1000}

CASES = [
    ("flow", {"id": "flow_grpo_sd3", "method": "flow_grpo", "config": SD3, "pipeline": {"kind": "sd3"},
              "steps": 10, "noise_level": 0.7, "train_steps": [0, 3, 7, 9]}),
    ("flow", {"id": "flow_grpo_sd3_eta1_6", "method": "flow_grpo", "config": SD3, "pipeline": {"kind": "sd3"},
              "steps": 6, "noise_level": 1.0, "train_steps": [5, 0, 2, 2]}),
    ("ddpo", {"id": "ddpo_sd15", "method": "ddpo", "config": SD15, "pipeline": {"kind": "stable_diffusion"},
              "steps": 10, "eta": 1.0, "train_steps": [0, 4, 8, 9]}),
    ("ddpo", {"id": "ddpo_sd15_eta05", "method": "ddpo", "config": SD15, "pipeline": {"kind": "stable_diffusion"},
              "steps": 8, "eta": 0.5, "train_steps": [7, 1, 3, 6]}),
]


def main():
    flow_repo = sys.argv[1] if len(sys.argv) > 1 else FLOW_GRPO[2]
    ddpo_repo = sys.argv[2] if len(sys.argv) > 2 else DDPO[2]
    out = []
    for kind, case in CASES:
        out.append(flow_case(flow_repo, case) if kind == "flow" else ddpo_case(ddpo_repo, case))
        out[-1]["mixture"] = gen.MIX
    with open(os.path.join(here, "golden.json"), "w") as fh:
        fh.write("[\n" + ",\n".join(json.dumps(gen.enc(c)) for c in out) + "\n]\n")


if __name__ == "__main__":
    main()
