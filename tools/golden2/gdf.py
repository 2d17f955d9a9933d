#!/usr/bin/env python
"""Hidden-style golden generator for the GDF port (same format as ../shared/golden).

Runs the original GDF (the folder holding its `gdf` package: $GDF_SRC, default /tmp/sc) in float64 with seeded numpy inputs and writes
schedules/scalers/targets/noise_conds/loss_weights/diffuse/samplers/sample_loops.json
into the folder given as argv[1] (default ./golden2). Ids use "hidden".
"""
import copy
import json
import math
import os
import sys

sys.path.insert(0, os.environ.get("GDF_SRC", "/tmp/sc"))
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

import gdf as G  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "golden2"
KIND = "hidden"

# ----------------------------------------------------------------------------------------
# encoding


def encf(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def enc(v):
    """Tensor / list / scalar -> JSON-ready value (rank != 1 -> {shape, data})."""
    if isinstance(v, torch.Tensor):
        if v.dtype == torch.bool:
            conv = bool
        elif v.dtype in (torch.int64, torch.int32):
            conv = int
        else:
            conv = encf
        if v.dim() == 1:
            return [conv(x) for x in v.tolist()]
        if v.dim() == 0:
            return conv(v.item())
        return {"shape": list(v.shape), "data": [conv(x) for x in v.reshape(-1).tolist()]}
    if isinstance(v, np.ndarray):
        return enc(torch.from_numpy(np.ascontiguousarray(v)))
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return encf(v)
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {k: enc(x) for k, x in v.items()}
    raise TypeError(type(v))


def T(xs):
    """float64 1-D tensor from a list that may hold 'inf'/'-inf'/'nan' strings."""
    return torch.tensor([float(x) for x in xs], dtype=torch.float64)


def write(name, cases):
    for i, c in enumerate(cases):
        c["id"] = f"{name}/{KIND}/{i:03d}/{c['component']}"
    lines = []
    for c in cases:
        order = ["id", "component"] + [k for k in c if k not in ("id", "component")]
        d = {k: c[k] for k in order}
        lines.append(json.dumps(enc_case(d), allow_nan=False))
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        f.write("[\n" + ",\n".join(lines) + "\n]\n")
    print(f"{name}.json: {len(cases)} cases")


def enc_case(c):
    out = {}
    for k, v in c.items():
        if k in ("input", "output"):
            out[k] = {kk: enc(vv) for kk, vv in v.items()}
        else:
            out[k] = enc(v)
    return out


# ----------------------------------------------------------------------------------------
# building components from specs


def build(spec):
    name, params = spec["component"], copy.deepcopy(spec.get("params", {}))
    cls = getattr(G, name)
    if name == "InterpolatedSchedule":
        params["scheduler1"] = build(params["scheduler1"])
        params["scheduler2"] = build(params["scheduler2"])
    if name == "DiscreteNoiseCond":
        params["noise_cond"] = build(params["noise_cond"])
    if name == "ComposedLossWeight":
        for k in ("div", "mul"):
            v = params[k]
            params[k] = [build(x) for x in v] if isinstance(v, list) else build(v)
    return cls(**params)


def build_gdf(spec):
    p = spec["params"] if "component" in spec else spec
    g = G.GDF(
        build(p["schedule"]),
        build(p["input_scaler"]),
        build(p["target"]),
        build(p["noise_cond"]),
        build(p["loss_weight"]),
        **({"offset_noise": p["offset_noise"]} if "offset_noise" in p else {}),
    )
    for c in p.get("setup_limits", []):
        g.setup_limits(**c)
    return g


def spec(name, **params):
    return {"component": name, "params": params}


# ----------------------------------------------------------------------------------------
# schedules

T_GRID = [float(x) for x in np.linspace(0.0, 1.0, 17)] + [0.002, 0.125, 0.375, 0.63, 0.9985, -0.1, 1.2]
# discrete grid: includes exact .5 rounding points for steps 5 (x4) and 9 (x8)
T_GRID_D = [0.0, 0.0625, 0.125, 0.1875, 0.25, 0.3, 0.375, 0.45, 0.5, 0.5625, 0.625, 0.7, 0.75,
            0.8125, 0.875, 0.9375, 1.0, 0.01, 0.99, -0.3, 1.05]


def schedule_case(comp, params, shift, grid=None, steps=None):
    s = build(spec(comp, **params))
    if steps is not None:
        t = torch.tensor(steps, dtype=torch.long)
        inp = {"t_steps": steps}
    else:
        grid = grid if grid is not None else T_GRID
        t = T(grid)
        inp = {"t": grid}
    l = s(t, shift=shift)
    return {"component": comp, "params": params, "call": {"shift": shift}, "input": inp,
            "output": {"logSNR": l, "limits": s.limits}}


def adaptive_train_case(rng, params, n_updates, n, betas, extra=None, note=None):
    s = build(spec("AdaptiveTrainSchedule", **params))
    lo, hi = params.get("logsnr_range", [-10, 10])
    nb = params.get("buckets", 100)
    edges = np.linspace(lo, hi, nb + 1)
    updates = []
    for k in range(n_updates):
        ls = []
        while len(ls) < n:
            v = float(rng.uniform(lo - 0.5, hi + 0.5) if k % 2 else rng.uniform(lo, hi))
            if np.min(np.abs(edges - v)) > 1e-5:
                ls.append(v)
        loss = [float(x) for x in rng.uniform(0.1, 5.0, n)]
        u = {"logSNR": ls, "loss": loss}
        if betas[k] is not None:
            u["beta"] = betas[k]
        updates.append(u)
    if extra is not None:
        updates.append(extra)
    for u in updates:
        s.update_buckets(T(u["logSNR"]), T(u["loss"]), **({"beta": u["beta"]} if "beta" in u else {}))
    norm = (s.bucket_probs + s.min_probs) / (s.bucket_probs + s.min_probs).sum()
    c = {"component": "AdaptiveTrainSchedule", "params": params, "call": {},
         "input": {"updates": updates},
         "output": {"bucket_ranges": s.bucket_ranges, "bucket_probs": s.bucket_probs,
                    "norm_probs": norm, "limits": s.limits}}
    if note:
        c["note"] = note
    return c


def gen_schedules(rng):
    cases = []
    shifts3 = [1, 3, 0.4]
    sets = [
        ("CosineSchedule", {}, [1, 1.5, 0.25]),
        ("CosineSchedule", {"s": 0.015, "clamp_range": [0.0005, 0.998]}, shifts3),
        ("CosineSchedule", {"norm_instead": True, "s": 0.01}, shifts3),
        ("CosineSchedule", {"norm_instead": True, "clamp_range": [0.02, 0.97]}, shifts3),
        ("CosineSchedule", {"clamp_range": [0.0, 1.0], "s": 0.02}, shifts3),
        ("CosineSchedule", {"clamp_range": [0.0, 0.995]}, [1, 2]),
        ("CosineSchedule", {"discrete_steps": 5}, shifts3),
        ("CosineSchedule", {"discrete_steps": 9, "s": 0.02}, shifts3),
        ("CosineSchedule", {"force_limits": False, "s": 0.005}, shifts3),
        ("CosineSchedule", {"shift": 0.5}, shifts3),
        ("CosineSchedule", {"shift": 3, "clamp_range": [0.001, 0.999]}, [1, 2, 0.5]),
        ("CosineSchedule", {"discrete_steps": 9, "force_limits": False, "shift": 2}, [1, 0.5]),
        ("CosineSchedule2", {}, shifts3),
        ("CosineSchedule2", {"logsnr_range": [-8, 14]}, shifts3),
        ("CosineSchedule2", {"logsnr_range": [-20, 20], "shift": 2}, [1, 0.5]),
        ("SqrtSchedule", {}, shifts3),
        ("SqrtSchedule", {"s": 0.01, "clamp_range": [0.001, 0.99]}, shifts3),
        ("SqrtSchedule", {"s": 0.0005, "norm_instead": True, "clamp_range": [0.005, 0.995]}, shifts3),
        ("SqrtSchedule", {"s": 0.01, "norm_instead": True}, [1, 2]),
        ("CosineSchedule", {"norm_instead": True, "clamp_range": [0.0, 1.0]}, [1, 0.5]),
        ("EDMSampleSchedule", {"sigma_range": [0.002, 80], "p": 2.5}, [1, 2]),
        ("RectifiedFlowsSchedule", {}, shifts3),
        ("RectifiedFlowsSchedule", {"logsnr_range": [-10, 12]}, shifts3),
        ("RectifiedFlowsSchedule", {"logsnr_range": [-20, 20], "force_limits": False}, shifts3),
        ("RectifiedFlowsSchedule", {"discrete_steps": 9}, [1, 2]),
        ("EDMSampleSchedule", {}, shifts3),
        ("EDMSampleSchedule", {"sigma_range": [0.005, 120], "p": 3}, shifts3),
        ("EDMSampleSchedule", {"sigma_range": [0.02, 20], "p": 9, "force_limits": False}, shifts3),
        ("LinearSchedule", {}, shifts3),
        ("LinearSchedule", {"logsnr_range": [-6, 9]}, shifts3),
        ("LinearSchedule", {"logsnr_range": [-12, 8], "discrete_steps": 5}, shifts3),
        ("LinearSchedule", {"logsnr_range": [-15, 15], "force_limits": False}, shifts3),
        ("StableDiffusionSchedule", {}, shifts3),
        ("StableDiffusionSchedule", {"linear_range": [0.0001, 0.02], "total_steps": 1000}, shifts3),
        ("StableDiffusionSchedule", {"linear_range": [0.0005, 0.01], "total_steps": 200}, shifts3),
        ("StableDiffusionSchedule", {"total_steps": 64, "discrete_steps": 9}, [1, 2]),
        ("InterpolatedSchedule", {"scheduler1": spec("SqrtSchedule"),
                                  "scheduler2": spec("EDMSampleSchedule"),
                                  "shifts": [1.0, 1.0]}, shifts3),
        ("InterpolatedSchedule", {"scheduler1": spec("LinearSchedule", logsnr_range=[-12, 6]),
                                  "scheduler2": spec("CosineSchedule", shift=2),
                                  "shifts": [0.5, 3.0]}, shifts3),
        ("InterpolatedSchedule", {"scheduler1": spec("StableDiffusionSchedule"),
                                  "scheduler2": spec("RectifiedFlowsSchedule", logsnr_range=[-10, 10]),
                                  "shifts": [1.5, 1.0]}, shifts3),
        ("InterpolatedSchedule", {"scheduler1": spec("CosineSchedule", s=0.02, force_limits=False),
                                  "scheduler2": spec("CosineSchedule2"),
                                  "shifts": [2, 0.5]}, [1, 2]),
    ]
    for comp, params, shifts in sets:
        grid = T_GRID_D if "discrete_steps" in params else T_GRID
        for sh in shifts:
            cases.append(schedule_case(comp, params, sh, grid=grid))
    # integer step indices
    cases.append(schedule_case("CosineSchedule", {"discrete_steps": 21}, 1, steps=[0, 3, 7, 10, 19, 20, 25]))
    cases.append(schedule_case("CosineSchedule", {"discrete_steps": 21}, 0.5, steps=[0, 3, 7, 10, 19, 20, 25]))
    cases.append(schedule_case("LinearSchedule", {"discrete_steps": 9, "logsnr_range": [-7, 7]}, 1, steps=[0, 2, 4, 8, 9]))
    cases.append(schedule_case("LinearSchedule", {"discrete_steps": 9, "logsnr_range": [-7, 7]}, 3, steps=[1, 4, 6, 8]))
    cases.append(schedule_case("RectifiedFlowsSchedule", {"discrete_steps": 5}, 1, steps=[0, 1, 2, 3, 4, 6]))
    # adaptive train
    cases.append(adaptive_train_case(rng, {"logsnr_range": [-4, 4], "buckets": 2, "min_probs": 0.5}, 2, 4,
                                     [None, 0.8]))
    cases.append(adaptive_train_case(rng, {}, 3, 10, [None, 0.95, None]))
    cases.append(adaptive_train_case(rng, {"logsnr_range": [-8, 6], "buckets": 14, "min_probs": 0.05}, 4, 7,
                                     [0.5, None, 0.9, 0.999]))
    cases.append(adaptive_train_case(
        rng, {"logsnr_range": [-3, 3], "buckets": 6, "min_probs": 0.3}, 1, 5, [None],
        extra={"logSNR": [-3.0, 3.0, 4.5, -6.0, 2.5, 2.7], "loss": [2.0, 7.0, 1.5, 0.25, 3.0, 9.0], "beta": 0.6},
        note="values outside [lo, hi) (incl. exactly hi) match no bucket; argmax of an all-zero row is 0, "
             "so they update bucket 0; 2.5 and 2.7 share a bucket (last write wins)"))
    return cases


# ----------------------------------------------------------------------------------------
# scalers

L_SC = ["-inf", -40.0, -30.5, -25.0, -12.0, -7.0, -3.0, -1.5, -0.25, -0.0001, -1e-07, 0.0, 1e-07,
        0.0001, 0.25, 1.5, 3.0, 7.0, 12.0, 25.0, 30.5, 40.0, "inf"]


def scaler_case(comp, setup=None):
    sc = build(spec(comp))
    call = {}
    out = {}
    if setup is not None:
        call["setup_limits"] = setup
        g = G.GDF(build(setup["schedule"]), sc, None, None, None)
        for c in setup["calls"]:
            g.setup_limits(**c)
        out["stretched_limits"] = list(sc.stretched_limits)
    a, b = sc(T(L_SC))
    out["a"], out["b"] = a, b
    return {"component": comp, "params": {}, "call": call, "input": {"logSNR": L_SC}, "output": out}


def calls(*cs):
    return [{"stretch_max": a, "stretch_min": b, "shift": c} for a, b, c in cs]


def gen_scalers(rng):
    return [
        scaler_case("VPScaler"),
        scaler_case("LERPScaler"),
        scaler_case("VPScaler", {"schedule": spec("SqrtSchedule"), "calls": calls((True, True, 1))}),
        scaler_case("VPScaler", {"schedule": spec("StableDiffusionSchedule"), "calls": calls((True, False, 0.5))}),
        scaler_case("VPScaler", {"schedule": spec("EDMSampleSchedule"), "calls": calls((False, True, 2))}),
        scaler_case("VPScaler", {"schedule": spec("CosineSchedule", s=0.02),
                                 "calls": calls((True, True, 1), (True, False, 1.5))}),
        scaler_case("VPScaler", {"schedule": spec("LinearSchedule", logsnr_range=[-6, 6]),
                                 "calls": calls((True, True, 1), (True, True, 1), (False, True, 1))}),
        scaler_case("VPScaler", {"schedule": spec("CosineSchedule", clamp_range=[0.0, 1.0]),
                                 "calls": calls((True, True, 1))}),
        scaler_case("VPScaler", {"schedule": spec("CosineSchedule"), "calls": calls((False, False, 1))}),
        scaler_case("LERPScaler", {"schedule": spec("RectifiedFlowsSchedule", logsnr_range=[-10, 10]),
                                   "calls": calls((True, True, 2))}),
        scaler_case("LERPScaler", {"schedule": spec("CosineSchedule"), "calls": calls((True, True, 1))}),
        scaler_case("LERPScaler", {"schedule": spec("InterpolatedSchedule", scheduler1=spec("CosineSchedule"),
                                                    scheduler2=spec("LinearSchedule", logsnr_range=[-5, 5]),
                                                    shifts=[2.0, 0.5]),
                                   "calls": calls((False, True, 1))}),
        scaler_case("LERPScaler", {"schedule": spec("LinearSchedule", logsnr_range=[-9, 7]),
                                   "calls": calls((True, True, 0.5), (True, True, 1))}),
        scaler_case("LERPScaler", {"schedule": spec("EDMSampleSchedule", sigma_range=[0.01, 50], p=5),
                                   "calls": calls((True, False, 1))}),
    ]


# ----------------------------------------------------------------------------------------
# targets


def scaled_ab(source, logsnr):
    sc = build(source["scaler"])
    if "setup_limits" in source:
        g = G.GDF(build(source["setup_limits"]["schedule"]), sc, None, None, None)
        for c in source["setup_limits"]["calls"]:
            g.setup_limits(**c)
    return sc(logsnr)


def gen_targets(rng):
    cases = []
    srcs = [
        ({"scaler": spec("VPScaler")}, [-6.5, -0.8, 0.0, 1.7, 11.0], (5, 3, 2, 2)),
        ({"scaler": spec("LERPScaler")}, [-6.5, -0.8, 0.0, 1.7, 11.0], (5, 3, 2, 2)),
        ({"scaler": spec("VPScaler"), "setup_limits": {"schedule": spec("LinearSchedule", logsnr_range=[-8, 8]),
                                                        "calls": calls((True, True, 1))}},
         [-8.0, -2.5, 3.3, 8.0], (4, 2, 3, 1)),
        ({"scaler": spec("LERPScaler"), "setup_limits": {"schedule": spec("RectifiedFlowsSchedule"),
                                                          "calls": calls((True, True, 1))}},
         [-15.0, 0.6, 15.0], (3, 1, 2, 3)),
    ]
    for src, ls, shape in srcs:
        lt = T(ls)
        a, b = scaled_ab(src, lt)
        for comp in ("EpsilonTarget", "X0Target", "VTarget", "RectifiedFlowsTarget"):
            x0 = torch.from_numpy(rng.standard_normal(shape))
            eps = torch.from_numpy(rng.standard_normal(shape))
            pred = torch.from_numpy(rng.standard_normal(shape))
            t = build(spec(comp))
            av, bv = a.view(-1, 1, 1, 1), b.view(-1, 1, 1, 1)
            noised = x0 * av + eps * bv
            target = t(x0, eps, lt, av, bv)
            out = {"noised": noised, "target": target,
                   "x0": t.x0(noised, pred, lt, av, bv), "epsilon": t.epsilon(noised, pred, lt, av, bv),
                   "x0_roundtrip": t.x0(noised, target, lt, av, bv),
                   "epsilon_roundtrip": t.epsilon(noised, target, lt, av, bv)}
            cases.append({"component": comp, "params": {}, "call": {},
                          "input": {"x0": x0, "epsilon": eps, "logSNR": lt, "a": a, "b": b, "pred": pred},
                          "output": out, "source": {"input_scaler": src}})
    return cases


# ----------------------------------------------------------------------------------------
# noise conds

L_NC_FULL = ["-inf", -35.0, -25.0, -12.0, -6.0, -3.0, -1.5, -0.3, -0.0001, 0.0, 0.0001, 0.3, 1.5, 3.0,
             6.0, 12.0, 25.0, 35.0, "inf"]
L_NC = [x for x in L_NC_FULL if isinstance(x, float)]


def nc_case(comp, params, grid):
    c = build(spec(comp, **params))
    return {"component": comp, "params": params, "call": {}, "input": {"logSNR": grid},
            "output": {"noise_cond": c(T(grid))}}


def gen_noise_conds(rng):
    F, P = L_NC_FULL, L_NC
    return [
        nc_case("CosineTNoiseCond", {}, F),
        nc_case("CosineTNoiseCond", {"s": 0.005}, P),
        nc_case("CosineTNoiseCond", {"shift": 0.5}, P),
        nc_case("CosineTNoiseCond", {"clamp_range": [0.2, 0.8], "s": 0.01}, P),
        nc_case("EDMNoiseCond", {}, F),
        nc_case("EDMNoiseCond", {"shift": 2, "clamp_range": [-2, 0.5]}, P),
        nc_case("SigmoidNoiseCond", {}, F),
        nc_case("SigmoidNoiseCond", {"clamp_range": [0.1, 0.8], "shift": 0.25}, P),
        nc_case("LogSNRNoiseCond", {}, F),
        nc_case("LogSNRNoiseCond", {"shift": 0.5, "clamp_range": [-6, 8]}, P),
        nc_case("EDMSigmaNoiseCond", {}, F),
        nc_case("EDMSigmaNoiseCond", {"sigma_data": 0.25, "shift": 0.5}, P),
        nc_case("EDMSigmaNoiseCond", {"sigma_data": 2.0, "clamp_range": [0.0, 50.0]}, P),
        nc_case("RectifiedFlowsNoiseCond", {}, F),
        nc_case("RectifiedFlowsNoiseCond", {"clamp_range": [0.05, 0.9]}, P),
        nc_case("RectifiedFlowsNoiseCond", {"shift": 2}, P),
        nc_case("StableDiffusionNoiseCond", {}, F),
        nc_case("StableDiffusionNoiseCond", {"linear_range": [0.0001, 0.02], "total_steps": 1000}, P),
        nc_case("StableDiffusionNoiseCond", {"total_steps": 200, "shift": 0.5}, P),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("SigmoidNoiseCond"), "steps": 64}, F),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("CosineTNoiseCond", s=0.01), "steps": 500,
                                      "clamp_range": [10, 480]}, P),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("LogSNRNoiseCond", shift=2), "steps": 40,
                                      "continuous_range": [-10, 10]}, P),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("EDMNoiseCond"), "steps": 200,
                                      "continuous_range": [-3, 3], "shift": 0.5,
                                      "clamp_range": [0.0, 199.0]}, P),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("StableDiffusionNoiseCond"), "steps": 1000}, P),
        nc_case("RectifiedFlowsNoiseCond", {"shift": 2}, [-1.3862943611198906, -3.0, 0.5]),
        # Off the k/1000 grid: at t = k/1000 exactly, CosineT of the Cosine schedule is k/1000
        # in exact arithmetic, and the original's rounding puts about one point in seven at
        # k - 1 (gdf's stable form gives k; README "Exactness"), so those points are left out.
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("CosineTNoiseCond"), "steps": 1000},
                [float(x) for x in G.CosineSchedule()(torch.linspace(0.0003, 0.9997, 41))]),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("CosineTNoiseCond"), "steps": 1000},
                [float(x) for x in G.CosineSchedule(clamp_range=[0.0, 1.0])(torch.linspace(0.0203, 0.9803, 49))]),
        nc_case("DiscreteNoiseCond", {"noise_cond": spec("StableDiffusionNoiseCond"), "steps": 1000},
                [float(x) for x in G.StableDiffusionSchedule()(T([1.0, 0.999, 0.5, 0.37, 0.001, 0.0]))]),
    ]


