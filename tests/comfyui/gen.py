"""Golden data for ComfyUI's own k-diffusion samplers (those k-diffusion does not have).

Runs ComfyUI's `sample_gradient_estimation`, `sample_er_sde`, `sample_ipndm`, `sample_ipndm_v`,
`sample_seeds_2`, `sample_seeds_3`, `sample_exp_heun_2_x0(_sde)`, `sample_res_multistep(_ancestral)`,
`sample_heunpp2`, `sample_deis` (with `comfy/k_diffusion/deis.py`'s coefficients), `sample_ddpm`
and `sample_dpmpp_2m_sde_heun` — each function compiled out of
ComfyUI's `comfy/k_diffusion/sampling.py` by name (`ast`), with stubs for the ComfyUI modules
the rest of that file imports — on the analytic `mixture1d` denoiser, and writes
`solvers.json` next to this file in the shared golden `solvers.json` format (read by
`tests/golden_solvers.rs`, or from `GDF_COMFYUI_GOLDEN_DIR`):

    COMFY_SRC=/path/to/ComfyUI /tmp/torchvenv/bin/python tests/comfyui/gen.py

The numbers in the committed file come from the text of these functions in ComfyUI's
`sampling.py` at commit 02159d814dee609acc27994c1bf25fc5b40e2aaa and `deis.py` at commit
561a0d0c62eed7122815abb60c1040ef567f250b (read from stored copies of those files; the whole
repository was too large to fetch, so `COMFY_SRC` pointed at a folder holding just them);
each case's `source` carries the sha256 of the text of every function it ran, so a run on a
real checkout shows whether they differ.

The model is ComfyUI's view of an ε- or v-prediction model (`model_sampling` not `CONST`): the
sampler sees `x_ve = x0 + σ·n` and the denoiser `D(a·x_ve, −2 ln σ)`, exactly as the k-diffusion
cases of `tools/golden2/solvers.py` (whose mixture, grids, encoding and noise replay this
imports). Needs what that file needs (torch 2.15.0, diffusers 0.42.1, numpy, scipy,
`pip install --no-deps k-diffusion==0.1.1.post1`). Deterministic: a re-run gives a
byte-identical file.
"""

import ast
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
SAMPLING_PY = os.path.join(COMFY, "comfy", "k_diffusion", "sampling.py")
FUNCS = [
    "to_d",
    "sigma_to_half_log_snr",
    "half_log_snr_to_sigma",
    "offset_first_sigma_for_snr",
    "sample_gradient_estimation",
    "sample_er_sde",
    "sample_ipndm",
    "sample_ipndm_v",
    "DDPMSampler_step",
    "generic_step_sampler",
    "sample_ddpm",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_2m_sde_heun",
    "ei_h_phi_1",
    "ei_h_phi_2",
    "sample_seeds_2",
    "sample_exp_heun_2_x0",
    "sample_exp_heun_2_x0_sde",
    "sample_seeds_3",
    "get_ancestral_step",
    "res_multistep",
    "sample_res_multistep",
    "sample_res_multistep_ancestral",
    "sample_heunpp2",
    "sample_deis",
]
DEIS_PY = os.path.join(COMFY, "comfy", "k_diffusion", "deis.py")
DEIS_FUNCS = ["edm2t", "cal_poly", "t2alpha_fn", "cal_intergrand", "get_deis_coeff_list"]


class _Const:
    """`comfy.model_sampling.CONST` (flow models); the runs here are not flow models."""


def _no_noise_sampler(_x, seed=None):
    """ComfyUI's `default_noise_sampler`, where a run that draws nothing builds one anyway."""

    def draw(*_a):
        raise RuntimeError("this run was to draw no noise")

    return draw


def _append_dims(x, target_dims):
    return x[(...,) + (None,) * (target_dims - x.ndim)]


def compile_named(path, names, ns, sha):
    """Compiles the functions `names` of the file `path` alone into `ns`; their text's sha256
    into `sha`."""
    text = open(path).read()
    defs = {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
    for name in names:
        node = defs[name]
        seg = ast.get_source_segment(text, node)
        sha[name] = hashlib.sha256(seg.encode()).hexdigest()
        exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), ns)


