#!/usr/bin/env python
"""Hidden-style solvers.json / spacings.json generator (k-diffusion 0.1.1.post1, diffusers 0.42.1).

Usage: gen.py OUTDIR [main|extras]

Follows ../shared/golden/README.md ("Modern samplers, spacings and guidance"): torch default
dtype float64, one thread, seeded numpy inputs, shortest-repr floats, non-finite as strings,
ids "<file>/hidden/<index>/<component>", replaying noise samplers for the SDE samplers.
"""
import hashlib
import importlib.util
import json
import math
import os
import sys
import types

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

# This machine's torch (AVX512 on AMD EPYC) computes float32 sqrt / **0.5 with up to 1 ulp
# error; the reference machine's were correctly rounded (the public SD tables match numpy's
# float32 sqrt bit for bit, and do not match this torch). Emulate correct rounding for float32
# tensors so the float32 diffusers tables are the ones the reference tool would produce.
_orig_pow = torch.Tensor.__pow__
_orig_sqrt_m = torch.Tensor.sqrt
_orig_sqrt_f = torch.sqrt


def _cr_pow(self, e):
    if isinstance(e, float) and e == 0.5 and self.dtype == torch.float32:
        return _orig_sqrt_m(self.double()).float()
    return _orig_pow(self, e)


def _cr_sqrt_m(self):
    if self.dtype == torch.float32:
        return _orig_sqrt_m(self.double()).float()
    return _orig_sqrt_m(self)


def _cr_sqrt_f(t, *a, **k):
    if isinstance(t, torch.Tensor) and t.dtype == torch.float32 and not a and not k:
        return _orig_sqrt_m(t.double()).float()
    return _orig_sqrt_f(t, *a, **k)


if os.environ.get("GEN_NATIVE_SQRT") != "1":
    torch.Tensor.__pow__ = _cr_pow
    torch.Tensor.sqrt = _cr_sqrt_m
    torch.sqrt = _cr_sqrt_f

import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
import diffusers.schedulers.scheduling_euler_discrete as _eul_mod  # noqa: E402
import diffusers.schedulers.scheduling_flow_match_euler_discrete as _flow_mod  # noqa: E402


# ---------------------------------------------------------------- k-diffusion by path
_spec = importlib.util.find_spec("k_diffusion")
KD_DIR = list(_spec.submodule_search_locations)[0]
SAMPLING_PY = os.path.join(KD_DIR, "sampling.py")
SHA = "4c5c2d92ddc2a07f9964440979430908d47a09634ac79f4a4e97c4f4682560bc"
assert hashlib.sha256(open(SAMPLING_PY, "rb").read()).hexdigest() == SHA, "sampling.py sha256 mismatch"

# Stubs for imports sampling.py makes but these runs never exercise.
sys.modules.setdefault("torchdiffeq", types.SimpleNamespace(odeint=None))
sys.modules.setdefault("torchsde", types.SimpleNamespace(BrownianTree=None))
_pkg = types.ModuleType("k_diffusion")
_pkg.__path__ = [KD_DIR]
_utils = types.ModuleType("k_diffusion.utils")


def _append_dims(x, target_dims):
    dims_to_append = target_dims - x.ndim
    return x[(...,) + (None,) * dims_to_append]


_utils.append_dims = _append_dims
_pkg.utils = _utils
sys.modules["k_diffusion"] = _pkg
sys.modules["k_diffusion.utils"] = _utils
_s = importlib.util.spec_from_file_location("k_diffusion.sampling", SAMPLING_PY)
K = importlib.util.module_from_spec(_s)
sys.modules["k_diffusion.sampling"] = K
_s.loader.exec_module(K)

assert diffusers.__version__ == "0.42.1", diffusers.__version__
KD_SRC = "k-diffusion 0.1.1.post1"
DF_SRC = "diffusers 0.42.1"
CLS = {
    "EulerDiscreteScheduler": EulerDiscreteScheduler,
    "DPMSolverMultistepScheduler": DPMSolverMultistepScheduler,
    "UniPCMultistepScheduler": UniPCMultistepScheduler,
    "FlowMatchEulerDiscreteScheduler": FlowMatchEulerDiscreteScheduler,
}
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000)

# ---------------------------------------------------------------- encoding