# ----------------------------------------------------------------------------------------
# loss weights

L_LW = [-30.0, -22.0, -14.0, -9.0, -4.5, -2.5, -0.75, -0.0001, 0.0, 0.0001, 0.75, 2.5, 4.5, 9.0, 14.0,
        22.0, 30.0]
LW_CALLS = [{}, {"shift": 3}, {"clamp_range": [0.05, 6.0]}, {"shift": 0.25, "clamp_range": [0.01, 1000.0]}]


def lw_case(comp, params, call, grid=L_LW):
    w = build(spec(comp, **params))
    return {"component": comp, "params": params, "call": call, "input": {"logSNR": grid},
            "output": {"weight": w(T(grid), **call)}}


def adaptive_lw_case(rng, params, call, n_updates, n, betas, queries=None, fixed=None, note=None):
    w = build(spec("AdaptiveLossWeight", **params))
    lo, hi = params.get("logsnr_range", [-10, 10])
    nb = params.get("buckets", 300)
    edges = np.linspace(lo, hi, nb - 1)
    sh = call.get("shift", 1)
    off = 2 * np.log(sh) if sh != 1 else 0.0

    def far(v, o=0.0):
        return np.min(np.abs(edges - (v + o))) > 1e-5

    if fixed is not None:
        updates = fixed
    else:
        updates = []
        for k in range(n_updates):
            ls = []
            while len(ls) < n:
                v = float(rng.uniform(lo - 1.0, hi + 1.0))
                if far(v) and far(v, off):
                    ls.append(v)
            u = {"logSNR": ls, "loss": [float(x) for x in rng.uniform(0.2, 5.0, n)]}
            if betas[k] is not None:
                u["beta"] = betas[k]
            updates.append(u)
    for u in updates:
        w.update_buckets(T(u["logSNR"]), T(u["loss"]), **({"beta": u["beta"]} if "beta" in u else {}))
    if queries is None:
        qs = []
        while len(qs) < 12:
            v = float(rng.uniform(lo - 1.5, hi + 1.5))
            if far(v, off):
                qs.append(v)
        qs = sorted(qs) + [-40.0, 40.0] + [v for v in updates[0]["logSNR"] if far(v, off)]
    else:
        qs = queries
    c = {"component": "AdaptiveLossWeight", "params": params, "call": call,
         "input": {"updates": updates, "logSNR": qs},
         "output": {"bucket_ranges": w.bucket_ranges, "bucket_losses": w.bucket_losses,
                    "weight": w(T(qs), **call)}}
    if note:
        c["note"] = note
    return c