def load():
    """The named functions of ComfyUI's sampling.py (and deis.py), compiled alone, and their
    text's sha256."""
    comfy = types.SimpleNamespace(
        model_sampling=types.SimpleNamespace(CONST=_Const),
        model_patcher=types.SimpleNamespace(set_model_options_post_cfg_function=None),
    )
    ns = {
        "torch": torch,
        "math": __import__("math"),
        "partial": __import__("functools").partial,
        "comfy": comfy,
        "utils": types.SimpleNamespace(append_dims=_append_dims),
        "trange": lambda n, disable=None: range(n),
        "default_noise_sampler": _no_noise_sampler,
    }
    sha = {}
    dns = {"torch": torch, "np": np}
    compile_named(DEIS_PY, DEIS_FUNCS, dns, sha)
    ns["deis"] = types.SimpleNamespace(**{f: dns[f] for f in DEIS_FUNCS})
    compile_named(SAMPLING_PY, FUNCS, ns, sha)
    return ns, sha


C, SHA = load()


class Eps:
    """ComfyUI's `model_sampling` of an ε-prediction model, as far as these samplers read it."""

    noise_scale = 1.0


class Model:
    """The model object ComfyUI's samplers call: the recorder's denoiser, and the
    `inner_model.model_patcher.get_model_object("model_sampling")` they read. It keeps every
    input: each of these samplers evaluates once per step, on the sample the step starts
    from (their callbacks do not all pass that sample)."""

    def __init__(self, rec):
        self.rec = rec
        self.inputs = []
        self.inner_model = types.SimpleNamespace(
            model_patcher=types.SimpleNamespace(get_model_object=lambda _name: Eps())
        )

    def __call__(self, x, sigma, **_kw):
        self.inputs.append(x.clone())
        return self.rec.model(x, sigma)


DEFAULTS = {
    "gradient_estimation": {"ge_gamma": 2.0},
    "er_sde": {"s_noise": 1.0, "max_stage": 3},
    "ipndm": {"max_order": 4},
    "ipndm_v": {"max_order": 4},
    "ddpm": {},
    "dpmpp_2m_sde_heun": {"eta": 1.0, "s_noise": 1.0},
    "seeds_2": {"eta": 1.0, "s_noise": 1.0, "r": 0.5, "solver_type": "phi_1"},
    "seeds_3": {"eta": 1.0, "s_noise": 1.0, "r_1": 1.0 / 3, "r_2": 2.0 / 3},
    "exp_heun_2_x0": {"solver_type": "phi_2"},
    "exp_heun_2_x0_sde": {"eta": 1.0, "s_noise": 1.0, "solver_type": "phi_2"},
    "res_multistep": {"s_noise": 1.0},
    "res_multistep_ancestral": {"eta": 1.0, "s_noise": 1.0},
    "heunpp2": {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0},
    "deis": {"max_order": 3, "deis_mode": "tab"},
}
RES = ["to_d", "get_ancestral_step", "res_multistep"]
SEEDS = ["sigma_to_half_log_snr", "half_log_snr_to_sigma", "offset_first_sigma_for_snr",
         "ei_h_phi_1", "ei_h_phi_2", "sample_seeds_2"]
USES = {
    "gradient_estimation": ["to_d", "sample_gradient_estimation"],
    "er_sde": ["sigma_to_half_log_snr", "offset_first_sigma_for_snr", "sample_er_sde"],
    "ipndm": ["sample_ipndm"],
    "ipndm_v": ["sample_ipndm_v"],
    "ddpm": ["DDPMSampler_step", "generic_step_sampler", "sample_ddpm"],
    "dpmpp_2m_sde_heun": [
        "sigma_to_half_log_snr",
        "offset_first_sigma_for_snr",
        "sample_dpmpp_2m_sde",
        "sample_dpmpp_2m_sde_heun",
    ],
    "seeds_2": SEEDS,
    "seeds_3": SEEDS[:-1] + ["sample_seeds_3"],
    "exp_heun_2_x0": SEEDS + ["sample_exp_heun_2_x0"],
    "exp_heun_2_x0_sde": SEEDS + ["sample_exp_heun_2_x0_sde"],
    "res_multistep": RES + ["sample_res_multistep"],
    "res_multistep_ancestral": RES + ["sample_res_multistep_ancestral"],
    "heunpp2": ["to_d", "sample_heunpp2"],
    "deis": DEIS_FUNCS + ["sample_deis"],
}
NOISE = {"er_sde", "ddpm", "dpmpp_2m_sde_heun", "seeds_2", "seeds_3", "exp_heun_2_x0_sde",
         "res_multistep", "res_multistep_ancestral"}
