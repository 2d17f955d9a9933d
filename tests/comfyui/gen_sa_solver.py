"""Golden data for ComfyUI's `sa_solver` and `sa_solver_pece` (its SA-Solver,
`comfy/k_diffusion/sa_solver.py`).

Runs `sample_sa_solver` (compiled by name out of ComfyUI's `comfy/k_diffusion/sampling.py`,
with `offset_first_sigma_for_snr`, `sigma_to_half_log_snr` and the whole `sa_solver.py`) on
the analytic `mixture1d` denoiser as `tests/comfyui/gen_unipc.py` runs UniPC (the same
mixture, grids, encoding and coordinates), with ComfyUI's `ModelSamplingDiscrete` of
Stable Diffusion (compiled out of `comfy/model_sampling.py`) as the model's sampling, which
sets SA-Solver's τ window (τ = 1 between its σ at 20 % and 80 % of sampling), and the noise
replayed from the recorder. Writes `sa_solver.json` next to this file in the shared golden
`solvers.json` format (read by `tests/golden_solvers.rs`, or from `GDF_COMFYUI_GOLDEN_DIR`):

    COMFY_SRC=/path/to/ComfyUI COMFY_COMMIT=<sha> /tmp/torchvenv/bin/python tests/comfyui/gen_sa_solver.py

The sample after each step is the one the next step starts from (the callback's: the
predictor's output, before the next step's corrector), the last one the returned sample.
`sa_solver_pece` is `sample_sa_solver` with `use_pece=True`. Deterministic.
"""

import ast
import hashlib
import math
import os
import types

import numpy as np
import torch

import gen_unipc as G  # noqa: E402  (COMFY_SRC, the helpers, the mixture through S)

S = G.S
SAMPLING_PY = os.path.join(G.COMFY, "comfy", "k_diffusion", "sampling.py")
SA_PY = os.path.join(G.COMFY, "comfy", "k_diffusion", "sa_solver.py")
MS_PY = os.path.join(G.COMFY, "comfy", "model_sampling.py")
UTIL_PY = os.path.join(G.COMFY, "comfy", "ldm", "modules", "diffusionmodules", "util.py")


def compile_named(path, names, ns, sha):
    text = open(path).read()
    nodes = {n.name: n for n in ast.parse(text).body
             if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for name in names:
        seg = ast.get_source_segment(text, nodes[name])
        sha[name] = hashlib.sha256(seg.encode()).hexdigest()
        exec(compile(ast.Module(body=[nodes[name]], type_ignores=[]), path, "exec"), ns)


class _Const:
    """`comfy.model_sampling.CONST` (flow models); these runs are ε-models."""


SHA = {}
SA = {}
SA_TEXT = open(SA_PY).read()
SHA["sa_solver.py"] = hashlib.sha256(SA_TEXT.encode()).hexdigest()
exec(compile(SA_TEXT, SA_PY, "exec"), SA)
MS = {"torch": torch, "math": math, "np": np}
compile_named(UTIL_PY, ["make_beta_schedule"], MS, SHA)
compile_named(MS_PY, ["ModelSamplingDiscrete"], MS, SHA)
NS = {
    "torch": torch,
    "math": math,
    "trange": lambda n, disable=None: range(n),
    "sa_solver": types.SimpleNamespace(**{k: v for k, v in SA.items() if callable(v)}),
    "comfy": types.SimpleNamespace(model_sampling=types.SimpleNamespace(CONST=_Const)),
    "default_noise_sampler": None,
}
compile_named(SAMPLING_PY, ["offset_first_sigma_for_snr", "sigma_to_half_log_snr",
                            "sample_sa_solver"], NS, SHA)
SD = MS["ModelSamplingDiscrete"]()  # Stable Diffusion's table


class Model(G.Model):
    """The model ComfyUI's sampler calls, with the `model_sampling` it reads."""

    def __init__(self, rec):
        super().__init__(rec)
        self.inner_model = types.SimpleNamespace(
            model_patcher=types.SimpleNamespace(get_model_object=lambda _name: SD)
        )


DEFAULTS = {"s_noise": 1.0, "predictor_order": 3, "corrector_order": 4,
            "simple_order_2": False}
PECE = "use_pece"  # a case kwarg: run sample_sa_solver_pece's mode


def run(idx, grid, kwargs, shape, seed, name):
    rng = np.random.default_rng(seed)
    model = S.Mixture(rng)
    src = S.Source(rng)
    skw = dict(DEFAULTS)
    skw.update(kwargs)
    sampler = "sa_solver_pece" if skw.get(PECE) else "sa_solver"
    sigmas = S.kd_grid(grid)
    logsnr = [S.lam_of_sigma(s) for s in sigmas.tolist()]
    x_init = S.draw_x_init(rng, model, shape, logsnr[0])
    a0, _ = S.ab(logsnr[0])
    x = torch.tensor(x_init) / a0  # x_ve
    rec = S.Recorder(model, src, shape)
    m = Model(rec)
    pece = skw.pop(PECE, False)
    xf = NS["sample_sa_solver"](m, x, sigmas.clone(), extra_args={}, callback=rec.callback,
                                disable=True, noise_sampler=rec.replay, use_pece=pece, **skw)
    window = [SD.percent_to_sigma(0.2), SD.percent_to_sigma(0.8)]
    shas = ", ".join(f"{k} {v[:16]}" for k, v in SHA.items())
    source = (f"ComfyUI {G.COMMIT[:12]} comfy/k_diffusion/sampling.py: sample_sa_solver "
              f"(sha256 {shas})")
    params = {"grid": grid, "sampler_kwargs": dict(skw, model_sampling="sd", tau_window=window)}
    # The samples the steps start from: the callback's, before a PECE correction.
    return G.case(idx, sampler, source, name, params, rec, rec.starts, xf, logsnr, x_init,
                  model)


CASES = [
    # (grid, kwargs, shape, seed, name)
    (G.karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 601, "sa_karras_10"),
    (G.expo(8, 0.1, 14.6), {}, [2, 5], 602, "sa_exponential_8"),
    (G.karras(12, 0.03, 14.6), {"predictor_order": 2, "corrector_order": 2,
                                "simple_order_2": True}, [3, 4], 603, "sa_simple_order_2"),
    (G.karras(9, 0.03, 14.6), {"predictor_order": 1, "corrector_order": 0, "s_noise": 0.7},
     [2, 6], 604, "sa_order_1_no_corrector"),
    (G.karras(3, 0.05, 10.0), {}, [3, 2], 605, "sa_3_steps"),
    (G.karras(14, 0.03, 14.6), {"predictor_order": 2, "corrector_order": 3, "s_noise": 0.0},
     [2, 5], 606, "sa_ode"),
    (G.karras(10, 0.03, 14.6), {PECE: True}, [2, 1, 3, 4], 607, "sa_pece_karras_10"),
    (G.expo(7, 0.1, 14.6), {PECE: True, "predictor_order": 2, "corrector_order": 2,
                            "simple_order_2": True}, [2, 5], 608, "sa_pece_simple"),
]


def main():
    cases = [run(i, *c) for i, c in enumerate(CASES)]
    S.dump(os.path.join(G.HERE, "sa_solver.json"), cases)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