def gen_loss_weights(rng):
    sets = [
        ("ConstantLossWeight", {}),
        ("ConstantLossWeight", {"v": 0.3}),
        ("SNRLossWeight", {}),
        ("P2LossWeight", {}),
        ("P2LossWeight", {"k": 2.0, "gamma": 1.5, "s": 1.3}),
        ("SNRPlusOneLossWeight", {}),
        ("MinSNRLossWeight", {}),
        ("MinSNRLossWeight", {"max_snr": 8}),
        ("MinSNRPlusOneLossWeight", {}),
        ("MinSNRPlusOneLossWeight", {"max_snr": 3.5}),
        ("TruncatedSNRLossWeight", {}),
        ("TruncatedSNRLossWeight", {"min_snr": 2}),
        ("SechLossWeight", {}),
        ("SechLossWeight", {"div": 1.5}),
        ("DebiasedLossWeight", {}),
        ("SigmoidLossWeight", {}),
        ("SigmoidLossWeight", {"s": 0.6}),
        ("ComposedLossWeight", {"div": spec("DebiasedLossWeight"), "mul": spec("SigmoidLossWeight", s=-1.5)}),
        ("ComposedLossWeight", {"div": [spec("SNRPlusOneLossWeight"), spec("ConstantLossWeight", v=0.5)],
                                "mul": [spec("MinSNRLossWeight", max_snr=3), spec("SechLossWeight", div=4),
                                        spec("P2LossWeight", gamma=0.5)]}),
        ("ComposedLossWeight", {"div": [spec("TruncatedSNRLossWeight", min_snr=0.5)], "mul": []}),
        ("ComposedLossWeight", {"div": spec("SNRPlusOneLossWeight"),
                                "mul": [spec("ComposedLossWeight", div=[spec("SechLossWeight", div=3)],
                                             mul=spec("SNRLossWeight")), spec("ConstantLossWeight", v=2)]}),
    ]
    cases = []
    for comp, params in sets:
        for call in LW_CALLS:
            cases.append(lw_case(comp, params, call))
    ap = {"logsnr_range": [-6, 4], "buckets": 12, "weight_range": [0.2, 5]}
    for call in LW_CALLS:
        cases.append(adaptive_lw_case(rng, ap, call, 3, 7, [0.8, None, 0.3]))
    for call in LW_CALLS[:2]:
        cases.append(adaptive_lw_case(rng, {}, call, 2, 10, [None, 0.9]))
    cases.append(lw_case("SNRLossWeight", {}, {"clamp_range": [0, 5]}))
    cases.append(adaptive_lw_case(rng, {"logsnr_range": [-1, 1], "buckets": 3, "weight_range": [0.1, 10]},
                                  {}, 2, 4, [None, 0.5]))
    cases.append(adaptive_lw_case(rng, {"buckets": 50, "weight_range": [0.001, 1000]}, {}, 4, 9,
                                  [None, 0.7, None, 0.95]))
    cases.append(adaptive_lw_case(
        rng, {"logsnr_range": [-2, 2], "buckets": 6, "weight_range": [0.25, 3]}, {}, 0, 0, [],
        fixed=[{"logSNR": [-0.5, -0.3, 0.9, -2.5, 2.5], "loss": [4.0, 8.0, 0.5, 3.0, 6.0], "beta": 0.5}],
        queries=[-0.5, -0.3, 0.9, -2.5, 2.5, 0.1],
        note="duplicate bucket indices inside ONE update_buckets call: torch CPU index_put (no accumulate) "
             "lets the last occurrence win; torch documents this as unspecified"))
    return cases