def enc(v):
    """Python/numpy/torch value -> JSON-ready value (README encoding)."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        if v.ndim == 1:
            return [enc(x) for x in v.tolist()]
        return {"shape": list(v.shape), "data": [enc(x) for x in v.reshape(-1).tolist()]}
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    return v


def dump(path, cases):
    with open(path, "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, allow_nan=False) for c in cases))
        f.write("\n]\n")


# ---------------------------------------------------------------- model


class Mixture:
    def __init__(self, rng, spec=None):
        if spec is not None:
            pi, mu, s = (np.array(spec[k], dtype=np.float64) for k in ("pi", "mu", "s"))
        else:
            k = int(rng.integers(2, 4))
            pi = rng.dirichlet(np.full(k, 2.0))
            mu = np.sort(rng.uniform(-1.8, 1.8, size=k))
            s = rng.uniform(0.15, 0.9, size=k)
        self.pi, self.mu, self.s = pi, mu, s
        self.tpi = torch.tensor(pi)
        self.tmu = torch.tensor(mu)
        self.ts = torch.tensor(s)

    def spec(self):
        return {"kind": "mixture1d", "pi": self.pi.tolist(), "mu": self.mu.tolist(), "s": self.s.tolist()}

    def sample_x0(self, rng, shape):
        n = int(np.prod(shape))
        comp = rng.choice(len(self.pi), size=n, p=self.pi)
        z = rng.standard_normal(n)
        return (self.mu[comp] + self.s[comp] * z).reshape(shape)

    def D(self, x, lam):
        """Posterior mean for a VP input x (float64 tensor) at logSNR lam (float)."""
        lt = torch.tensor(float(lam))
        a2 = torch.sigmoid(lt)
        b2 = torch.sigmoid(-lt)
        a = a2.sqrt()
        xe = x.unsqueeze(-1)
        var = a2 * self.ts**2 + b2
        logit = self.tpi.log() - (xe - a * self.tmu) ** 2 / (2 * var) - 0.5 * var.log()
        r = torch.softmax(logit, dim=-1)
        return (r * (self.tmu + a * self.ts**2 * (xe - a * self.tmu) / var)).sum(-1)


def ab(lam):
    """(a, b) of the VP scaler at logSNR lam (handles +-inf)."""
    if lam == math.inf:
        return 1.0, 0.0
    if lam == -math.inf:
        return 0.0, 1.0
    a2 = 1.0 / (1.0 + math.exp(-lam))
    b2 = 1.0 / (1.0 + math.exp(lam))
    return math.sqrt(a2), math.sqrt(b2)


def lam_of_sigma(s):
    s = float(s)
    return math.inf if s == 0.0 else float(-2.0 * np.log(np.float64(s)))


def lam_of_flow(s):
    s = float(s)
    if s == 1.0:
        return -math.inf
    if s == 0.0:
        return math.inf
    return float(2.0 * (np.log(np.float64(1.0 - s)) - np.log(np.float64(s))))


def draw_x_init(rng, model, shape, lam0):
    x0 = model.sample_x0(rng, shape)
    n = rng.standard_normal(shape)
    a, b = ab(lam0)
    return a * x0 + b * n


# ---------------------------------------------------------------- k-diffusion runs

KD_DEFAULTS = {
    "euler": {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0},
    "heun": {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0},
    "dpm_2": {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0},
    "euler_ancestral": {"eta": 1.0, "s_noise": 1.0},
    "dpm_2_ancestral": {"eta": 1.0, "s_noise": 1.0},
    "dpmpp_2s_ancestral": {"eta": 1.0, "s_noise": 1.0},
    "lms": {"order": 4},
    "dpmpp_sde": {"eta": 1.0, "s_noise": 1.0, "r": 0.5},
    "dpmpp_2m": {},
    "dpmpp_2m_sde": {"eta": 1.0, "s_noise": 1.0, "solver_type": "midpoint"},
    "dpmpp_3m_sde": {"eta": 1.0, "s_noise": 1.0},
}
CHURN = {"euler", "heun", "dpm_2"}
NOISE_SAMPLER = {"euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"}


def kd_grid(grid):
    g = dict(grid)
    kind = g.pop("kind")
    n = g.pop("n")
    return getattr(K, "get_sigmas_" + kind)(n, **g)


class Recorder:
    """The k-diffusion model wrapper and hooks a run records through: `model(x_ve, σ)` (the
    mixture's denoiser at the VP input, every call's denoised and logSNR), `callback` (the
    step index and, with `starts`, the x_ve each step starts from) and `replay` (a noise
    sampler returning the source's normals, recorded with their step)."""

    def __init__(self, model, src, shape, starts=True):
        self.mix, self.src, self.shape, self.keep = model, src, shape, starts
        self.den, self.lams, self.noises, self.nsteps = [], [], [], []
        self.starts = {}  # step -> x_ve carried into it (pre-churn)
        self.i = -1

    def model(self, xv, sig):
        s = float(sig[0])
        lam = -2.0 * math.log(s)
        a = (1.0 / (1.0 + s * s)) ** 0.5
        d = self.mix.D(a * xv, lam)
        self.den.append(d.clone())
        self.lams.append(lam)
        return d

    def callback(self, info):
        self.i = info["i"]
        if self.keep:
            self.starts[info["i"]] = info["x"].clone()

    def replay(self, *_a):
        z = self.src(self.shape)
        self.noises.append(z)
        self.nsteps.append(self.i)
        return torch.tensor(z)


def run_kdiff(idx, sampler, grid, kwargs, shape, seed, name, note=None, given=None):
    rng = np.random.default_rng(seed)
    model = Mixture(rng, given and given["model"])
    src = Source(rng, given and given.get("noise"))
    skw = dict(KD_DEFAULTS[sampler])
    skw.update(kwargs)
    sigmas = kd_grid(grid)
    N = len(sigmas) - 1
    logsnr = [lam_of_sigma(s) for s in sigmas.tolist()]
    x_init = draw_x_init(rng, model, shape, logsnr[0]) if given is None else given["x_init"]
    a0, _ = ab(logsnr[0])
    x = torch.tensor(x_init) / a0  # x_ve

    rec = Recorder(model, src, shape, starts=sampler not in CHURN)
    den, lams, starts, noises, nsteps = rec.den, rec.lams, rec.starts, rec.noises, rec.nsteps

    churn_calls = {"k": 0}
    orig_randn_like = torch.randn_like

    def randn_like_churn(t, *a, **k):
        i = churn_calls["k"]
        churn_calls["k"] += 1
        starts[i] = t.clone()
        if skw["s_churn"] > 0:
            z = src(shape)
            noises.append(z)
            nsteps.append(i)
            return torch.tensor(z)
        return torch.zeros_like(t)

    fn = getattr(K, "sample_" + sampler)
    call = dict(skw)
    if sampler in NOISE_SAMPLER:
        call["noise_sampler"] = rec.replay
    if sampler in CHURN:
        torch.randn_like = randn_like_churn
    try:
        xf = fn(rec.model, x, sigmas, callback=rec.callback, disable=True, **call)
    finally:
        torch.randn_like = orig_randn_like
    xs = []
    for i in range(N):
        xv = starts[i + 1] if i + 1 < N else xf
        a, _ = ab(logsnr[i + 1])
        xs.append((a * xv).numpy())
    out = {
        "x": np.stack(xs),
        "denoised": torch.stack(den).numpy(),
        "eval_logsnr": lams,
        "calls": len(lams),
    }
    inp = {"logsnr": logsnr, "x_init": x_init, "model": model.spec()}
    if noises:
        inp["noise"] = np.stack(noises)
        out["noise_step"] = nsteps
    if sampler in CHURN and skw["s_churn"] > 0:
        g = []
        for i in range(N):
            si = float(sigmas[i])
            g.append(min(skw["s_churn"] / N, 2**0.5 - 1) if skw["s_tmin"] <= si <= skw["s_tmax"] else 0.0)
        out["churn_gamma"] = g
    case = {
        "id": f"solvers/hidden/{idx:03d}/{sampler}",
        "sampler": sampler,
        "source": f"{KD_SRC}: k_diffusion.sampling.sample_{sampler}",
        "scaler": "vp",
        "name": name,
    }
    if note:
        case["note"] = note
    case["params"] = {"grid": grid, "sampler_kwargs": skw}
    case["input"] = inp
    case["output"] = out
    return enc(case)


# ---------------------------------------------------------------- diffusers runs

_orig_to = torch.Tensor.to


def _to_nocast(self, *args, **kwargs):
    dt = kwargs.get("dtype")
    if dt is None:
        for a in args:
            if isinstance(a, torch.dtype):
                dt = a
    if dt == torch.float32 and self.dtype == torch.float64:
        args = tuple(a for a in args if not isinstance(a, torch.dtype))
        kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        if not args and not kwargs:
            return self
        return _orig_to(self, *args, **kwargs)
    return _orig_to(self, *args, **kwargs)


class Source:
    """Standard normals: drawn from rng, or replayed from given recorded noise."""

    def __init__(self, rng, given=None):
        self.rng = rng
        self.given = None if given is None else list(given)

    def __call__(self, shape):
        if self.given is not None:
            return np.array(self.given.pop(0)).reshape(shape)
        return self.rng.standard_normal(shape)


def unarr(v):
    if isinstance(v, dict):
        return np.array([float(x) for x in v["data"]]).reshape(v["shape"])
    return np.array([float(x) for x in v])


class NoCast:
    def __enter__(self):
        torch.Tensor.to = _to_nocast

    def __exit__(self, *a):
        torch.Tensor.to = _orig_to


def make_scheduler(name, overrides):
    cls = CLS[name]
    kw = {}
    if name != "FlowMatchEulerDiscreteScheduler":
        kw.update(SD)
    kw.update(overrides)
    sch = cls(**kw)
    cfg = {k: v for k, v in dict(sch.config).items() if not k.startswith("_")}
    cfg = {k: cfg[k] for k in sorted(cfg)}
    return sch, cfg


def calculate_shift(image_seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    b = base_shift - m * base_seq_len
    return image_seq_len * m + b


def run_diffusers(idx, name, overrides, set_ts, shape, seed, label, step_kwargs=None, note=None, given=None):
    rng = np.random.default_rng(seed)
    model = Mixture(rng, given and given["model"])
    src = Source(rng, given and given.get("noise"))
    overrides = dict(overrides)
    overrides.setdefault("prediction_type", "sample") if name != "FlowMatchEulerDiscreteScheduler" else None
    sch, cfg = make_scheduler(name, overrides)
    sch.set_timesteps(**set_ts)
    sch.sigmas = sch.sigmas.to(torch.float64)
    flow = name == "FlowMatchEulerDiscreteScheduler"
    sig = sch.sigmas.tolist()
    N = len(sch.timesteps)
    sig = sig[: N + 1]
    logsnr = [lam_of_flow(s) if flow else lam_of_sigma(s) for s in sig]
    if flow:
        assert logsnr[0] == -math.inf, "flow grid not starting at s = 1"
    x_init = draw_x_init(rng, model, shape, logsnr[0]) if given is None else given["x_init"]

    def to_space(x_vp, i):  # stored x_init -> scheduler variable at grid point i
        if flow:
            return x_vp  # stored in lerp space already (and lambda_0 = -inf: a = 0, b = 1)
        if name == "EulerDiscreteScheduler":
            return x_vp * math.sqrt(1 + sig[i] ** 2)
        return x_vp

    def to_vp(x, i):  # scheduler variable -> stored scaler space ("lerp" for flow, else VP)
        if flow:
            return x
        if name == "EulerDiscreteScheduler":
            return x / math.sqrt(1 + sig[i] ** 2)
        return x

    sample = to_space(torch.tensor(x_init), 0)
    den, lams, xs, orders, corr, noises, nsteps = [], [], [], [], [], [], []
    cur = {"i": 0}

    def replay_randn(shape_, *a, **k):
        z = src(tuple(shape_))
        noises.append(z)
        nsteps.append(cur["i"])
        return torch.tensor(z)

    saved = (_eul_mod.randn_tensor, _flow_mod.randn_tensor)
    _eul_mod.randn_tensor = replay_randn
    _flow_mod.randn_tensor = replay_randn
    last_order = {"o": None}
    if name == "DPMSolverMultistepScheduler":
        for o, fname in [(1, "dpm_solver_first_order_update"), (2, "multistep_dpm_solver_second_order_update"),
                         (3, "multistep_dpm_solver_third_order_update")]:
            f = getattr(sch, fname)

            def wrap(*a, _f=f, _o=o, **k):
                last_order["o"] = _o
                return _f(*a, **k)

            setattr(sch, fname, wrap)
    if name == "UniPCMultistepScheduler":
        fc = sch.multistep_uni_c_bh_update

        def wrapc(*a, **k):
            r = fc(*a, **k)
            corr.append(r.clone())
            return r

        sch.multistep_uni_c_bh_update = wrapc
    try:
        for i in range(N):
            cur["i"] = i
            t = sch.timesteps[i]
            lam = logsnr[i]
            if flow:
                s = sig[i]
                D = model.D(sample / math.sqrt((1 - s) ** 2 + s**2), lam)
                out_m = (sample - D) / s
            elif name == "EulerDiscreteScheduler":
                D = model.D(sch.scale_model_input(sample, t), lam)
                out_m = D
            else:
                D = model.D(sample, lam)
                out_m = D
            den.append(D.clone())
            lams.append(lam)
            kw = dict(step_kwargs or {})
            if name == "DPMSolverMultistepScheduler" and cfg["algorithm_type"] == "sde-dpmsolver++":
                z = src(shape)
                noises.append(z)
                nsteps.append(i)
                kw["variance_noise"] = torch.tensor(z)
            with NoCast():
                sample = sch.step(out_m, t, sample, **kw).prev_sample
            assert sample.dtype == torch.float64
            xs.append(to_vp(sample, i + 1).numpy())
            if name == "UniPCMultistepScheduler":
                orders.append(int(sch.this_order))
            elif name == "DPMSolverMultistepScheduler":
                orders.append(last_order["o"])
    finally:
        _eul_mod.randn_tensor, _flow_mod.randn_tensor = saved
    out = {
        "x": np.stack(xs),
        "denoised": torch.stack(den).numpy(),
        "eval_logsnr": lams,
        "calls": len(lams),
    }
    inp = {"logsnr": logsnr, "x_init": x_init, "model": model.spec()}
    if name in ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler"):
        out["order"] = orders
    if noises:
        inp["noise"] = np.stack(noises)
        out["noise_step"] = nsteps
    if name == "EulerDiscreteScheduler" and step_kwargs and step_kwargs.get("s_churn", 0) > 0:
        g = []
        for i in range(N):
            si = sig[i]
            g.append(min(step_kwargs["s_churn"] / (len(sch.sigmas) - 1), 2**0.5 - 1)
                     if step_kwargs["s_tmin"] <= si <= step_kwargs["s_tmax"] else 0.0)
        out["churn_gamma"] = g
    if name == "UniPCMultistepScheduler":
        out["x_corrected"] = torch.stack(corr).numpy() if corr else np.zeros((0,) + tuple(shape))
    ts = sch.timesteps.tolist()
    out["timesteps"] = [int(t) for t in ts] if name in ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler") else [float(t) for t in ts]
    case = {
        "id": f"solvers/hidden/{idx:03d}/{name}",
        "sampler": name,
        "source": f"{DF_SRC}: {name}",
        "scaler": "lerp" if flow else "vp",
        "name": label,
    }
    if note:
        case["note"] = note
    params = {"scheduler_config": cfg, "set_timesteps": set_ts}
    if name == "EulerDiscreteScheduler":
        params["step_kwargs"] = dict(step_kwargs or {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0})
    case["params"] = params
    case["input"] = inp
    case["output"] = out
    return enc(case)


# ---------------------------------------------------------------- spacings


def spacing_kd(idx, kind, params):
    fn = getattr(K, "get_sigmas_" + kind)
    sig = fn(**params)
    case = {
        "id": f"spacings/hidden/{idx:03d}/get_sigmas_{kind}",
        "component": f"get_sigmas_{kind}",
        "source": f"{KD_SRC}: k_diffusion.sampling.get_sigmas_{kind}",
        "scaler": "vp",
        "params": params,
        "input": {},
        "output": {"sigmas": sig.tolist(), "logsnr": [lam_of_sigma(s) for s in sig.tolist()]},
    }
    return enc(case)


def spacing_df(idx, name, overrides, set_ts, image_seq_len=None, note=None):
    overrides = dict(overrides)
    if name != "FlowMatchEulerDiscreteScheduler":
        overrides.setdefault("prediction_type", "epsilon")
    sch, cfg = make_scheduler(name, overrides)
    call = {k: v for k, v in set_ts.items() if k != "mu_from_image_seq_len"}
    out = {}
    inp = {}
    if set_ts.get("mu_from_image_seq_len"):
        c = sch.config
        mu = calculate_shift(image_seq_len, c.base_image_seq_len, c.max_image_seq_len, c.base_shift, c.max_shift)
        call["mu"] = mu
        out["mu"] = mu
        inp["image_seq_len"] = image_seq_len
    sch.set_timesteps(**call)
    flow = name == "FlowMatchEulerDiscreteScheduler"
    sig = [float(s) for s in sch.sigmas.tolist()]
    out["sigmas"] = sig
    out["logsnr"] = [lam_of_flow(s) if flow else lam_of_sigma(s) for s in sig]
    ts = sch.timesteps.tolist()
    out["timesteps"] = [int(t) for t in ts] if name in ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler") else [float(t) for t in ts]
    if name == "EulerDiscreteScheduler":
        out["init_noise_sigma"] = float(sch.init_noise_sigma)
    case = {
        "id": f"spacings/hidden/{idx:03d}/{name}",
        "component": name,
        "source": f"{DF_SRC}: {name}.set_timesteps",
        "scaler": "lerp" if flow else "vp",
    }
    if note:
        case["note"] = note
    case["params"] = {"scheduler_config": cfg, "set_timesteps": set_ts}
    case["input"] = inp
    case["output"] = out
    return enc(case)


# ---------------------------------------------------------------- case lists

INF = math.inf
NOTE_Q2 = ("final_sigmas_type='sigma_min' with a sigma conversion that already ends at sigma_min: the last two "
           "grid points coincide, so the final step has h = 0 (diffusers' first-order update then returns the "
           "sample unchanged; its unused higher-order coefficients are 0/0).")
NOTE_LOGLIN = ("interpolation_type='log_linear' builds N+1 log-spaced sigmas from sigma_max to sigma_min and then "
               "appends 0: N+2 sigmas for N timesteps, so a sampling loop over the timesteps ends at sigma_min, "
               "never at 0.")


def karras(n, lo, hi, rho):
    return {"kind": "karras", "rho": rho, "n": n, "sigma_min": lo, "sigma_max": hi}


def expo(n, lo, hi):
    return {"kind": "exponential", "n": n, "sigma_min": lo, "sigma_max": hi}


def poly(n, lo, hi, rho):
    return {"kind": "polyexponential", "rho": rho, "n": n, "sigma_min": lo, "sigma_max": hi}


def vp(n, bd, bm, eps):
    return {"kind": "vp", "beta_d": bd, "beta_min": bm, "eps_s": eps, "n": n}


def solvers_main():
    S = []
    sh = [(1, 2, 3, 2), (3, 1, 2, 2), (2, 2, 2, 3), (1, 3, 2, 4), (4, 1, 1, 5), (2, 1, 4, 3)]
    k = lambda *a, **kw: S.append(("kd",) + a + (kw,))
    d = lambda *a, **kw: S.append(("df",) + a + (kw,))
    k("euler", karras(7, 0.025, 18.0, 5.0), {}, "euler_karras_rho5")
    k("euler_ancestral", karras(9, 0.04, 12.0, 7.0), {"eta": 0.75, "s_noise": 1.02}, "euler_ancestral_karras_eta0.75")
    k("euler_ancestral", poly(7, 0.03, 16.0, 1.5), {"eta": 1.0, "s_noise": 0.97}, "euler_ancestral_polyexp_eta1")
    k("heun", expo(5, 0.06, 9.0), {}, "heun_exponential")
    k("heun", karras(8, 0.02, 25.0, 7.0), {"s_churn": 3.0, "s_tmin": 0.1, "s_tmax": 10.0, "s_noise": 1.003}, "heun_karras_churn3")
    k("dpm_2", karras(6, 0.03, 14.6, 7.0), {}, "dpm_2_karras")
    k("dpm_2", expo(7, 0.05, 11.0), {"s_churn": 1.2, "s_tmin": 0.0, "s_tmax": INF, "s_noise": 1.0}, "dpm_2_exponential_churn_all")
    k("dpm_2_ancestral", expo(9, 0.02, 18.0), {"eta": 0.6, "s_noise": 1.0}, "dpm_2_ancestral_exponential_eta0.6")
    k("lms", karras(9, 0.03, 14.6, 7.0), {"order": 3}, "lms_karras_o3")
    k("lms", vp(12, 15.0, 0.2, 0.005), {"order": 4}, "lms_vp")
    k("lms", poly(6, 0.05, 10.0, 2.0), {"order": 2}, "lms_polyexp_o2")
    k("dpmpp_2s_ancestral", karras(7, 0.03, 20.0, 6.0), {"eta": 0.8, "s_noise": 1.0}, "dpmpp_2s_ancestral_karras_eta0.8")
    k("dpmpp_2m", expo(11, 0.015, 30.0), {}, "dpmpp_2m_exponential")
    k("dpmpp_2m", vp(8, 19.9, 0.1, 0.001), {}, "dpmpp_2m_vp")
    k("dpmpp_2m_sde", expo(9, 0.02, 16.0), {"eta": 0.7, "s_noise": 1.0, "solver_type": "heun"}, "dpmpp_2m_sde_exponential_eta0.7_heun")
    k("dpmpp_2m_sde", vp(10, 12.0, 0.3, 0.01), {"eta": 1.0, "s_noise": 0.95, "solver_type": "midpoint"}, "dpmpp_2m_sde_vp_midpoint")
    k("dpmpp_3m_sde", karras(11, 0.03, 14.6, 7.0), {"eta": 0.5, "s_noise": 1.0}, "dpmpp_3m_sde_karras_eta0.5")
    k("dpmpp_sde", expo(6, 0.04, 12.0), {"eta": 0.8, "s_noise": 1.0, "r": 0.4}, "dpmpp_sde_exponential_r0.4")
    k("dpmpp_sde", karras(5, 0.05, 8.0, 7.0), {"eta": 1.0, "s_noise": 1.0, "r": 0.65}, "dpmpp_sde_karras_r0.65")
    k("euler", karras(8, 0.03, 15.0, 7.0), {"s_churn": 2.5, "s_tmin": 0.3, "s_tmax": 4.0, "s_noise": 1.007}, "euler_karras_churn2.5")
    # diffusers
    U, Dm, E, F = "UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler"
    d(U, {"solver_order": 3, "solver_type": "bh2", "use_exponential_sigmas": True}, {"num_inference_steps": 9}, "unipc_bh2_o3_exponential_n9")
    d(U, {"solver_order": 2, "solver_type": "bh1", "use_exponential_sigmas": True, "final_sigmas_type": "sigma_min"},
      {"num_inference_steps": 8}, "unipc_bh1_o2_exponential_sigmamin_n8", note=NOTE_Q2)
    d(U, {"solver_order": 3, "solver_type": "bh2", "use_beta_sigmas": True, "final_sigmas_type": "sigma_min"},
      {"num_inference_steps": 6}, "unipc_bh2_o3_beta_sigmamin_n6", note=NOTE_Q2)
    d(U, {"solver_order": 1, "solver_type": "bh2", "timestep_spacing": "trailing"}, {"num_inference_steps": 7}, "unipc_bh2_o1_trailing_n7")
    d(U, {"solver_order": 2, "solver_type": "bh2", "timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 12}, "unipc_bh2_o2_leading_n12")
    d(U, {"solver_order": 3, "solver_type": "bh1", "final_sigmas_type": "sigma_min", "use_karras_sigmas": True},
      {"num_inference_steps": 9}, "unipc_bh1_o3_karras_sigmamin_n9", note=NOTE_Q2)
    d(U, {"solver_order": 3, "solver_type": "bh2", "final_sigmas_type": "sigma_min", "lower_order_final": False},
      {"num_inference_steps": 8}, "unipc_bh2_o3_sigmamin_nolof_n8")
    d(U, {"solver_order": 2, "solver_type": "bh2", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}, {"num_inference_steps": 10}, "unipc_bh2_o2_zsnr_trailing_n10")
    d(Dm, {"solver_order": 3, "solver_type": "heun", "use_karras_sigmas": True}, {"num_inference_steps": 16}, "dpmsolver_dpmsolver++_o3_heun_karras_n16")
    d(Dm, {"solver_order": 3, "solver_type": "midpoint", "lower_order_final": False, "use_exponential_sigmas": True,
           "timestep_spacing": "trailing"}, {"num_inference_steps": 9}, "dpmsolver_dpmsolver++_o3_nolof_exponential_n9")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 3, "solver_type": "heun"}, {"num_inference_steps": 9}, "dpmsolver_sde-dpmsolver++_o3_heun_n9")
    d(Dm, {"solver_order": 2, "solver_type": "midpoint", "final_sigmas_type": "sigma_min", "timestep_spacing": "leading", "steps_offset": 1},
      {"num_inference_steps": 7}, "dpmsolver_dpmsolver++_o2_sigmamin_leading_n7")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint", "use_beta_sigmas": True},
      {"num_inference_steps": 10}, "dpmsolver_sde-dpmsolver++_o2_beta_n10")
    d(Dm, {"solver_order": 2, "solver_type": "heun", "use_lu_lambdas": True}, {"num_inference_steps": 12}, "dpmsolver_dpmsolver++_o2_lu_n12")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun", "use_exponential_sigmas": True},
      {"num_inference_steps": 8}, "dpmsolver_sde-dpmsolver++_o2_heun_exponential_n8")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 1, "use_karras_sigmas": True}, {"num_inference_steps": 6}, "dpmsolver_sde-dpmsolver++_o1_karras_n6")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint", "final_sigmas_type": "sigma_min"},
      {"num_inference_steps": 7}, "dpmsolver_sde-dpmsolver++_o2_sigmamin_n7")
    d(U, {"solver_order": 1, "solver_type": "bh1", "timestep_spacing": "leading", "steps_offset": 0, "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 6}, "unipc_bh1_o1_leading_sigmamin_n6")
    d(U, {"solver_order": 2, "solver_type": "bh2", "use_karras_sigmas": True}, {"num_inference_steps": 16}, "unipc_bh2_o2_karras_n16")
    d(Dm, {"solver_order": 1, "solver_type": "midpoint", "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
      {"num_inference_steps": 6}, "dpmsolver_dpmsolver++_o1_zsnr_n6")
    d(E, {"timestep_spacing": "linspace", "use_karras_sigmas": True}, {"num_inference_steps": 9}, "euler_discrete_karras_churn2_n9",
      step_kwargs={"s_churn": 2.0, "s_tmin": 0.2, "s_tmax": 5.0, "s_noise": 1.0})
    d(E, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 10}, "euler_discrete_leading_churn_n10",
      step_kwargs={"s_churn": 0.8, "s_tmin": 0.0, "s_tmax": 50.0, "s_noise": 1.01})
    d(E, {"timestep_spacing": "trailing", "rescale_betas_zero_snr": True}, {"num_inference_steps": 7}, "euler_discrete_zsnr_trailing_churn_n7",
      step_kwargs={"s_churn": 1.0, "s_tmin": 0.05, "s_tmax": 100.0, "s_noise": 0.99})
    d(E, {"timestep_spacing": "linspace", "use_exponential_sigmas": True}, {"num_inference_steps": 6}, "euler_discrete_exponential_churn_capped_n6",
      step_kwargs={"s_churn": 20.0, "s_tmin": 0.0, "s_tmax": 10000.0, "s_noise": 1.0})
    d(F, {"shift": 1.0}, {"num_inference_steps": 9}, "flow_euler_shift1_n9")
    d(F, {"shift": 2.0, "stochastic_sampling": True, "use_karras_sigmas": True}, {"num_inference_steps": 7}, "flow_euler_shift2_karras_stochastic_n7")
    d(F, {"shift": 5.0, "use_exponential_sigmas": True}, {"num_inference_steps": 10}, "flow_euler_shift5_exponential_n10")
    d(F, {"shift": 3.5, "stochastic_sampling": True, "use_beta_sigmas": True}, {"num_inference_steps": 8}, "flow_euler_shift3.5_beta_stochastic_n8")
    cases = []
    for idx, s in enumerate(S):
        shape = sh[idx % len(sh)]
        seed = 9100 + 17 * idx
        kw = s[-1]
        if s[0] == "kd":
            cases.append(run_kdiff(idx, s[1], s[2], s[3], shape, seed, s[4], **kw))
        else:
            cases.append(run_diffusers(idx, s[1], s[2], s[3], shape, seed, s[4], **kw))
    return cases


def solvers_extras():
    S = []
    k = lambda *a, **kw: S.append(("kd",) + a + (kw,))
    d = lambda *a, **kw: S.append(("df",) + a + (kw,))
    U, Dm, E, F = "UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler"
    # eta > 1: sigma_up capped at sigma_to, sigma_down = 0 at intermediate steps (documented Euler fallback)
    k("dpm_2_ancestral", expo(6, 0.05, 10.0), {"eta": 1.6, "s_noise": 1.0}, "dpm_2_ancestral_eta1.6_sigmadown0")
    k("dpmpp_2s_ancestral", expo(6, 0.05, 10.0), {"eta": 1.6, "s_noise": 1.0}, "dpmpp_2s_ancestral_eta1.6_sigmadown0")
    k("euler_ancestral", karras(6, 0.05, 10.0, 7.0), {"eta": 0.0, "s_noise": 1.0}, "euler_ancestral_eta0")
    k("dpmpp_2m_sde", karras(8, 0.03, 14.6, 7.0), {"eta": 0.0, "s_noise": 1.0, "solver_type": "heun"}, "dpmpp_2m_sde_eta0_heun")
    k("dpmpp_3m_sde", expo(8, 0.03, 14.6), {"eta": 0.0, "s_noise": 1.0}, "dpmpp_3m_sde_eta0")
    k("dpmpp_sde", karras(6, 0.05, 10.0, 7.0), {"eta": 0.0, "s_noise": 1.0, "r": 0.5}, "dpmpp_sde_eta0")
    k("lms", karras(3, 0.1, 10.0, 7.0), {"order": 4}, "lms_n3_o4")
    k("lms", expo(6, 0.1, 10.0), {"order": 1}, "lms_o1")
    k("heun", karras(1, 0.1, 10.0, 7.0), {}, "heun_n1")
    k("euler", karras(6, 0.05, 10.0, 7.0), {"s_churn": 40.0, "s_tmin": 0.0, "s_tmax": INF, "s_noise": 1.0}, "euler_churn_capped")
    k("dpmpp_3m_sde", karras(2, 0.05, 10.0, 7.0), {"eta": 1.0, "s_noise": 1.0}, "dpmpp_3m_sde_n2")
    k("dpmpp_2m", karras(1, 0.05, 10.0, 7.0), {}, "dpmpp_2m_n1")
    k("dpmpp_2m_sde", karras(1, 0.05, 10.0, 7.0), {"eta": 1.0, "s_noise": 1.0, "solver_type": "midpoint"}, "dpmpp_2m_sde_n1")
    k("dpmpp_3m_sde", karras(1, 0.05, 10.0, 7.0), {"eta": 1.0, "s_noise": 1.0}, "dpmpp_3m_sde_n1")
    k("lms", karras(1, 0.05, 10.0, 7.0), {"order": 4}, "lms_n1")
    k("dpm_2", karras(1, 0.05, 10.0, 7.0), {}, "dpm_2_n1")
    k("dpmpp_sde", karras(1, 0.05, 10.0, 7.0), {}, "dpmpp_sde_n1")
    d(Dm, {"solver_order": 2}, {"num_inference_steps": 1}, "dpm_o2_n1")
    d(Dm, {"solver_order": 3}, {"num_inference_steps": 2}, "dpm_o3_n2")
    d(U, {"solver_order": 2}, {"num_inference_steps": 1}, "unipc_o2_n1")
    d(U, {"solver_order": 3, "solver_type": "bh2"}, {"num_inference_steps": 2}, "unipc_o3_n2")
    d(Dm, {"algorithm_type": "sde-dpmsolver++", "solver_order": 3, "lower_order_final": False, "final_sigmas_type": "sigma_min"},
      {"num_inference_steps": 5}, "dpm_sde_o3_nolof_sigmamin")
    d(Dm, {"solver_order": 2, "euler_at_final": True, "final_sigmas_type": "zero"}, {"num_inference_steps": 20}, "dpm_euler_at_final_n20")
    d(Dm, {"solver_order": 2, "lower_order_final": False}, {"num_inference_steps": 16}, "dpm_nolof_n16")
    d(Dm, {"solver_order": 3, "use_karras_sigmas": True, "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 8}, "dpm_karras_sigmamin_n8")
    d(U, {"solver_order": 3, "solver_type": "bh2"}, {"num_inference_steps": 20}, "unipc_bh2_o3_n20")
    d(U, {"solver_order": 3, "solver_type": "bh1", "final_sigmas_type": "sigma_min", "use_karras_sigmas": True, "lower_order_final": False},
      {"num_inference_steps": 9}, "unipc_bh1_o3_karras_sigmamin_nolof_n9_nan")
    d(U, {"solver_order": 2, "solver_type": "bh2", "final_sigmas_type": "sigma_min", "lower_order_final": False}, {"num_inference_steps": 5}, "unipc_nolof_sigmamin")
    d(E, {"timestep_spacing": "linspace"}, {"num_inference_steps": 6}, "euler_discrete_nochurn_n6")
    d(E, {"timestep_spacing": "trailing"}, {"num_inference_steps": 6}, "euler_discrete_stmax_inf",
      step_kwargs={"s_churn": 1.0, "s_tmin": 0.0, "s_tmax": INF, "s_noise": 1.0})
    d(E, {"timestep_spacing": "linspace", "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 6}, "euler_discrete_sigmamin_churn",
      step_kwargs={"s_churn": 1.0, "s_tmin": 0.0, "s_tmax": INF, "s_noise": 1.0})
    d(F, {"shift": 1.0, "use_dynamic_shifting": True}, {"num_inference_steps": 8, "mu": 0.9}, "flow_dynamic_mu0.9")
    d(F, {"shift": 3.0, "use_dynamic_shifting": True, "time_shift_type": "linear"}, {"num_inference_steps": 8, "mu": 1.1}, "flow_dynamic_linear")
    d(F, {"shift": 3.0}, {"num_inference_steps": 1}, "flow_n1")
    cases = []
    for idx, s in enumerate(S):
        shape = (2, 1, 2, 3)
        seed = 7300 + 11 * idx
        kw = s[-1]
        try:
            if s[0] == "kd":
                cases.append(run_kdiff(idx, s[1], s[2], s[3], shape, seed, s[4], **kw))
            else:
                cases.append(run_diffusers(idx, s[1], s[2], s[3], shape, seed, s[4], **kw))
        except Exception as e:  # noqa: BLE001
            print(f"extras solvers {idx} {s[1]} {s[4]}: reference failed: {e!r}", file=sys.stderr)
    return cases


def spacings_main():
    C = []
    U, Dm, E, F = "UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler"
    kd = lambda kind, p: C.append(("kd", kind, p))
    df = lambda *a, **kw: C.append(("df",) + a + (kw,))
    kd("karras", {"rho": 5.0, "n": 15, "sigma_min": 0.01, "sigma_max": 60.0})
    kd("karras", {"rho": 9.5, "n": 5, "sigma_min": 0.2, "sigma_max": 3.5})
    kd("karras", {"rho": 7.0, "n": 20, "sigma_min": 0.0015, "sigma_max": 152.0})
    kd("exponential", {"n": 13, "sigma_min": 0.01, "sigma_max": 50.0})
    kd("exponential", {"n": 3, "sigma_min": 0.5, "sigma_max": 1.5})
    kd("polyexponential", {"rho": 1.5, "n": 10, "sigma_min": 0.03, "sigma_max": 25.0})
    kd("polyexponential", {"rho": 0.7, "n": 6, "sigma_min": 0.1, "sigma_max": 8.0})
    kd("polyexponential", {"rho": 3.0, "n": 12, "sigma_min": 0.002, "sigma_max": 80.0})
    kd("vp", {"beta_d": 15.0, "beta_min": 0.2, "eps_s": 0.005, "n": 14})
    kd("vp", {"beta_d": 25.0, "beta_min": 0.05, "eps_s": 0.0001, "n": 7})
    df(E, {"timestep_spacing": "linspace"}, {"num_inference_steps": 13})
    df(E, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 15})
    df(E, {"timestep_spacing": "leading", "steps_offset": 0}, {"num_inference_steps": 4})
    df(E, {"timestep_spacing": "trailing", "steps_offset": 1}, {"num_inference_steps": 11})
    df(E, {"timestep_spacing": "linspace", "rescale_betas_zero_snr": True}, {"num_inference_steps": 5})
    df(E, {"timestep_spacing": "leading", "steps_offset": 0, "rescale_betas_zero_snr": True}, {"num_inference_steps": 12})
    df(E, {"timestep_spacing": "trailing", "use_karras_sigmas": True}, {"num_inference_steps": 7})
    df(E, {"timestep_spacing": "leading", "steps_offset": 1, "use_exponential_sigmas": True}, {"num_inference_steps": 10})
    df(E, {"timestep_spacing": "linspace", "use_beta_sigmas": True}, {"num_inference_steps": 12})
    df(E, {"timestep_spacing": "linspace", "final_sigmas_type": "sigma_min", "use_karras_sigmas": True}, {"num_inference_steps": 6})
    df(E, {"timestep_spacing": "leading", "steps_offset": 1, "interpolation_type": "log_linear"}, {"num_inference_steps": 9}, note=NOTE_LOGLIN)
    df(Dm, {"timestep_spacing": "linspace"}, {"num_inference_steps": 13})
    df(Dm, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 5})
    df(Dm, {"timestep_spacing": "trailing"}, {"num_inference_steps": 7})
    df(Dm, {"use_karras_sigmas": True}, {"num_inference_steps": 6})
    df(Dm, {"use_exponential_sigmas": True}, {"num_inference_steps": 12})
    df(Dm, {"use_beta_sigmas": True}, {"num_inference_steps": 9})
    df(Dm, {"use_lu_lambdas": True}, {"num_inference_steps": 11})
    df(Dm, {"final_sigmas_type": "sigma_min", "timestep_spacing": "trailing"}, {"num_inference_steps": 5})
    df(Dm, {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}, {"num_inference_steps": 8})
    df(U, {"timestep_spacing": "linspace"}, {"num_inference_steps": 11})
    df(U, {"use_karras_sigmas": True}, {"num_inference_steps": 7})
    df(U, {"use_exponential_sigmas": True}, {"num_inference_steps": 9})
    df(U, {"use_beta_sigmas": True}, {"num_inference_steps": 11})
    df(U, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 9})
    df(U, {"timestep_spacing": "trailing"}, {"num_inference_steps": 12})
    df(U, {"use_karras_sigmas": True, "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 8})
    df(U, {"use_exponential_sigmas": True, "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 6})
    df(F, {"shift": 1.0}, {"num_inference_steps": 13})
    df(F, {"shift": 2.5}, {"num_inference_steps": 7})
    df(F, {"shift": 4.0, "use_karras_sigmas": True}, {"num_inference_steps": 10})
    df(F, {"shift": 3.0, "use_exponential_sigmas": True}, {"num_inference_steps": 9})
    df(F, {"shift": 1.5, "use_beta_sigmas": True}, {"num_inference_steps": 8})
    df(F, {"shift": 1.0, "use_dynamic_shifting": True}, {"num_inference_steps": 9, "mu_from_image_seq_len": True}, image_seq_len=2048)
    df(F, {"shift": 1.0, "use_dynamic_shifting": True}, {"num_inference_steps": 5, "mu_from_image_seq_len": True}, image_seq_len=256)
    df(F, {"shift": 1.0, "use_dynamic_shifting": True},
       {"num_inference_steps": 12, "mu_from_image_seq_len": True, "sigmas": np.linspace(1.0, 1 / 12, 12).tolist()}, image_seq_len=3000)
    df(F, {"shift": 1.0, "use_dynamic_shifting": True},
       {"num_inference_steps": 7, "mu_from_image_seq_len": True, "sigmas": np.linspace(1.0, 1 / 7, 7).tolist()}, image_seq_len=700)
    out = []
    for idx, c in enumerate(C):
        if c[0] == "kd":
            out.append(spacing_kd(idx, c[1], c[2]))
        else:
            out.append(spacing_df(idx, c[1], c[2], c[3], **c[4]))
    return out


def spacings_extras():
    C = []
    U, Dm, E, F = "UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler"
    df = lambda *a, **kw: C.append(("df",) + a + (kw,))
    kd = lambda kind, p: C.append(("kd", kind, p))
    kd("karras", {"rho": 7.0, "n": 1, "sigma_min": 0.1, "sigma_max": 10.0})
    kd("exponential", {"n": 1, "sigma_min": 0.1, "sigma_max": 10.0})
    df(E, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}, {"num_inference_steps": 10})
    df(Dm, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "use_karras_sigmas": True}, {"num_inference_steps": 10})
    df(E, {"prediction_type": "v_prediction", "timestep_type": "continuous", "use_karras_sigmas": True}, {"num_inference_steps": 8})
    df(E, {"prediction_type": "v_prediction"}, {"num_inference_steps": 8})
    df(E, {"timestep_spacing": "trailing", "rescale_betas_zero_snr": True, "use_karras_sigmas": True}, {"num_inference_steps": 8})
    df(Dm, {"use_karras_sigmas": True, "final_sigmas_type": "sigma_min"}, {"num_inference_steps": 8})
    df(Dm, {"rescale_betas_zero_snr": True, "use_exponential_sigmas": True}, {"num_inference_steps": 8})
    df(U, {"rescale_betas_zero_snr": True, "use_beta_sigmas": True, "timestep_spacing": "trailing"}, {"num_inference_steps": 8})
    df(Dm, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 30})
    df(E, {"timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": 50})
    df(U, {"timestep_spacing": "trailing"}, {"num_inference_steps": 3})
    for n in (25, 50, 100):
        df(Dm, {"use_karras_sigmas": True}, {"num_inference_steps": n})
        df(Dm, {"use_lu_lambdas": True}, {"num_inference_steps": n})
        df(U, {"use_exponential_sigmas": True}, {"num_inference_steps": n})
        df(U, {"use_beta_sigmas": True, "rescale_betas_zero_snr": True}, {"num_inference_steps": n})
        df(E, {"use_karras_sigmas": True, "timestep_spacing": "leading", "steps_offset": 1}, {"num_inference_steps": n})
        df(E, {"use_beta_sigmas": True, "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}, {"num_inference_steps": n})
        df(F, {"shift": 1.0, "use_dynamic_shifting": True, "use_exponential_sigmas": True}, {"num_inference_steps": n, "mu_from_image_seq_len": True}, image_seq_len=4000)
        kd("karras", {"rho": 7.0, "n": n, "sigma_min": 0.002, "sigma_max": 80.0})
        kd("vp", {"beta_d": 19.9, "beta_min": 0.1, "eps_s": 0.001, "n": n})
    df(F, {"shift": 3.0}, {"num_inference_steps": 1})
    df(F, {"shift": 3.0}, {"num_inference_steps": 6, "sigmas": np.linspace(1.0, 1 / 6, 6).tolist()})
    df(F, {"shift": 1.0, "use_dynamic_shifting": True, "time_shift_type": "linear"}, {"num_inference_steps": 8, "mu_from_image_seq_len": True}, image_seq_len=1500)
    df(F, {"shift": 1.0, "use_dynamic_shifting": True, "use_karras_sigmas": True}, {"num_inference_steps": 8, "mu_from_image_seq_len": True}, image_seq_len=1500)
    df(F, {"shift": 2.0, "shift_terminal": 0.1}, {"num_inference_steps": 8})
    df(F, {"shift": 1.0, "use_dynamic_shifting": True, "base_shift": 0.3, "max_shift": 1.5, "base_image_seq_len": 512, "max_image_seq_len": 8192},
       {"num_inference_steps": 8, "mu_from_image_seq_len": True}, image_seq_len=5000)
    out = []
    for idx, c in enumerate(C):
        try:
            if c[0] == "kd":
                out.append(spacing_kd(idx, c[1], c[2]))
            else:
                out.append(spacing_df(idx, c[1], c[2], c[3], **c[4]))
        except Exception as e:  # noqa: BLE001
            print(f"extras spacings {idx} {c[1]}: reference failed: {e!r}", file=sys.stderr)
    return out


if __name__ == "__main__":
    outdir = sys.argv[1]
    which = sys.argv[2] if len(sys.argv) > 2 else "main"
    os.makedirs(outdir, exist_ok=True)
    if which == "main":
        sol, spa = solvers_main(), spacings_main()
    else:
        sol, spa = solvers_extras(), spacings_extras()
    # reindex ids (extras may have dropped some)
    for f, cases in (("solvers", sol), ("spacings", spa)):
        for i, c in enumerate(cases):
            parts = c["id"].split("/")
            c["id"] = f"{f}/hidden/{i:03d}/{parts[3]}"
    dump(os.path.join(outdir, "solvers.json"), sol)
    dump(os.path.join(outdir, "spacings.json"), spa)
    print(f"{which}: {len(sol)} solvers, {len(spa)} spacings -> {outdir}")
