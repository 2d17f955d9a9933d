"""Golden data for k-diffusion samplers the shared `solvers.json` does not cover.

Runs k-diffusion 0.1.1.post1's own `sample_dpm_fast` (its `sampling.py`, sha256-checked and
loaded by path as `tools/golden2/solvers.py` loads it) on the analytic `mixture1d` denoiser and
writes `solvers.json` next to this file, in the shared golden `solvers.json` format (read by
`tests/golden_solvers.rs`, or from `GDF_KDIFFUSION_GOLDEN_DIR`):

    /tmp/torchvenv/bin/python tests/kdiffusion/gen.py

It also writes `adaptive.json`: `sample_dpm_adaptive` runs (`return_info`), each with its
settings (`params.sampler_kwargs`), every attempted step (`output.attempts`: its start `t`, the
error estimate, the controller's `h` after it, whether it was accepted), the model calls
(`denoised`, `eval_logsnr`: k-diffusion evaluates the model again at a step's start after a
rejection), the final VP sample `x` at σ_min, `info`, and the ancestral draws (`input.noise`,
one per accepted step; none with `eta = 0`, whose zero-scaled draws are not recorded).

Needs torch 2.15.0, diffusers 0.42.1 (imported by the shared helpers), numpy and
`pip install --no-deps k-diffusion==0.1.1.post1`. Deterministic: seeded numpy inputs, torch's
default dtype float64, one thread; a re-run gives a byte-identical file.

`params.grid` is `{"kind": "dpm_fast", "sigma_min", "sigma_max", "n"}` (`n` the evaluation
budget: `⌊n/3⌋ + 1` steps uniform in `t = −ln σ`, `input.logsnr = 2t`); `output.x` holds the
VP sample after every step, `denoised` / `eval_logsnr` every model call, and `noise` /
`noise_step` the normals `noise_sampler` returned (k-diffusion calls it every step, and scales
it by `σ_up = 0` when `eta = 0`).
"""

import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "golden2"))
import solvers as S  # noqa: E402  (sets float64, one thread, loads k-diffusion's sampling.py)

K = S.K


def run_dpm_fast(idx, sigma_min, sigma_max, nfe, eta, s_noise, shape, seed, name):
    rng = np.random.default_rng(seed)
    model = S.Mixture(rng)
    src = S.Source(rng)
    m = nfe // 3 + 1
    t = torch.linspace(-math.log(sigma_max), -math.log(sigma_min), m + 1)
    logsnr = [2.0 * float(v) for v in t.tolist()]
    x_init = S.draw_x_init(rng, model, shape, logsnr[0])
    a0, _ = S.ab(logsnr[0])
    x = torch.tensor(x_init) / a0  # x_ve

    rec = S.Recorder(model, src, shape)
    xf = K.sample_dpm_fast(rec.model, x, sigma_min, sigma_max, nfe, callback=rec.callback,
                           disable=True, eta=eta, s_noise=s_noise, noise_sampler=rec.replay)
    xs = []
    for i in range(m):
        xv = rec.starts[i + 1] if i + 1 < m else xf
        a, _ = S.ab(logsnr[i + 1])
        xs.append((a * xv).numpy())
    out = {
        "x": np.stack(xs),
        "denoised": torch.stack(rec.den).numpy(),
        "eval_logsnr": rec.lams,
        "calls": len(rec.lams),
        "noise_step": rec.nsteps,
    }
    inp = {"logsnr": logsnr, "x_init": x_init, "model": model.spec(), "noise": np.stack(rec.noises)}
    case = {
        "id": f"solvers/kdiffusion/{idx:03d}/dpm_fast",
        "sampler": "dpm_fast",
        "source": f"{S.KD_SRC}: k_diffusion.sampling.sample_dpm_fast",
        "scaler": "vp",
        "name": name,
        "params": {
            "grid": {"kind": "dpm_fast", "sigma_min": sigma_min, "sigma_max": sigma_max, "n": nfe},
            "sampler_kwargs": {"eta": eta, "s_noise": s_noise},
        },
        "input": inp,
        "output": out,
    }
    return S.enc(case)


