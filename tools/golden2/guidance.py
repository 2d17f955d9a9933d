#!/usr/bin/env python
"""Hidden-style guidance.json generator (diffusers 0.42.1 guiders, float64, casts suppressed).

Usage:
  gen.py check-public            re-run the public cases through this driver and compare
  gen.py main OUT.json           the hidden-style set
  gen.py probes OUTDIR           edge probes, one JSON file per probe (plus all in probes.json)
"""
import json
import os
import math
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

import diffusers  # noqa: E402
from diffusers.guiders import (  # noqa: E402
    AdaptiveProjectedGuidance,
    ClassifierFreeGuidance,
    ClassifierFreeZeroStarGuidance,
    TangentialClassifierFreeGuidance,
)

assert diffusers.__version__ == "0.42.1", diffusers.__version__

# The README: "diffusers computes CFG-Zero*'s alpha and TCFG's SVD in float32 ... The golden values
# were computed with those casts suppressed (float64 throughout)." Suppress Tensor.float() for
# float64 tensors (the only casts on these paths).
_orig_float = torch.Tensor.float


def _float_keep64(self, *a, **k):
    if self.dtype == torch.float64:
        return self
    return _orig_float(self, *a, **k)


torch.Tensor.float = _float_keep64

CLASSES = {
    "ClassifierFreeGuidance": ClassifierFreeGuidance,
    "AdaptiveProjectedGuidance": AdaptiveProjectedGuidance,
    "ClassifierFreeZeroStarGuidance": ClassifierFreeZeroStarGuidance,
    "TangentialClassifierFreeGuidance": TangentialClassifierFreeGuidance,
}


def enc_num(x):
    if isinstance(x, bool):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def enc(v):
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    if isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool):
        return enc_num(v)
    return v


