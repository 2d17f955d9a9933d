"""Golden data for ComfyUI's schedulers (`comfy.samplers.calculate_sigmas`).

Compiles, by name (`ast`), ComfyUI's scheduler functions out of `comfy/samplers.py`, the
model-sampling classes out of `comfy/model_sampling.py`, `make_beta_schedule` out of
`comfy/ldm/modules/diffusionmodules/util.py` and k-diffusion's `get_sigmas_karras`,
`get_sigmas_exponential` and `append_zero` out of `comfy/k_diffusion/sampling.py`, runs every
scheduler of `SCHEDULER_HANDLERS` (the table itself is compiled too) on every model sampling
below at several step counts, and the `BasicScheduler`, `AlignYourStepsScheduler` and
`SDTurboScheduler` nodes (compiled out of `comfy_extras/`, `comfy_api` stubbed), with torch's default float32
as in ComfyUI, and writes
`schedulers.json` next to this file (read by `tests/golden_comfy_schedulers.rs`, or from
`GDF_COMFYUI_GOLDEN_DIR`):

    COMFY_SRC=/path/to/ComfyUI /tmp/torchvenv/bin/python tests/comfyui/gen_schedulers.py

Each case holds the σ list ComfyUI samples with, `model_sampling.timestep` of each level but
the last (what the model is fed), and four entries of the model sampling's σ table. The
file's `source` carries the ComfyUI commit it was made from (`COMFY_COMMIT`, when set) and
the sha256 of the text of every function and class it ran. Needs torch (2.15.0 here), numpy
and scipy. Deterministic: a re-run gives a byte-identical file.
"""

import ast
import functools
import hashlib
import json
import math
import os
import sys
import types
from typing import Callable, NamedTuple

import numpy
import scipy.stats
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
COMFY = os.environ.get("COMFY_SRC")
if not COMFY:
    sys.exit("set COMFY_SRC to a ComfyUI checkout")
torch.set_num_threads(1)
assert torch.get_default_dtype() == torch.float32

FILES = {
    "comfy/ldm/modules/diffusionmodules/util.py": ["make_beta_schedule"],
    "comfy/k_diffusion/sampling.py": ["append_zero", "get_sigmas_karras", "get_sigmas_exponential"],
    "comfy/model_sampling.py": [
        "rescale_zero_terminal_snr_sigmas",
        "ModelSamplingDiscrete",
        "ModelSamplingContinuousEDM",
        "time_snr_shift",
        "ModelSamplingDiscreteFlow",
        "flux_time_shift",
        "ModelSamplingFlux",
    ],
    "comfy_extras/nodes_align_your_steps.py": [
        "loglinear_interp",
        "NOISE_LEVELS",
        "AlignYourStepsScheduler",
    ],
    "comfy_extras/nodes_custom_sampler.py": ["SDTurboScheduler", "BasicScheduler"],
    "comfy/samplers.py": [
        "simple_scheduler",
        "ddim_scheduler",
        "normal_scheduler",
        "beta_scheduler",
        "linear_quadratic_schedule",
        "kl_optimal_scheduler",
        "SchedulerHandler",
        "calculate_sigmas",
    ],
}


def compile_named(path, names, ns, sha):
    """Compiles the functions and classes `names` of `path` alone into `ns`; the sha256 of
    their text into `sha`."""
    text = open(path).read()
    nodes = {}
    for n in ast.parse(text).body:
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            nodes[n.name] = n
        elif isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name):
            nodes[n.targets[0].id] = n
    for name in names:
        node = nodes[name]
        seg = ast.get_source_segment(text, node)
        sha[name] = hashlib.sha256(seg.encode()).hexdigest()
        exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), ns)
    return nodes


class NodeOutput:
    """`comfy_api`'s node output, as far as the scheduler nodes use it."""

    def __init__(self, *result):
        self.result = result


def load():
    ns = {
        "torch": torch,
        "math": math,
        "np": numpy,
        "numpy": numpy,
        "scipy": scipy,
        "partial": functools.partial,
        "NamedTuple": NamedTuple,
        "Callable": Callable,
        "logging": __import__("logging"),
        "override": lambda f: f,
        "io": types.SimpleNamespace(
            ComfyNode=object,
            Schema=object,
            NodeOutput=NodeOutput,
            Combo=None,
            Int=None,
            Float=None,
            Sigmas=None,
        ),
        "IO": None,
        "comfy": types.SimpleNamespace(samplers=types.SimpleNamespace()),
        "ComfyNodeABC": object,
        "InputTypeDict": dict,
    }
    sha = {}
    for rel, names in FILES.items():
        nodes = compile_named(os.path.join(COMFY, rel), names, ns, sha)
        if rel == "comfy/k_diffusion/sampling.py":
            ns["k_diffusion_sampling"] = types.SimpleNamespace(
                **{n: ns[n] for n in names}
            )
        if rel == "comfy/samplers.py":
            # The handler table, compiled from its own text after the functions it names.
            text = open(os.path.join(COMFY, rel)).read()
            node = nodes["SCHEDULER_HANDLERS"]
            sha["SCHEDULER_HANDLERS"] = hashlib.sha256(
                ast.get_source_segment(text, node).encode()
            ).hexdigest()
            exec(compile(ast.Module(body=[node], type_ignores=[]), rel, "exec"), ns)
    return ns, sha


