"""Golden data for `gdf::consistency` (consistency training's curriculum, pair distribution and
weights).

Runs the functions of Kinyugo/consistency_models (commit KINYUGO below,
`consistency_models/consistency_models.py`, an implementation of both consistency-training
recipes, Song et al. 2023 and Song & Dhariwal 2023) and writes `golden.json` next to this file:

    /tmp/torchvenv/bin/python tests/consistency/gen.py [REPO]

REPO is a git checkout of that repository (default: the `fetch` mirror under /work/.mirror).
The file is read at the pinned commit, its sha256 checked and recorded, and only the functions
named in FUNCTIONS are compiled out of it (by its syntax tree), with torch's default dtype
float64.

Per case: `improved_timesteps_schedule` and `timesteps_schedule` over a list of training steps,
`ema_decay_rate_schedule` of the latter's counts, `karras_schedule` and
`improved_loss_weighting` for a count, and `lognormal_timestep_distribution`'s draws (COUNT of
them, torch's generator seeded per case) tallied per pair index: the distribution is checked
against those counts.
"""

import ast
import hashlib
import json
import math
import os
import subprocess
import sys

import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

KINYUGO = "2e6618d"
FILE = "consistency_models/consistency_models.py"
SHA256 = "41fe0d58c28378c77802d8ecbf54834c907a67feae1f325ae84365218703c264"
FUNCTIONS = ["timesteps_schedule", "improved_timesteps_schedule", "ema_decay_rate_schedule",
             "karras_schedule", "lognormal_timestep_distribution", "improved_loss_weighting"]
COUNT = 400_000


def load(repo):
    src = subprocess.run(["git", "-C", repo, "show", f"{KINYUGO}:{FILE}"], check=True,
                         capture_output=True).stdout
    sha = hashlib.sha256(src).hexdigest()
    assert sha == SHA256, f"{FILE} at {KINYUGO}: sha256 {sha}"
    tree = ast.parse(src.decode())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in FUNCTIONS]
    assert len(body) == len(FUNCTIONS), [n.name for n in body]
    ns = {"torch": torch, "math": math, "Tensor": torch.Tensor}
    exec(compile(ast.Module(body=body, type_ignores=[]), FILE, "exec"), ns)
    return ns, sha


CASES = [
    # (id, total steps, iCT s0, s1, CT s0, s1, sigma_min, sigma_max, rho, levels for the σ's,
    #  log-normal mean, std, seed)
    ("ict_defaults", 400_000, 10, 1280, 2, 150, 0.002, 80.0, 7.0, 161, -1.1, 2.0, 1),
    ("ict_short", 1_000, 10, 1280, 2, 150, 0.002, 80.0, 7.0, 11, -1.1, 2.0, 2),
    ("ict_other", 90_000, 5, 300, 4, 60, 0.01, 40.0, 5.0, 41, -0.5, 1.5, 3),
    ("ict_final", 800_000, 10, 1280, 2, 150, 0.002, 80.0, 7.0, 1281, -1.1, 2.0, 4),
]


def run_case(ns, case):
    (cid, total, s0, s1, c0, c1, smin, smax, rho, n, mean, std, seed) = case
    steps = sorted({0, 1, total // 7, total // 3, total // 2, total - 1, total,
                    *(k * total // 16 for k in range(17))})
    ict = [ns["improved_timesteps_schedule"](k, total, s0, s1) for k in steps]
    ct = [ns["timesteps_schedule"](k, total, c0, c1) for k in steps]
    ema = [ns["ema_decay_rate_schedule"](m, 0.95, c0) for m in ct]
    sig = ns["karras_schedule"](n, smin, smax, rho)
    w = ns["improved_loss_weighting"](sig)
    torch.manual_seed(seed)
    idx = ns["lognormal_timestep_distribution"](COUNT, sig, mean, std)
    counts = torch.bincount(idx, minlength=n - 1)
    return {
        "id": cid,
        "params": {"total": total, "ict_initial": s0, "ict_final": s1, "ct_initial": c0,
                   "ct_final": c1, "sigma_min": smin, "sigma_max": smax, "rho": rho,
                   "levels": n, "p_mean": mean, "p_std": std, "draws": COUNT},
        "steps": steps,
        "ict_levels": ict,
        "ct_levels": ct,
        "ct_ema": ema,
        "sigmas": sig.tolist(),
        "weights": w.tolist(),
        "pair_counts": counts.tolist(),
    }


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/Kinyugo+consistency_models/repo"
    ns, sha = load(repo)
    out = {"source": {"repo": "Kinyugo/consistency_models", "commit": KINYUGO, "file": FILE,
                      "sha256": sha, "torch": torch.__version__},
           "cases": [run_case(ns, c) for c in CASES]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
    with open(path, "w") as f:
        json.dump(out, f, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