CASES = [
    # (σ_min, σ_max, nfe, eta, s_noise, shape, seed, name)
    (0.03, 14.6, 10, 0.0, 1.0, [2, 1, 3, 4], 101, "dpm_fast_10"),  # orders 3, 3, 3, 1
    (0.03, 14.6, 12, 0.0, 1.0, [2, 1, 3, 4], 102, "dpm_fast_12"),  # 3, 3, 3, 2, 1
    (0.1, 80.0, 8, 0.0, 1.0, [2, 5], 103, "dpm_fast_8_wide"),  # 3, 3, 2
    (0.03, 14.6, 2, 0.0, 1.0, [3, 2], 104, "dpm_fast_2"),  # one order-2 step
    (0.03, 14.6, 1, 0.0, 1.0, [3, 2], 105, "dpm_fast_1"),  # one order-1 step
    (0.05, 20.0, 11, 1.0, 1.0, [2, 1, 3, 4], 106, "dpm_fast_11_eta1"),  # ancestral
    (0.05, 20.0, 9, 0.5, 0.8, [2, 6], 107, "dpm_fast_9_eta05"),  # ancestral, s_noise
]


def run_dpm_adaptive(idx, sigma_min, sigma_max, kwargs, shape, seed, name):
    """`sample_dpm_adaptive` with `return_info`; the callback records every attempted step."""
    rng = np.random.default_rng(seed)
    model = S.Mixture(rng)
    src = S.Source(rng)
    lam0 = 2.0 * float(-torch.tensor(sigma_max).log())
    x_init = S.draw_x_init(rng, model, shape, lam0)
    a0, _ = S.ab(lam0)
    x = torch.tensor(x_init) / a0  # x_ve
    rec = S.Recorder(model, src, shape, starts=False)
    attempts = []
    prev = {"t": lam0 / 2.0, "n_accept": 0}

    def callback(info):
        rec.i = info["i"]
        acc = info["n_accept"] > prev["n_accept"]
        attempts.append({"t": prev["t"], "error": float(info["error"]), "h": float(info["h"]),
                         "accepted": bool(acc)})
        prev["t"], prev["n_accept"] = float(info["t"]), info["n_accept"]

    xf, info = K.sample_dpm_adaptive(rec.model, x, sigma_min, sigma_max, callback=callback,
                                     disable=True, noise_sampler=rec.replay, return_info=True,
                                     **kwargs)
    lam_end = 2.0 * float(-torch.tensor(sigma_min).log())
    a1, _ = S.ab(lam_end)
    out = {
        "x": (a1 * xf).numpy(),
        "denoised": torch.stack(rec.den).numpy(),
        "eval_logsnr": rec.lams,
        "info": {k: int(v) for k, v in info.items()},
        "attempts": attempts,
    }
    inp = {"x_init": x_init, "model": model.spec(), "noise": np.stack(rec.noises) if rec.noises else []}
    case = {
        "id": f"solvers/kdiffusion/adaptive/{idx:03d}",
        "sampler": "dpm_adaptive",
        "source": f"{S.KD_SRC}: k_diffusion.sampling.sample_dpm_adaptive",
        "scaler": "vp",
        "name": name,
        "params": {"sigma_min": sigma_min, "sigma_max": sigma_max, "sampler_kwargs": kwargs},
        "input": inp,
        "output": out,
    }
    return S.enc(case)


ADAPTIVE = [
    # (σ_min, σ_max, sampler kwargs, shape, seed, name)
    (0.03, 14.6, {}, [2, 1, 3, 4], 201, "dpm_adaptive_defaults"),
    (0.03, 14.6, {"order": 2}, [2, 1, 3, 4], 202, "dpm_adaptive_order2"),
    (0.01, 80.0, {"rtol": 0.01, "atol": 0.001}, [3, 5], 203, "dpm_adaptive_tight"),
    (0.05, 20.0, {"rtol": 0.2, "atol": 0.05, "h_init": 0.5}, [2, 6], 204, "dpm_adaptive_loose"),
    (0.03, 14.6, {"pcoeff": 0.3, "icoeff": 0.9, "dcoeff": 0.2, "accept_safety": 0.9}, [2, 6], 205,
     "dpm_adaptive_pid"),
    (0.05, 20.0, {"eta": 1.0}, [2, 1, 3, 4], 206, "dpm_adaptive_eta1"),
    (0.05, 20.0, {"order": 2, "eta": 0.5, "s_noise": 0.8, "rtol": 0.02}, [2, 6], 207,
     "dpm_adaptive_order2_eta05"),
]


def main():
    cases = [run_dpm_fast(i, *c) for i, c in enumerate(CASES)]
    S.dump(os.path.join(HERE, "solvers.json"), cases)
    cases = [run_dpm_adaptive(i, *c) for i, c in enumerate(ADAPTIVE)]
    S.dump(os.path.join(HERE, "adaptive.json"), cases)


if __name__ == "__main__":
    main()