# ComfyUI's iPNDM callbacks pass the initial sample; their steps start at the model's inputs.
FROM_INPUTS = {"ipndm", "ipndm_v", "deis"}


def run(idx, sampler, grid, kwargs, shape, seed, name):
    rng = np.random.default_rng(seed)
    model = S.Mixture(rng)
    src = S.Source(rng)
    skw = dict(DEFAULTS[sampler])
    skw.update(kwargs)
    sigmas = S.kd_grid(grid)
    n = len(sigmas) - 1
    logsnr = [S.lam_of_sigma(s) for s in sigmas.tolist()]
    x_init = S.draw_x_init(rng, model, shape, logsnr[0])
    a0, _ = S.ab(logsnr[0])
    x = torch.tensor(x_init) / a0  # x_ve
    rec = S.Recorder(model, src, shape)
    call = dict(skw)
    if sampler in NOISE:
        call["noise_sampler"] = rec.replay
    m = Model(rec)
    churn = {}  # heunpp2: `torch.randn_like` once per step, before its churn

    def randn_like(t, *_a, **_k):
        i = len(churn)
        churn[i] = t.clone()
        if skw["s_churn"] > 0:
            z = src(shape)
            rec.noises.append(z)
            rec.nsteps.append(i)
            return torch.tensor(z)
        return torch.zeros_like(t)

    orig = torch.randn_like
    torch.randn_like = randn_like
    try:
        xf = C["sample_" + sampler](m, x, sigmas, callback=rec.callback, disable=True, **call)
    finally:
        torch.randn_like = orig
    xs = []
    starts = m.inputs if sampler in FROM_INPUTS else churn if sampler == "heunpp2" else rec.starts
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
    if sampler == "heunpp2" and skw["s_churn"] > 0:
        out["churn_gamma"] = [
            min(skw["s_churn"] / n, 2**0.5 - 1) if skw["s_tmin"] <= float(sigmas[i]) <= skw["s_tmax"]
            else 0.0
            for i in range(n)
        ]
    shas = ", ".join(f"{f} {SHA[f][:16]}" for f in USES[sampler])
    case = {
        "id": f"solvers/comfyui/{idx:03d}/{sampler}",
        "sampler": sampler,
        "source": f"ComfyUI comfy/k_diffusion/sampling.py: sample_{sampler} (sha256 {shas})",
        "scaler": "vp",
        "name": name,
        "params": {"grid": grid, "sampler_kwargs": skw},
        "input": inp,
        "output": out,
    }
    return S.enc(case)


def karras(n, lo, hi, rho=7.0):
    return {"kind": "karras", "n": n, "sigma_min": lo, "sigma_max": hi, "rho": rho}


def expo(n, lo, hi):
    return {"kind": "exponential", "n": n, "sigma_min": lo, "sigma_max": hi}


