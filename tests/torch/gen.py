"""Golden data for `gdf::interop::torch` (tests/torch_randn.rs): torch's CPU generator.

Run with the venv of tests/diffusers (torch 2.15.0):
    python tests/torch/gen.py > tests/torch/golden.json                  # x86 (AVX2/AVX-512)
    ATEN_CPU_CAPABILITY=default python tests/torch/gen.py > tests/torch/portable.json

Each case seeds a fresh `torch.Generator()` and makes successive `torch.randn` calls on it
(sizes below 16 take torch's serial double-precision path and share its cached normal; other
sizes the 16-wide Box–Muller, with the redrawn tail when not a multiple of 16), recording every
value (float32 values are exact in JSON's doubles).

`pipelines`: a seeded scheduler loop as a diffusers pipeline runs it: latents
`randn_tensor(shape, generator=g) · init_noise_sigma`, then per step the model on
`scale_model_input(latents, t)` and `scheduler.step(…, generator=g)`, all in float32. The model
is `ε = 0.3·x_in + w` with `w_i = (i·37 mod 101)/50 − 1` rounded to float32.
"""
import json, sys
import numpy as np
import torch
from diffusers import (DDPMScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler)

SD15 = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000, "steps_offset": 1, "clip_sample": False,
        "set_alpha_to_one": False, "skip_prk_steps": True}
PIPELINES = [
    # (id, class, extra config, seed, steps, shape)
    ("ddpm", DDPMScheduler, {}, 31, 8, (2, 4, 4, 4)),
    ("euler_ancestral", EulerAncestralDiscreteScheduler, {}, 32, 8, (2, 4, 4, 4)),
    ("sde_dpmsolver", DPMSolverMultistepScheduler,
     {"algorithm_type": "sde-dpmsolver++"}, 33, 8, (1, 4, 4, 4)),
    ("euler_ancestral_small", EulerAncestralDiscreteScheduler, {}, 34, 5, (1, 2, 2, 2)),
]


def pipeline(pid, cls, extra, seed, steps, shape):
    config = {"_class_name": cls.__name__, **SD15, **extra}
    s = cls.from_config(config)
    s.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    w = torch.from_numpy(np.array([(i * 37 % 101) / 50.0 - 1.0 for i in range(n)],
                                  dtype=np.float32).reshape(shape))
    latents = torch.randn(shape, generator=g, dtype=torch.float32) * s.init_noise_sigma
    for t in s.timesteps:
        x_in = s.scale_model_input(latents, t)
        eps = 0.3 * x_in + w
        latents = s.step(eps, t, latents, generator=g).prev_sample
    return {"id": pid, "config": config, "seed": seed, "steps": steps, "shape": list(shape),
            "x": latents.reshape(-1).to(torch.float64).tolist()}

CASES = [
    # (seed, dtype, sizes of the successive calls)
    (0, "float32", [16]),
    (42, "float32", [64]),
    (1234, "float32", [37, 16, 100]),
    (2**32 + 5, "float32", [48]),           # torch keeps the low 32 bits
    (2024, "float32", [3, 5, 20, 1, 7]),    # serial path, its cache, then a fill, then serial
    (99, "float32", [1 * 4 * 16 * 16]),     # a latent
    (5, "float16", [33]),
    (6, "bfloat16", [40]),
    (11, "float64", [16, 50, 9]),
    (12, "float64", [5, 1000]),
]

def main():
    cap = torch.backends.cpu.get_cpu_capability()
    out = {"torch": torch.__version__, "cpu_capability": cap, "cases": []}
    for seed, dtype, sizes in CASES:
        g = torch.Generator().manual_seed(seed)
        calls = []
        for n in sizes:
            t = torch.randn(n, generator=g, dtype=getattr(torch, dtype))
            calls.append(t.to(torch.float64).tolist())
        out["cases"].append({"seed": seed, "dtype": dtype, "sizes": sizes, "calls": calls})
    out["pipelines"] = [pipeline(*p) for p in PIPELINES]
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")

main()