# ----------------------------------------------------------------------------------------
# framework configs

SC = {"schedule": spec("CosineSchedule", clamp_range=[0.0001, 0.9999]), "input_scaler": spec("VPScaler"),
      "target": spec("EpsilonTarget"), "noise_cond": spec("CosineTNoiseCond"), "loss_weight": spec("P2LossWeight")}
EDM = {"schedule": spec("EDMSampleSchedule"), "input_scaler": spec("VPScaler"), "target": spec("VTarget"),
       "noise_cond": spec("EDMNoiseCond"),
       "loss_weight": spec("ComposedLossWeight", div=[spec("SNRPlusOneLossWeight")],
                           mul=[spec("MinSNRLossWeight", max_snr=5)])}
RF = {"schedule": spec("RectifiedFlowsSchedule"), "input_scaler": spec("LERPScaler"),
      "target": spec("RectifiedFlowsTarget"), "noise_cond": spec("RectifiedFlowsNoiseCond"),
      "loss_weight": spec("ConstantLossWeight")}
STRETCHED = {"schedule": spec("CosineSchedule"), "input_scaler": spec("VPScaler"), "target": spec("X0Target"),
             "noise_cond": spec("SigmoidNoiseCond"), "loss_weight": spec("SNRLossWeight"), "offset_noise": 0.1,
             "setup_limits": [{"stretch_max": True, "stretch_min": True, "shift": 1}]}
