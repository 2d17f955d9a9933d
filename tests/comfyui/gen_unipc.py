"""Golden data for ComfyUI's `uni_pc` and `uni_pc_bh2` samplers.

Runs `sample_unipc` and `sample_unipc_bh2` of ComfyUI's `comfy/extra_samplers/uni_pc.py`
(the whole file, compiled alone with `trange` stubbed) on the analytic `mixture1d` denoiser
exactly as `tests/comfyui/gen.py` runs ComfyUI's k-diffusion samplers (the same mixture,
grids, encoding and coordinates: `x_ve = x0 + σ·n`, the denoiser `D(a·x_ve, −2 ln σ)`), and
writes `unipc.json` next to this file in the shared golden `solvers.json` format (read by
`tests/golden_solvers.rs`, or from `GDF_COMFYUI_GOLDEN_DIR`):

    COMFY_SRC=/path/to/ComfyUI COMFY_COMMIT=<sha> /tmp/torchvenv/bin/python tests/comfyui/gen_unipc.py

ComfyUI's UniPC steps to σ = 0.001 where the grid ends at 0 (it overwrites the last σ), so
each case's `input.logsnr` ends at `−2·ln 0.001`; the order is `min(3, steps − 1)`, with
`lower_order_final` and the corrector on every step but the last. The sample after each step
is the model's next input (the predictor's output, before that step's corrector: where the
shared format's UniPC cases record it), the last one the returned sample. Needs what
`tools/golden2/solvers.py` needs (torch 2.15.0, diffusers 0.42.1, numpy, scipy,
`pip install --no-deps k-diffusion==0.1.1.post1`). Deterministic.
"""

import hashlib
import os
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "golden2"))
import solvers as S  # noqa: E402  (float64 default, one thread, the mixture and the encoding)

COMFY = os.environ.get("COMFY_SRC")
if not COMFY:
    sys.exit("set COMFY_SRC to a ComfyUI checkout")
UNIPC_PY = os.path.join(COMFY, "comfy", "extra_samplers", "uni_pc.py")
TEXT = open(UNIPC_PY).read()
SHA = hashlib.sha256(TEXT.encode()).hexdigest()
COMMIT = os.environ.get("COMFY_COMMIT", "unknown")

# The module alone: `tqdm.auto.trange` is its only import outside torch and the standard
# library.
sys.modules.setdefault("tqdm", types.ModuleType("tqdm"))
_auto = types.ModuleType("tqdm.auto")
_auto.trange = lambda n, disable=None: range(n)
sys.modules["tqdm.auto"] = _auto
U = {}
exec(compile(TEXT, UNIPC_PY, "exec"), U)


class Model:
    """The model ComfyUI's UniPC calls (`model(x_ve, σ)` → denoised), keeping its inputs."""

    def __init__(self, rec):
        self.rec = rec
        self.inputs = []

    def __call__(self, x, sigma, **_kw):
        self.inputs.append(x.clone())
        return self.rec.model(x, sigma)


def run(idx, sampler, grid, shape, seed, name):
    rng = np.random.default_rng(seed)
    model = S.Mixture(rng)
    src = S.Source(rng)
    sigmas = S.kd_grid(grid)
    lam_sigmas = sigmas.clone()
    if float(lam_sigmas[-1]) == 0.0:
        lam_sigmas[-1] = 0.001  # what ComfyUI's sample_unipc steps to
    logsnr = [S.lam_of_sigma(s) for s in lam_sigmas.tolist()]
    x_init = S.draw_x_init(rng, model, shape, S.lam_of_sigma(float(sigmas[0])))
    a0, _ = S.ab(logsnr[0])
    x = torch.tensor(x_init) / a0  # x_ve
    rec = S.Recorder(model, src, shape, starts=False)
    m = Model(rec)
    fn = U["sample_unipc"] if sampler == "uni_pc" else U["sample_unipc_bh2"]
    xf = fn(m, x, sigmas.clone(), extra_args={}, callback=None, disable=True)
    source = (f"ComfyUI {COMMIT[:12]} comfy/extra_samplers/uni_pc.py (sha256 {SHA[:16]}): "
              f"sample_unipc{'_bh2' if sampler == 'uni_pc_bh2' else ''}")
    return case(idx, sampler, source, name, {"grid": grid, "sampler_kwargs": {}},
                rec, m.inputs, xf, logsnr, x_init, model)


def case(idx, sampler, source, name, params, rec, starts, xf, logsnr, x_init, model):
    """A case in the shared format: the sample after each step (`starts[i + 1]`, the one the
    next step starts from, as x_ve; the returned `xf` last) in gdf's frame, every evaluation's
    denoised and logSNR, and the recorder's noise with its steps."""
    n = len(logsnr) - 1
    xs = []
    for i in range(n):
        xv = starts[i + 1] if i + 1 < n else xf
        a, _ = S.ab(logsnr[i + 1])
        xs.append((a * xv).numpy())
    out = {
        "x": np.stack(xs),
        "denoised": torch.stack(rec.den).numpy(),
        "eval_logsnr": rec.lams,
        "calls": len(rec.lams),
    }
    inp = {"logsnr": logsnr, "x_init": x_init, "model": model.spec()}
    if rec.noises:
        inp["noise"] = np.stack(rec.noises)
        out["noise_step"] = rec.nsteps
    return S.enc({
        "id": f"solvers/comfyui/{idx:03d}/{sampler}",
        "sampler": sampler,
        "source": source,
        "scaler": "vp",
        "name": name,
        "params": params,
        "input": inp,
        "output": out,
    })


def karras(n, lo, hi, rho=7.0):
    return S.karras(n, lo, hi, rho)


expo = S.expo


CASES = [
    # (sampler, grid, shape, seed, name)
    ("uni_pc", karras(10, 0.03, 14.6), [2, 1, 3, 4], 501, "uni_pc_karras_10"),
    ("uni_pc", expo(7, 0.1, 80.0), [2, 5], 502, "uni_pc_exponential_7"),
    ("uni_pc", karras(3, 0.05, 10.0), [3, 4], 503, "uni_pc_3_steps"),
    ("uni_pc", karras(2, 0.05, 10.0), [3, 2], 504, "uni_pc_2_steps"),
    ("uni_pc_bh2", karras(10, 0.03, 14.6), [2, 1, 3, 4], 511, "uni_pc_bh2_karras_10"),
    ("uni_pc_bh2", expo(8, 0.1, 80.0), [2, 5], 512, "uni_pc_bh2_exponential_8"),
    ("uni_pc_bh2", karras(4, 0.02, 20.0, 3.0), [3, 4], 513, "uni_pc_bh2_4_steps"),
]


def main():
    cases = [run(i, *c) for i, c in enumerate(CASES)]
    S.dump(os.path.join(HERE, "unipc.json"), cases)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