def arr(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return [enc_num(x) for x in a.tolist()]
    return {"shape": list(a.shape), "data": [enc_num(x) for x in a.ravel(order="C").tolist()]}


def full_params(g):
    out = {}
    for k, v in sorted(g.config.items()):
        if k.startswith("_"):
            continue
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def drive(component, kwargs, pc, pu, steps, n_steps, timesteps):
    g = CLASSES[component](**kwargs)
    preds, ncs = [], []
    for k in range(len(steps)):
        g.set_state(step=int(steps[k]), num_inference_steps=int(n_steps),
                    timestep=torch.tensor(timesteps[k]))
        batches = g.prepare_inputs({})
        batches[0].noise_pred = torch.from_numpy(np.ascontiguousarray(pc[k]))
        if len(batches) == 2:
            batches[1].noise_pred = torch.from_numpy(np.ascontiguousarray(pu[k]))
        out = g(batches).pred
        preds.append(out.detach().cpu().numpy().astype(np.float64))
        ncs.append(len(batches))
    return g, np.stack(preds), ncs


def default_timesteps(T):
    return [int(x) for x in np.round(np.linspace(999, 0, T + 1)[:-1])]


def make_inputs(seed, shape, style="public"):
    rng = np.random.default_rng(seed)
    if style == "public":
        base = rng.standard_normal(shape)
        c = base + 0.6 * rng.standard_normal(shape)
        u = base + 0.6 * rng.standard_normal(shape)
    elif style == "close":  # c ≈ u: a small guidance signal
        base = rng.standard_normal(shape)
        c = base + 0.01 * rng.standard_normal(shape)
        u = base + 0.01 * rng.standard_normal(shape)
    elif style == "big":  # larger magnitudes, nonzero means
        base = 3.0 * rng.standard_normal(shape) + 1.5
        c = base + 2.0 * rng.standard_normal(shape)
        u = base + 2.0 * rng.standard_normal(shape) - 0.5
    elif style == "indep":  # independent c and u
        c = rng.standard_normal(shape)
        u = rng.standard_normal(shape)
    else:
        raise ValueError(style)
    return c, u


def build_case(kind, index, component, kwargs, seed, shape, style="public", note=None,
               timesteps=None):
    T = shape[0]
    pc, pu = make_inputs(seed, shape, style)
    steps = list(range(T))
    ts = timesteps if timesteps is not None else default_timesteps(T)
    g, pred, ncs = drive(component, kwargs, pc, pu, steps, T, ts)
    case = {
        "id": f"guidance/{kind}/{index:03d}/{component}",
        "component": component,
        "source": f"diffusers 0.42.1: diffusers.guiders.{component}",
    }
    if note:
        case["note"] = note
    case["params"] = enc(full_params(g))
    case["input"] = {
        "num_inference_steps": T,
        "step": steps,
        "timestep": enc(ts),
        "pred_cond": arr(pc),
        "pred_uncond": arr(pu),
    }
    case["output"] = {"pred": arr(pred), "num_conditions": ncs}
    return case


def write_file(path, cases):
    with open(path, "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, allow_nan=False) for c in cases))
        f.write("\n]\n")


def load(path):
    with open(path) as f:
        return json.load(f)


def dec(x):
    if isinstance(x, str):
        return float(x)
    return x


def unarr(v):
    if isinstance(v, dict):
        return np.array([dec(x) for x in v["data"]], dtype=np.float64).reshape(v["shape"])
    return np.array([dec(x) for x in v], dtype=np.float64)


def check_public():
    cases = load(os.path.join(os.environ.get("GDF_GOLDEN_PUBLIC", "../shared/golden"), "guidance.json"))
    worst = 0.0
    for c in cases:
        i = c["input"]
        pc, pu = unarr(i["pred_cond"]), unarr(i["pred_uncond"])
        g, pred, ncs = drive(c["component"], c["params"], pc, pu, i["step"],
                             i["num_inference_steps"], i["timestep"])
        want = unarr(c["output"]["pred"])
        assert full_params(g) == c["params"], (c["id"], full_params(g), c["params"])
        assert ncs == c["output"]["num_conditions"], c["id"]
        nanmask = np.isnan(want)
        assert (np.isnan(pred) == nanmask).all(), c["id"]
        d = np.abs(pred[~nanmask] - want[~nanmask]).max()
        worst = max(worst, d)
        print(c["id"], "max abs diff", d, "exact" if np.array_equal(pred[~nanmask], want[~nanmask]) else "")
    print("worst", worst)


CFG, APG, ZS, TCFG = (
    "ClassifierFreeGuidance",
    "AdaptiveProjectedGuidance",
    "ClassifierFreeZeroStarGuidance",
    "TangentialClassifierFreeGuidance",
)

# (component, kwargs, seed, shape [T,B,C,H,W], style)
MAIN = [
    # --- ClassifierFreeGuidance
    (CFG, dict(guidance_scale=1.0), 101, (4, 1, 4, 8, 8), "public"),  # no-op scale
    (CFG, dict(guidance_scale=0.0), 102, (3, 2, 4, 3, 3), "public"),  # pred = u
    (CFG, dict(guidance_scale=0.5, guidance_rescale=0.3), 103, (5, 3, 2, 4, 5), "public"),
    (CFG, dict(guidance_scale=12.5, guidance_rescale=1.0), 104, (6, 2, 4, 3, 3), "public"),
    (CFG, dict(guidance_scale=0.0, use_original_formulation=True, guidance_rescale=0.4), 105,
     (3, 2, 3, 4, 4), "public"),  # original no-op, rescale on disabled steps
    (CFG, dict(guidance_scale=1.0, use_original_formulation=True, start=0.25, stop=0.75), 106,
     (8, 2, 4, 2, 3), "public"),
    (CFG, dict(guidance_scale=7.5, guidance_rescale=0.7, enabled=False), 107, (3, 2, 4, 3, 3), "public"),
    (CFG, dict(guidance_scale=5.0, start=0.5, stop=0.5), 108, (4, 2, 4, 3, 3), "public"),
    (CFG, dict(guidance_scale=3.0, start=0.1, stop=0.9, guidance_rescale=0.5), 109, (10, 1, 4, 4, 4), "public"),
    (CFG, dict(guidance_scale=6.0, start=0.3, stop=0.7), 110, (7, 2, 2, 3, 3), "public"),
    (CFG, dict(guidance_scale=5.0), 111, (1, 2, 4, 3, 3), "public"),
    (CFG, dict(guidance_scale=30.0, guidance_rescale=0.9), 112, (4, 2, 4, 3, 3), "close"),
    (CFG, dict(guidance_scale=4.0, use_original_formulation=True, guidance_rescale=0.25), 113,
     (4, 2, 8, 2, 2), "big"),
    # --- AdaptiveProjectedGuidance
    (APG, dict(), 201, (4, 1, 4, 6, 6), "public"),  # all defaults (scale 7.5, r 15, eta 1)
    (APG, dict(guidance_scale=3.0, adaptive_projected_guidance_momentum=0.0,
               adaptive_projected_guidance_rescale=0.0, eta=0.0), 202, (5, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=5.0, adaptive_projected_guidance_momentum=-0.5,
               adaptive_projected_guidance_rescale=1.0, eta=0.25, guidance_rescale=0.5, start=0.2),
     203, (6, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=2.0, adaptive_projected_guidance_momentum=0.9,
               adaptive_projected_guidance_rescale=50.0, eta=0.75, use_original_formulation=True),
     204, (5, 3, 2, 3, 4), "public"),
    (APG, dict(guidance_scale=6.0, adaptive_projected_guidance_momentum=-0.25,
               adaptive_projected_guidance_rescale=2.0, adaptive_projected_guidance_norm_dim=[-1]),
     205, (5, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=4.0, adaptive_projected_guidance_rescale=1.0,
               adaptive_projected_guidance_norm_dim=-1, eta=0.0), 206, (3, 2, 3, 2, 5), "public"),
    (APG, dict(guidance_scale=8.0, adaptive_projected_guidance_momentum=-0.75,
               adaptive_projected_guidance_rescale=1.5, adaptive_projected_guidance_norm_dim=[1]),
     207, (4, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=5.0, adaptive_projected_guidance_rescale=2.5,
               adaptive_projected_guidance_norm_dim=[2, 3], eta=0.5, guidance_rescale=0.3),
     208, (4, 2, 3, 4, 2), "public"),
    (APG, dict(guidance_scale=7.0, adaptive_projected_guidance_momentum=-0.5,
               adaptive_projected_guidance_rescale=4.0, adaptive_projected_guidance_norm_dim=[-3, -2, -1]),
     209, (4, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=1.0, adaptive_projected_guidance_momentum=-0.5), 210, (3, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=0.0, use_original_formulation=True, guidance_rescale=0.6,
               adaptive_projected_guidance_momentum=0.3), 211, (3, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=7.5, guidance_rescale=0.6, enabled=False,
               adaptive_projected_guidance_momentum=-0.5), 212, (3, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=0.6, adaptive_projected_guidance_momentum=0.5,
               adaptive_projected_guidance_rescale=0.5, eta=0.5, guidance_rescale=1.0, stop=0.6),
     213, (5, 2, 4, 3, 3), "public"),
    (APG, dict(guidance_scale=10.0, adaptive_projected_guidance_momentum=-0.5,
               adaptive_projected_guidance_rescale=0.05, eta=0.0, start=0.34, stop=0.9), 214,
     (7, 2, 4, 3, 3), "close"),
    (APG, dict(guidance_scale=3.5, adaptive_projected_guidance_momentum=0.2,
               adaptive_projected_guidance_rescale=8.0, adaptive_projected_guidance_norm_dim=[-2, -1],
               use_original_formulation=True, guidance_rescale=0.7), 215, (4, 3, 2, 4, 4), "big"),
    # --- ClassifierFreeZeroStarGuidance
    (ZS, dict(guidance_scale=1.0, zero_init_steps=0), 301, (4, 2, 4, 3, 3), "public"),
    (ZS, dict(guidance_scale=6.0, zero_init_steps=3, start=0.5), 302, (6, 2, 4, 3, 3), "public"),
    (ZS, dict(guidance_scale=0.5, zero_init_steps=1, use_original_formulation=True, stop=0.5), 303,
     (4, 1, 4, 4, 4), "public"),
    (ZS, dict(guidance_scale=9.0, zero_init_steps=0, guidance_rescale=1.0), 304, (3, 3, 4, 3, 3), "public"),
    (ZS, dict(guidance_scale=4.0, zero_init_steps=1, enabled=False), 305, (3, 2, 4, 3, 3), "public"),
    (ZS, dict(guidance_scale=0.0, zero_init_steps=0, use_original_formulation=True), 306,
     (3, 2, 4, 3, 3), "public"),
    (ZS, dict(guidance_scale=5.0, zero_init_steps=2, stop=0.25), 307, (8, 2, 2, 3, 3), "public"),
    (ZS, dict(guidance_scale=0.0, zero_init_steps=0, guidance_rescale=0.5), 308, (4, 2, 4, 3, 3), "indep"),
    (ZS, dict(guidance_scale=7.0, zero_init_steps=0, guidance_rescale=0.3, start=0.25), 309,
     (4, 2, 4, 3, 3), "big"),
    # --- TangentialClassifierFreeGuidance
    (TCFG, dict(guidance_scale=1.0), 401, (4, 2, 4, 3, 3), "public"),
    (TCFG, dict(guidance_scale=0.0), 402, (3, 2, 4, 3, 3), "public"),
    (TCFG, dict(guidance_scale=10.0, guidance_rescale=0.8), 403, (3, 3, 16, 2, 2), "public"),
    (TCFG, dict(guidance_scale=2.0, use_original_formulation=True, start=0.34, stop=0.67), 404,
     (6, 2, 4, 3, 3), "public"),
    (TCFG, dict(guidance_scale=5.0, guidance_rescale=0.5, enabled=False), 405, (3, 2, 4, 3, 3), "public"),
    (TCFG, dict(guidance_scale=4.5), 406, (4, 2, 1, 3, 3), "public"),
    (TCFG, dict(guidance_scale=7.5, guidance_rescale=0.2), 407, (3, 1, 4, 8, 8), "close"),
    (TCFG, dict(guidance_scale=3.0, use_original_formulation=True, guidance_rescale=1.0), 408,
     (3, 2, 4, 3, 3), "indep"),
    (TCFG, dict(guidance_scale=6.0), 409, (3, 2, 4, 3, 3), "big"),
    # --- larger samples (per-sample size above the crate's 4096-element reduction chunk)
    (APG, dict(guidance_scale=6.0, adaptive_projected_guidance_momentum=-0.5,
               adaptive_projected_guidance_rescale=20.0, adaptive_projected_guidance_norm_dim=[-2, -1],
               eta=0.3, guidance_rescale=0.4), 601, (3, 2, 4, 40, 40), "public"),
    (APG, dict(guidance_scale=4.0, adaptive_projected_guidance_momentum=0.4,
               adaptive_projected_guidance_rescale=30.0), 602, (3, 2, 4, 40, 40), "public"),
    (CFG, dict(guidance_scale=7.0, guidance_rescale=0.7), 603, (2, 2, 16, 20, 20), "public"),
    (TCFG, dict(guidance_scale=5.0, guidance_rescale=0.3), 604, (2, 2, 4, 40, 40), "public"),
    (ZS, dict(guidance_scale=5.0, zero_init_steps=1, guidance_rescale=0.0), 605, (3, 2, 4, 40, 40), "public"),
]

# Edge probes: valid in diffusers, but beyond the public set's value ranges.
PROBES = [
    ("cfg_negative_scale", CFG, dict(guidance_scale=-1.5), 501, (3, 2, 4, 3, 3), "public", None),
    ("cfg_rescale_gt1", CFG, dict(guidance_scale=5.0, guidance_rescale=1.5), 502, (3, 2, 4, 3, 3), "public", None),
    ("cfg_scale_isclose_1", CFG, dict(guidance_scale=1.0 + 1e-10), 503, (3, 2, 4, 3, 3), "public", None),
    ("apg_eta_gt1", APG, dict(guidance_scale=5.0, eta=1.5), 504, (3, 2, 4, 3, 3), "public", None),
    ("apg_eta_neg", APG, dict(guidance_scale=5.0, eta=-0.5), 505, (3, 2, 4, 3, 3), "public", None),
    ("apg_momentum_lt_m1", APG, dict(guidance_scale=5.0, adaptive_projected_guidance_momentum=-1.5),
     506, (3, 2, 4, 3, 3), "public", None),
    ("apg_threshold_neg", APG, dict(guidance_scale=5.0, adaptive_projected_guidance_rescale=-1.0),
     507, (3, 2, 4, 3, 3), "public", None),
    ("apg_normdim_batch", APG, dict(guidance_scale=5.0, adaptive_projected_guidance_rescale=2.0,
                                    adaptive_projected_guidance_norm_dim=[0]), 508, (3, 3, 2, 3, 3), "public", None),
    ("apg_normdim_batch_chan", APG, dict(guidance_scale=5.0, adaptive_projected_guidance_momentum=-0.5,
                                         adaptive_projected_guidance_rescale=3.0,
                                         adaptive_projected_guidance_norm_dim=[0, 1]), 509, (3, 2, 3, 2, 2), "public", None),
    ("zs_zero_init_all_steps", ZS, dict(guidance_scale=4.0, zero_init_steps=3), 510, (3, 2, 4, 3, 3), "public", None),
    ("zs_zero_init_gt_steps", ZS, dict(guidance_scale=4.0, zero_init_steps=5), 511, (3, 2, 4, 3, 3), "public", None),
    ("zs_disabled_rescale", ZS, dict(guidance_scale=4.0, zero_init_steps=2, guidance_rescale=0.5, enabled=False),
     512, (3, 2, 4, 3, 3), "public", None),
    ("cfg_rank4_tokens", CFG, dict(guidance_scale=4.0, guidance_rescale=0.5), 513, (3, 2, 6, 5), "public", None),
    ("tcfg_rank6_video", TCFG, dict(guidance_scale=4.0, guidance_rescale=0.5), 514, (3, 2, 2, 3, 2, 2), "public", None),
    ("apg_rank3_normdim", APG, dict(guidance_scale=4.0, adaptive_projected_guidance_norm_dim=[-1],
                                    adaptive_projected_guidance_rescale=1.0), 515, (3, 2, 7), "public", None),
    ("zs_float_timesteps", ZS, dict(guidance_scale=4.0, zero_init_steps=1), 516, (3, 2, 4, 3, 3), "public",
     [1000.0, 666.6666870117188, 333.33334350585938]),
    ("tcfg_scale_big", TCFG, dict(guidance_scale=100.0), 517, (3, 2, 4, 3, 3), "public", None),
    ("apg_int_params", APG, dict(guidance_scale=5, adaptive_projected_guidance_rescale=3,
                                 adaptive_projected_guidance_momentum=0), 518, (3, 2, 4, 3, 3), "public", None),
]


def main(out):
    cases = [build_case("hidden", i, *spec) for i, spec in enumerate(MAIN)]
    write_file(out, cases)
    print("wrote", len(cases), "cases to", out)


def probes(outdir):
    import os
    os.makedirs(outdir, exist_ok=True)
    allc = []
    for i, (name, comp, kw, seed, shape, style, ts) in enumerate(PROBES):
        try:
            c = build_case("hidden", i, comp, kw, seed, shape, style, timesteps=ts)
        except Exception as e:  # diffusers itself refuses: not a valid config
            print("probe", name, "diffusers refused:", type(e).__name__, e)
            continue
        write_file(os.path.join(outdir, f"{name}.json"), [c])
        allc.append(c)
        print("probe", name, "ok")
    write_file(os.path.join(outdir, "probes.json"), allc)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check-public":
        check_public()
    elif cmd == "main":
        main(sys.argv[2])
    elif cmd == "probes":
        probes(sys.argv[2])
    else:
        raise SystemExit(__doc__)