SD_DISC = {"schedule": spec("StableDiffusionSchedule"), "input_scaler": spec("VPScaler"), "target": spec("VTarget"),
           "noise_cond": spec("DiscreteNoiseCond", noise_cond=spec("StableDiffusionNoiseCond"), steps=1000),
           "loss_weight": spec("AdaptiveLossWeight", logsnr_range=[-5, 5], buckets=20, weight_range=[0.5, 4])}
INTERP_LERP = {"schedule": spec("InterpolatedSchedule", scheduler1=spec("CosineSchedule"),
                                scheduler2=spec("LinearSchedule", logsnr_range=[-5, 5]), shifts=[2.0, 0.5]),
               "input_scaler": spec("LERPScaler"), "target": spec("X0Target"), "noise_cond": spec("LogSNRNoiseCond"),
               "loss_weight": spec("ComposedLossWeight", div=[spec("SechLossWeight")],
                                   mul=[spec("P2LossWeight", gamma=0.5), spec("SNRLossWeight")]),
               "offset_noise": 0.3}
LIN_DISC = {"schedule": spec("LinearSchedule", logsnr_range=[-8, 8], discrete_steps=11),
            "input_scaler": spec("VPScaler"), "target": spec("RectifiedFlowsTarget"),
            "noise_cond": spec("EDMSigmaNoiseCond", sigma_data=0.5), "loss_weight": spec("MinSNRPlusOneLossWeight")}
STRETCH_LERP2 = {"schedule": spec("LinearSchedule", logsnr_range=[-9, 9]), "input_scaler": spec("LERPScaler"),
                 "target": spec("VTarget"), "noise_cond": spec("SigmoidNoiseCond"),
                 "loss_weight": spec("TruncatedSNRLossWeight"),
                 "setup_limits": [{"stretch_max": True, "stretch_min": True, "shift": 2},
                                  {"stretch_max": False, "stretch_min": True, "shift": 1}]}