C, SHA = load()


def model_sampling(spec):
    """A ComfyUI model-sampling object for a case's `model_sampling`."""
    kind = spec["kind"]
    if kind == "discrete":
        cfg = types.SimpleNamespace(
            sampling_settings={
                "linear_start": spec["linear_start"],
                "linear_end": spec["linear_end"],
                "timesteps": spec["timesteps"],
            }
        )
        return C["ModelSamplingDiscrete"](cfg, zsnr=spec["zsnr"])
    if kind == "flow":
        cfg = types.SimpleNamespace(
            sampling_settings={"shift": spec["shift"], "multiplier": spec["multiplier"]}
        )
        return C["ModelSamplingDiscreteFlow"](cfg)
    if kind == "flux":
        return C["ModelSamplingFlux"](types.SimpleNamespace(sampling_settings={"shift": spec["shift"]}))
    if kind == "continuous_edm":
        cfg = types.SimpleNamespace(
            sampling_settings={"sigma_min": spec["sigma_min"], "sigma_max": spec["sigma_max"]}
        )
        return C["ModelSamplingContinuousEDM"](cfg)
    raise ValueError(kind)


MODEL_SAMPLINGS = [
    ("sd", {"kind": "discrete", "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "zsnr": False}),
    ("sd_zsnr", {"kind": "discrete", "linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000, "zsnr": True}),
    ("ddpm_500", {"kind": "discrete", "linear_start": 0.0001, "linear_end": 0.02, "timesteps": 500, "zsnr": False}),
    ("sd3", {"kind": "flow", "shift": 3.0, "multiplier": 1000}),
    ("flow_unshifted", {"kind": "flow", "shift": 1.0, "multiplier": 1000}),
    ("lumina2", {"kind": "flow", "shift": 6.0, "multiplier": 1.0}),
    ("flux", {"kind": "flux", "shift": 1.15}),
    ("flux_hires", {"kind": "flux", "shift": 2.02}),
    ("edm", {"kind": "continuous_edm", "sigma_min": 0.002, "sigma_max": 120.0}),
    ("playground", {"kind": "continuous_edm", "sigma_min": 0.002, "sigma_max": 80.0}),
]

# (name, options the dedicated node passes, step counts)
STEPS = [1, 2, 3, 7, 20, 30]
SCHEDULERS = [
    ("simple", {}, STEPS),
    ("sgm_uniform", {}, STEPS),
    ("karras", {}, STEPS),
    ("karras", {"rho": 5.0}, [4, 25]),
    ("exponential", {}, STEPS),
    ("ddim_uniform", {}, STEPS),
    ("beta", {}, STEPS),
    ("beta", {"alpha": 0.5, "beta": 0.7}, [10, 40]),
    ("normal", {}, STEPS),
    ("linear_quadratic", {}, STEPS),
    ("linear_quadratic", {"threshold_noise": 0.05, "linear_steps": 3}, [5, 12]),
    ("kl_optimal", {}, [s for s in STEPS if s > 1]),
]


AYS = [(m, steps, d) for m in ["SD1", "SDXL", "SVD"] for steps, d in
       [(10, 1.0), (1, 1.0), (4, 1.0), (20, 1.0), (32, 1.0), (20, 0.5), (15, 0.7), (5, 0.3)]]
TURBO = [(steps, d) for steps in [1, 2, 4, 10] for d in [1.0, 0.5, 0.75, 0.31]]


def sigmas_for(ms, name, opts, steps):
    """`calculate_sigmas`, or the node's own call with its options."""
    if not opts:
        return C["calculate_sigmas"](ms, name, steps)
    if name == "karras":
        return C["get_sigmas_karras"](
            n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max), rho=opts["rho"]
        )
    if name == "beta":
        return C["beta_scheduler"](ms, steps, alpha=opts["alpha"], beta=opts["beta"])
    if name == "linear_quadratic":
        return C["linear_quadratic_schedule"](
            ms, steps, threshold_noise=opts["threshold_noise"], linear_steps=opts["linear_steps"]
        )
    raise ValueError(name)


def floats(t):
    """A float32 tensor's values, each as the shortest decimal that reads back as the same
    float32 (`numpy.float32`'s `str`), for [`dump_case`]."""
    return RawList(str(numpy.float32(v)) for v in t.reshape(-1).tolist())


class RawList(list):
    """Numbers already written as JSON."""


def dump_case(case):
    """One case as one line of JSON, its [`RawList`]s written as they are."""
    raw = {}
    plain = {}
    for k, v in case.items():
        if isinstance(v, RawList):
            raw[k] = "[" + ", ".join(v) + "]"
            plain[k] = f"@{k}@"
        else:
            plain[k] = v
    text = json.dumps(plain)
    for k, v in raw.items():
        text = text.replace(f'"@{k}@"', v)
    return text


def main():
    assert list(C["SCHEDULER_HANDLERS"]) == sorted({s[0] for s in SCHEDULERS}, key=[s[0] for s in SCHEDULERS].index)
    cases = []
    for ms_name, spec in MODEL_SAMPLINGS:
        ms = model_sampling(spec)
        table = ms.sigmas
        n = len(table)
        head = {str(i): float(table[i]) for i in (0, 1, n // 2, n - 1)}  # float32 widened
        for name, opts, steps_list in SCHEDULERS:
            for steps in steps_list:
                s = sigmas_for(ms, name, opts, steps)
                assert s.dtype == torch.float32, (name, s.dtype)
                ts = ms.timestep(s[:-1].clone())
                cases.append(
                    {
                        "name": f"{ms_name}/{name}{'+' if opts else ''}/{steps}",
                        "model_sampling": spec,
                        "scheduler": dict(name=name, **opts),
                        "steps": steps,
                        "sigmas": floats(s),
                        "timesteps": floats(ts.float()),
                        "table": head,
                    }
                )
    for model_type, steps, denoise in AYS:
        s = C["AlignYourStepsScheduler"].execute(model_type, steps, denoise).result[0]
        cases.append({
            "name": f"ays/{model_type}/{steps}/{denoise}",
            "node": "AlignYourStepsScheduler",
            "model_type": model_type,
            "steps": steps,
            "denoise": denoise,
            "sigmas": floats(s),
        })
    for ms_name in ["sd", "ddpm_500"]:
        spec = dict(MODEL_SAMPLINGS)[ms_name]
        ms = model_sampling(spec)
        model = types.SimpleNamespace(get_model_object=lambda _n, ms=ms: ms)
        for steps, denoise in TURBO:
            s = C["SDTurboScheduler"]().get_sigmas(model, steps, denoise)[0]
            ts = ms.timestep(s[:-1].clone())
            cases.append({
                "name": f"turbo/{ms_name}/{steps}/{denoise}",
                "node": "SDTurboScheduler",
                "model_sampling": spec,
                "steps": steps,
                "denoise": denoise,
                "sigmas": floats(s),
                "timesteps": floats(ts.float()),
            })
    # BasicScheduler (KSampler's denoise): every scheduler, a few denoise values.
    C["comfy"].samplers.calculate_sigmas = C["calculate_sigmas"]
    for ms_name in ["sd", "sd3", "flux"]:
        spec = dict(MODEL_SAMPLINGS)[ms_name]
        ms = model_sampling(spec)
        model = types.SimpleNamespace(get_model_object=lambda _n, ms=ms: ms)
        for name in C["SCHEDULER_HANDLERS"]:
            for steps, denoise in [(10, 0.5), (7, 0.33), (12, 0.8), (5, 1.0)]:
                if name == "kl_optimal" and int(steps / denoise) < 2:
                    continue
                s = C["BasicScheduler"]().get_sigmas(model, name, steps, denoise)[0]
                cases.append({
                    "name": f"basic/{ms_name}/{name}/{steps}/{denoise}",
                    "node": "BasicScheduler",
                    "model_sampling": spec,
                    "scheduler": {"name": name},
                    "steps": steps,
                    "denoise": denoise,
                    "sigmas": floats(s),
                })
    out = {
        "source": {
            "comfyui_commit": os.environ.get("COMFY_COMMIT", "unknown"),
            "torch": torch.__version__,
            "scipy": scipy.__version__,
            "numpy": numpy.__version__,
            "sha256": SHA,
        },
        "cases": cases,
    }
    # One case a line: a reviewable diff, a third of the indented size.
    with open(os.path.join(HERE, "schedulers.json"), "w") as f:
        f.write('{"source": ' + json.dumps(out["source"]) + ',\n"cases": [\n')
        f.write(",\n".join(dump_case(c) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