CASES = [
    # (sampler, grid, kwargs, shape, seed, name)
    ("gradient_estimation", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 301, "ge_karras_10"),
    ("gradient_estimation", expo(7, 0.1, 80.0), {}, [2, 5], 302, "ge_exponential_7"),
    ("gradient_estimation", karras(12, 0.02, 20.0), {"ge_gamma": 1.5}, [3, 4], 303, "ge_gamma_1.5"),
    ("gradient_estimation", karras(1, 0.03, 14.6), {}, [2, 3], 304, "ge_one_step"),
    ("er_sde", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 311, "er_sde_karras_10"),
    ("er_sde", expo(8, 0.1, 80.0), {}, [2, 5], 312, "er_sde_exponential_8"),
    ("er_sde", karras(9, 0.02, 20.0), {"max_stage": 2}, [3, 4], 313, "er_sde_stage_2"),
    ("er_sde", karras(9, 0.02, 20.0), {"max_stage": 1, "s_noise": 0.5}, [3, 4], 314, "er_sde_stage_1"),
    ("er_sde", karras(10, 0.03, 14.6), {"s_noise": 0.0}, [2, 6], 315, "er_sde_ode"),
    ("ipndm", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 321, "ipndm_karras_10"),
    ("ipndm", expo(6, 0.1, 80.0), {"max_order": 2}, [2, 5], 322, "ipndm_order_2"),
    ("ipndm", karras(3, 0.05, 10.0), {}, [3, 4], 323, "ipndm_3_steps"),
    ("ipndm_v", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 331, "ipndm_v_karras_10"),
    ("ipndm_v", expo(8, 0.1, 80.0), {"max_order": 3}, [2, 5], 332, "ipndm_v_order_3"),
    ("ipndm_v", karras(12, 0.02, 20.0, 3.0), {}, [3, 4], 333, "ipndm_v_rho_3"),
    ("ddpm", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 341, "ddpm_karras_10"),
    ("ddpm", expo(7, 0.1, 80.0), {}, [2, 5], 342, "ddpm_exponential_7"),
    ("dpmpp_2m_sde_heun", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 351, "2m_sde_heun_karras"),
    ("seeds_2", karras(8, 0.03, 14.6), {}, [2, 1, 3, 4], 361, "seeds_2_karras"),
    ("seeds_2", expo(6, 0.1, 80.0), {"solver_type": "phi_2", "r": 0.4, "eta": 0.5}, [2, 5], 362,
     "seeds_2_phi_2"),
    ("seeds_2", karras(6, 0.05, 10.0), {"eta": 0.0}, [3, 4], 363, "seeds_2_ode"),
    ("seeds_3", karras(8, 0.03, 14.6), {}, [2, 1, 3, 4], 371, "seeds_3_karras"),
    ("seeds_3", expo(5, 0.1, 80.0), {"eta": 0.7, "s_noise": 0.9, "r_1": 0.25, "r_2": 0.6},
     [2, 5], 372, "seeds_3_stages"),
    ("seeds_3", karras(6, 0.05, 10.0), {"s_noise": 0.0}, [3, 4], 373, "seeds_3_ode"),
    ("exp_heun_2_x0", karras(8, 0.03, 14.6), {}, [2, 1, 3, 4], 381, "exp_heun"),
    ("exp_heun_2_x0_sde", karras(8, 0.03, 14.6), {}, [2, 1, 3, 4], 382, "exp_heun_sde"),
    ("res_multistep", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 391, "res_multistep_karras"),
    ("res_multistep", expo(6, 0.1, 80.0), {}, [2, 5], 392, "res_multistep_exponential"),
    ("res_multistep_ancestral", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 393, "res_anc_karras"),
    ("res_multistep_ancestral", expo(7, 0.1, 80.0), {"eta": 0.6, "s_noise": 0.9}, [2, 5], 394,
     "res_anc_eta_0.6"),
    ("heunpp2", karras(8, 0.03, 14.6), {}, [2, 1, 3, 4], 401, "heunpp2_karras"),
    ("heunpp2", expo(4, 0.1, 80.0), {}, [2, 5], 402, "heunpp2_exponential_4"),
    ("heunpp2", karras(2, 0.05, 10.0), {}, [3, 2], 403, "heunpp2_2_steps"),
    ("deis", karras(10, 0.03, 14.6), {}, [2, 1, 3, 4], 411, "deis_karras_10"),
    ("deis", expo(7, 0.1, 80.0), {"max_order": 2}, [2, 5], 412, "deis_order_2"),
    ("deis", karras(12, 0.02, 20.0, 3.0), {"max_order": 4}, [3, 4], 413, "deis_order_4"),
    ("heunpp2", karras(8, 0.03, 14.6), {"s_churn": 3.0, "s_tmin": 0.1, "s_tmax": 5.0,
                                        "s_noise": 1.003}, [2, 6], 404, "heunpp2_churn"),
    ("dpmpp_2m_sde_heun", expo(8, 0.1, 80.0), {"eta": 0.5, "s_noise": 0.8}, [2, 5], 352,
     "2m_sde_heun_eta_0.5"),
]


def main():
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # deis.py prints its coefficients
        cases = [run(i, *c) for i, c in enumerate(CASES)]
    S.dump(os.path.join(HERE, "solvers.json"), cases)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