RF_NCSHIFT = dict(RF, noise_cond=spec("RectifiedFlowsNoiseCond", shift=2))
VP_RFCOND = {"schedule": spec("LinearSchedule", logsnr_range=[-5, 5]), "input_scaler": spec("VPScaler"),
             "target": spec("EpsilonTarget"), "noise_cond": spec("RectifiedFlowsNoiseCond"),
             "loss_weight": spec("ConstantLossWeight")}
# CosineT with another s than the schedule's: not its exact inverse, so round t do not land on
# the truncation boundaries left out above.
SC_DISC = dict(SC, schedule=spec("CosineSchedule"),
               noise_cond=spec("DiscreteNoiseCond", noise_cond=spec("CosineTNoiseCond", s=0.01), steps=1000))
LIN_DSIG = dict(SC, schedule=spec("LinearSchedule", logsnr_range=[-6, 6]),
                noise_cond=spec("DiscreteNoiseCond", noise_cond=spec("SigmoidNoiseCond"), steps=100))
SC_OFF = dict(SC, offset_noise=0.25)
RF_OFF = dict(RF, offset_noise=0.25)
SC_OFF2 = dict(SC, offset_noise=0.6)


def gen_diffuse(rng):
    cases = []
    plan = [
        ("sc", SC, (4, 3, 2, 3), [([0.0, 0.21, 0.66, 1.0], 1, 1), ([0.03, 0.4, 0.8, 0.97], 3, 0.5),
                                  ([0.12, 0.5, 0.77, 0.9995], 0.25, 3)]),
        ("sc+offset", SC_OFF, (2, 2, 3, 3), [([0.15, 0.85], 1, 1), ([0.0, 1.0], 2, 2)]),
        ("sc+offset0.6", SC_OFF2, (3, 1, 2, 2), [([0.3, 0.6, 0.9], 1, 1)]),
        ("edm", EDM, (4, 2, 2, 2), [([0.0, 0.33, 0.71, 1.0], 1, 1), ([0.08, 0.46, 0.91, 0.6], 4, 1),
                                   ([0.25, 0.5, 0.75, 0.999], 0.5, 0.25)]),
        ("rf", RF, (4, 3, 2, 3), [([0.0, 0.5, 0.8, 1.0], 1, 1), ([0.1, 0.5, 0.35, 0.92], 2, 1),
                                  ([0.22, 0.5, 0.64, 0.999], 0.5, 2)]),
        ("rf+offset", RF_OFF, (2, 2, 4, 2), [([0.05, 0.5], 1, 1)]),
        ("rf_ncshift2", RF_NCSHIFT, (2, 2, 2, 2), [([0.5, 0.3], 2, 1)]),
        ("vp_rfcond", VP_RFCOND, (2, 2, 2, 2), [([0.5, 0.2], 1, 1)]),
        ("sc_discrete", SC_DISC, (4, 1, 2, 2), [([0.1, 0.25, 0.5, 0.75], 1, 1), ([0.3, 0.6, 0.9, 0.95], 1, 1),
                                               ([0.125, 0.375, 0.625, 0.875], 1, 1)]),
        ("lin_dsig", LIN_DSIG, (4, 1, 2, 2), [([0.1, 0.25, 0.5, 0.75], 1, 1), ([0.3, 0.6, 0.9, 0.95], 1, 1)]),
        ("stretched", STRETCHED, (3, 2, 2, 2), [([0.0, 0.45, 1.0], 1, 1), ([0.1, 0.6, 0.95], 3, 1),
                                               ([0.02, 0.3, 0.98], 0.5, 2)]),
        ("sd_discrete", SD_DISC, (3, 2, 2, 2), [([0.0, 0.37, 1.0], 1, 1), ([0.2, 0.55, 0.9], 2, 0.5)]),
        ("interp_lerp", INTERP_LERP, (3, 2, 3, 2), [([0.0, 0.4, 1.0], 1, 1), ([0.15, 0.7, 0.93], 0.5, 3)]),
        ("lin_discrete", LIN_DISC, (4, 1, 3, 3), [([0.0, 0.25, 0.45, 1.0], 1, 1), ([0.05, 0.35, 0.6, 0.95], 2, 1)]),
        ("stretched_lerp2", STRETCH_LERP2, (3, 2, 2, 3), [([0.0, 0.5, 1.0], 1, 1), ([0.2, 0.58, 0.9], 1.5, 0.7)]),
    ]
    for config, p, shape, runs in plan:
        g = build_gdf(p)
        for ts, sh, lsh in runs:
            B = shape[0]
            ts = ts[:B]
            x0 = torch.from_numpy(rng.standard_normal(shape))
            eps = torch.from_numpy(rng.standard_normal(shape))
            inp = {"x0": x0, "epsilon": eps, "t": T(ts)}
            kw = {}
            if p.get("offset_noise", 0) > 0:
                off = torch.from_numpy(rng.standard_normal((shape[0], shape[1], 1, 1)))
                inp["offset"] = off
                kw["offset"] = off
            r = g.diffuse(x0, eps.clone(), T(ts), shift=sh, loss_shift=lsh, **kw)
            out = dict(zip(["noised", "epsilon", "target", "logSNR", "noise_cond", "loss_weight"], r))
            cases.append({"component": "GDF", "params": p, "call": {"method": "diffuse", "shift": sh,
                                                                     "loss_shift": lsh},
                          "input": inp, "output": out, "config": config})
        # undiffuse at this config's schedule values
        ls = g.schedule(T(runs[0][0][:shape[0]]) * 0.8 + 0.1, shift=1)
        x = torch.from_numpy(rng.standard_normal(shape))
        pred = torch.from_numpy(rng.standard_normal(shape))
        x0o, epso = g.undiffuse(x, ls, pred)
        cases.append({"component": "GDF", "params": p, "call": {"method": "undiffuse"},
                      "input": {"x": x, "logSNR": ls, "pred": pred}, "output": {"x0": x0o, "epsilon": epso},
                      "config": config})
    return cases


# ----------------------------------------------------------------------------------------
# samplers


class Replay:
    """Patches torch.randn_like: the k-th call returns seq[k] (or zeros when seq is None)."""

    def __init__(self, seq):
        self.seq, self.k, self.orig = seq, 0, torch.randn_like

    def __enter__(self):
        def fake(t, *a, **kw):
            if self.seq is None:
                r = torch.zeros_like(t)
            else:
                r = self.seq[self.k].clone()
            self.k += 1
            return r
        torch.randn_like = fake
        return self

    def __exit__(self, *a):
        torch.randn_like = self.orig


def gen_samplers(rng):
    cases = []
    vp = SC
    lerp = RF
    vp_str = dict(SC, schedule=spec("CosineSchedule"), setup_limits=[{"stretch_max": True, "stretch_min": True,
                                                                          "shift": 2}])
    lerp_str = dict(RF, setup_limits=[{"stretch_max": True, "stretch_min": False, "shift": 1}])
    vp_l, vp_lp = [-6.0, -1.0, 0.7, 5.0], [-4.5, 0.2, 2.0, 8.5]
    le_l, le_lp = [-4.0, -0.5, 0.0, 2.5], [-2.5, 0.0, 1.5, 6.0]
    plan = [
        ("DDIMSampler", vp, {}, (4, 2, 3, 3), vp_l, vp_lp),
        ("DDIMSampler", vp, {"eta": 0.25}, (4, 2, 3, 3), vp_l, vp_lp),
        ("DDIMSampler", vp, {"eta": 1.0}, (2, 3, 2, 2), [-3.0, 4.0], [-1.0, 9.0]),
        ("DDIMSampler", vp, {"eta": 1.6}, (2, 3, 2, 2), [-3.0, 4.0], [-2.9, 4.2]),
        ("DDPMSampler", vp, {}, (3, 1, 4, 2), [-12.0, 0.0, 6.0], [-9.0, 1.0, 9.5]),
        ("DDPMSampler", vp, {"eta": 0.6}, (4, 2, 3, 3), vp_l, vp_lp),
        ("LCMSampler", vp, {}, (4, 2, 3, 3), vp_l, vp_lp),
        ("DDIMSampler", lerp, {}, (4, 2, 2, 3), le_l, le_lp),
        ("DDIMSampler", lerp, {"eta": 0.4}, (4, 2, 2, 3), le_l, le_lp),
        ("DDPMSampler", lerp, {}, (4, 2, 2, 3), le_l, le_lp),
        ("LCMSampler", lerp, {}, (4, 2, 2, 3), le_l, le_lp),
        ("DDIMSampler", vp_str, {"eta": 0.5}, (3, 2, 2, 2), [-10.5965, -2.0, 3.0], [-7.0, 1.0, 7.8239]),
        ("DDPMSampler", vp_str, {}, (3, 2, 2, 2), [-9.0, 0.0, 5.0], [-8.0, 2.0, 7.0]),
        ("LCMSampler", lerp_str, {}, (3, 2, 2, 2), [-15.0, 0.0, 5.0], [-10.0, 3.0, 15.0]),
        ("DDIMSampler", lerp_str, {"eta": 0.7}, (3, 2, 2, 2), [-15.0, -1.0, 5.0], [-10.0, 3.0, 15.0]),
    ]
    for comp, gp, call, shape, l, lp in plan:
        g = build_gdf(gp)
        smp = getattr(G, comp)(g)
        x = torch.from_numpy(rng.standard_normal(shape))
        x0 = torch.from_numpy(rng.standard_normal(shape))
        eps = torch.from_numpy(rng.standard_normal(shape))
        inp = {"x": x, "x0": x0, "epsilon": eps, "logSNR": T(l), "logSNR_prev": T(lp)}
        ddim0 = comp == "DDIMSampler" and call.get("eta", 0) == 0
        noise = None if ddim0 else torch.from_numpy(rng.standard_normal(shape))
        if noise is not None:
            inp["noise"] = noise
        with Replay(None if noise is None else [noise]):
            xo = smp(x, x0, eps, T(l), T(lp), **call)
        cases.append({"component": comp, "params": {"gdf": {"component": "GDF", "params": gp}}, "call": call,
                      "input": inp, "output": {"x": xo}})
    return cases


# ----------------------------------------------------------------------------------------
# sample loops


def toy_model(rec):
    def model(x, noise_cond, cond):
        rec.append((x.shape[0], cond.shape[0], noise_cond.clone()))
        return torch.tanh(0.5 * x + noise_cond.view(-1, 1, 1, 1)) + 0.1 * cond[: x.shape[0]]
    return model


def loop_case(rng, config, name, p, shape, sampler, timesteps, cfg=None, t_start=1.0, t_end=0.0, cfg_rho=0.7,
              cfg_t_stop=None, cfg_t_start=None, shift=1, sampler_params=None, uncond=False):
    g = build_gdf(p)
    B = shape[0]
    x_init = torch.from_numpy(rng.standard_normal(shape))
    cond = torch.from_numpy(rng.standard_normal(shape))
    inp = {"x_init": x_init, "cond": cond}
    kw = {}
    if uncond:
        u = torch.from_numpy(rng.standard_normal(shape))
        inp["uncond"] = u
        kw["unconditional_inputs"] = {"cond": u}
    sname = None if sampler is None else sampler["component"]
    eta = (sampler_params or {}).get("eta", 1 if sname in (None, "DDPMSampler") else 0)
    needs_noise = sname == "LCMSampler" or eta > 0
    noise = torch.from_numpy(rng.standard_normal((timesteps,) + tuple(shape))) if needs_noise else None
    if noise is not None:
        inp["noise"] = noise
    smp = None if sampler is None else getattr(G, sampler["component"])(g)
    rec = []
    with Replay(None if noise is None else list(noise)):
        gen = g.sample(toy_model(rec), {"cond": cond}, x_init.shape, sampler=smp, t_start=t_start, t_end=t_end,
                       timesteps=timesteps, x_init=x_init, cfg=cfg, cfg_t_stop=cfg_t_stop, cfg_t_start=cfg_t_start,
                       cfg_rho=cfg_rho, sampler_params=sampler_params, shift=shift, **kw)
        steps = list(gen)
    r_range = torch.linspace(t_start, t_end, timesteps + 1)
    lr = g.schedule(r_range, shift=shift)[:, None].expand(-1, B)
    assert len(rec) == timesteps
    out = {
        "r_range": r_range,
        "logSNR_range": lr.contiguous(),
        "noise_cond": torch.stack([nc[:B] for (_, _, nc) in rec]),
        "cfg_applied": [xb == 2 * B for (xb, _, _) in rec],
        "model_cond_batch": [cb for (_, cb, _) in rec],
        "x0": torch.stack([s[0] for s in steps]),
        "x": torch.stack([s[1] for s in steps]),
        "pred": torch.stack([s[2] for s in steps]),
    }
    call = {"sampler": sampler, "timesteps": timesteps, "cfg": cfg, "t_start": t_start, "t_end": t_end,
            "cfg_rho": cfg_rho, "cfg_t_stop": cfg_t_stop, "cfg_t_start": cfg_t_start, "shift": shift,
            "sampler_params": sampler_params, "model": "toy_tanh"}
    return {"component": "GDF", "params": p, "call": call, "input": inp, "output": out, "config": config,
            "name": name}


def gen_sample_loops(rng):
    D = {"component": "DDIMSampler", "params": {}}
    DP = {"component": "DDPMSampler", "params": {}}
    L = {"component": "LCMSampler", "params": {}}
    c = []
    c.append(loop_case(rng, "sc", "ddim_nocfg_b3", SC, (3, 1, 3, 3), D, 6, cfg=None, cfg_rho=0.5))
    c.append(loop_case(rng, "sc", "ddim_cfg4.5_rho0.5", SC, (3, 1, 3, 3), D, 6, cfg=4.5, cfg_rho=0.5))
    c.append(loop_case(rng, "sc", "ddim_cfg_list_rho0", SC, (2, 3, 2, 2), D, 9, cfg=[2.0, 6.0], cfg_rho=0.0))
    c.append(loop_case(rng, "sc", "ddim_cfg_t_stop_on_grid", SC, (2, 2, 3, 3), D, 10, cfg=3.0, cfg_t_stop=0.3))
    c.append(loop_case(rng, "sc", "ddim_cfg_t_start_on_grid", SC, (2, 2, 3, 3), D, 4, cfg=2.0, cfg_rho=0.0,
                       cfg_t_start=0.5))
    c.append(loop_case(rng, "sc", "ddim_cfg_window", SC, (2, 2, 3, 3), D, 12, cfg=5.0, cfg_rho=1.0,
                       cfg_t_stop=0.2, cfg_t_start=0.75))
    c.append(loop_case(rng, "sc", "ddim_t_range", SC, (2, 2, 2, 2), D, 7, cfg=3.0, t_start=0.85, t_end=0.1))
    c.append(loop_case(rng, "sc", "ddim_shift0.5", SC, (2, 2, 2, 2), D, 8, cfg=3.0, shift=0.5))
    c.append(loop_case(rng, "sc", "ddim_shift3_uncond", SC, (2, 2, 2, 2), D, 5, cfg=1.5, cfg_rho=0.2, shift=3,
                       uncond=True))
    c.append(loop_case(rng, "sc", "ddpm_default_eta0.4", SC, (2, 2, 3, 2), None, 6, cfg=3.0,
                       sampler_params={"eta": 0.4}))
    c.append(loop_case(rng, "sc", "ddim_eta1_b1", SC, (1, 2, 4, 4), D, 6, cfg=None, sampler_params={"eta": 1.0}))
    c.append(loop_case(rng, "sc", "lcm_cfg", SC, (2, 2, 2, 3), L, 4, cfg=2.5, cfg_rho=0.0))
    c.append(loop_case(rng, "edm", "edm_ddpm_default", EDM, (2, 2, 3, 3), None, 6, cfg=2.0))
    c.append(loop_case(rng, "edm", "edm_ddim_cfg_list", EDM, (3, 1, 2, 2), D, 7, cfg=[1.0, 4.0], cfg_rho=0.4,
                       cfg_t_stop=0.3))
    c.append(loop_case(rng, "rf", "rf_ddim_cfg_zero_step", RF, (2, 2, 3, 2), D, 10, cfg=2.0))
    c.append(loop_case(rng, "rf", "rf_lcm_nocfg", RF, (2, 2, 2, 2), L, 6, cfg=None))
    c.append(loop_case(rng, "rf", "rf_ddpm_uncond", RF, (2, 1, 3, 3), DP, 5, cfg=3.5, uncond=True))
    c.append(loop_case(rng, "rf", "rf_ddim_shift2", RF, (2, 2, 2, 2), D, 7, cfg=2.5, cfg_rho=0.0, shift=2))
    c.append(loop_case(rng, "stretched", "stretched_x0_ddim", STRETCHED, (2, 2, 2, 2), D, 6, cfg=2.0,
                       t_end=0.05, sampler_params={"eta": 0.3}))
    c.append(loop_case(rng, "sd_discrete", "sd_discrete_ddim", SD_DISC, (2, 2, 2, 2), D, 8, cfg=3.0))
    c.append(loop_case(rng, "sc", "ddim_T20_cfg_t_stop0.65", SC, (1, 1, 2, 2), D, 20, cfg=3.0, cfg_t_stop=0.65))
    c.append(loop_case(rng, "sc", "ddim_T1", SC, (2, 1, 2, 2), D, 1, cfg=2.0))
    c.append(loop_case(rng, "vp_rfcond", "vp_rfcond_ddim", VP_RFCOND, (2, 1, 2, 2), D, 4, cfg=None))
    c.append(loop_case(rng, "sc_discrete", "sc_discrete_ddim_T10", SC_DISC, (2, 1, 2, 2), D, 10, cfg=2.0))
    c.append(loop_case(rng, "sc_discrete", "sc_discrete_ddim_T16", SC_DISC, (2, 1, 2, 2), D, 16, cfg=None))
    c.append(loop_case(rng, "lin_dsig", "lin_dsig_ddim_T12", LIN_DSIG, (2, 1, 2, 2), D, 12, cfg=None))
    c.append(loop_case(rng, "interp_lerp", "interp_lerp_ddim", INTERP_LERP, (2, 2, 2, 2), D, 6, cfg=None))
    return c


# ----------------------------------------------------------------------------------------


def main():
    os.makedirs(OUT, exist_ok=True)
    gens = [("schedules", gen_schedules, 101), ("scalers", gen_scalers, 202), ("targets", gen_targets, 303),
            ("noise_conds", gen_noise_conds, 404), ("loss_weights", gen_loss_weights, 505),
            ("diffuse", gen_diffuse, 606), ("samplers", gen_samplers, 707), ("sample_loops", gen_sample_loops, 808)]
    only = set(sys.argv[2:])
    for name, fn, seed in gens:
        if only and name not in only:
            continue
        rng = np.random.default_rng(seed)
        write(name, fn(rng))


if __name__ == "__main__":
    main()
