"""Cost of SR-TOD over its baseline detector: multiply-adds, inference latency, training step
time and peak inference memory, for the reference and the efficient reconstruction head.

Every ratio is measured side by side in one run: configurations alternate within each repetition,
so drift on a shared machine hits all of them alike.

    .venv/bin/python benchmarks/bench_cost.py [--sizes 800x800 1920x1080] [--reps 5] [--variants ...]
        [--device cuda]

On a GPU (``--device cuda``) each timed call ends with ``torch.cuda.synchronize()`` and the peak
memory is the CUDA allocator's (weights of the model plus the most inference allocates on top).
"""
import argparse
import json
import warnings
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import describe_run  # noqa: E402
from detectron2.config import get_cfg  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402
from detectron2.structures import Boxes, Instances  # noqa: E402
from detectron2.utils.events import EventStorage  # noqa: E402

from srtod_d2 import add_srtod_config  # noqa: E402
from srtod_d2.utils.profiling import count_gmacs, interleaved_timings, median  # noqa: E402

VARIANTS = {
    "baseline": ["MODEL.SRTOD.ENABLED", False],
    "srtod-reference": ["MODEL.SRTOD.HEAD", "reference"],
    "srtod-efficient": ["MODEL.SRTOD.HEAD", "efficient"],
    # efficient head as wide as the FPN (bench_gain's efficient-wide, at this config's width)
    "srtod-efficient-wide": ["MODEL.SRTOD.HEAD", "efficient"],
    # half the FPN's width (bench_gain's efficient-half)
    "srtod-efficient-half": ["MODEL.SRTOD.HEAD", "efficient"],
    # the same width as -wide with a 1x1 hidden conv (bench_gain's efficient-1x1-wide)
    "srtod-efficient-1x1-wide": ["MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.EFFICIENT_KERNEL", 1],
}


def build(config, variant, device="cpu", shared_from=None):
    """The model of one variant. Random weights, but the parts all variants share are copied
    from ``shared_from``, the RPN proposes its anchors and no box passes the test score
    threshold: with random weights the number of surviving boxes (and the NMS time) would
    differ by chance between variants."""
    cfg = get_cfg()
    add_srtod_config(cfg)
    cfg.merge_from_file(str(ROOT / config))
    cfg.merge_from_list(["MODEL.DEVICE", device, "MODEL.WEIGHTS", "", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 1.0,
                         "MODEL.RETINANET.SCORE_THRESH_TEST", 1.0] + VARIANTS[variant])
    if variant.endswith("-wide"):
        cfg.MODEL.SRTOD.EFFICIENT_CHANNELS = cfg.MODEL.FPN.OUT_CHANNELS
    elif variant.endswith("-half"):
        cfg.MODEL.SRTOD.EFFICIENT_CHANNELS = cfg.MODEL.FPN.OUT_CHANNELS // 2
    torch.manual_seed(0)
    model = build_model(cfg)
    rpn = getattr(model, "proposal_generator", None)
    if rpn is not None:
        # Zero objectness and deltas: the proposals are the anchors themselves, the same for
        # every variant. Random-weight RPNs fed SR-TOD's rescaled P2 otherwise propose different
        # numbers of valid boxes, and the NMS time that follows differed by up to 20%.
        for layer in (rpn.rpn_head.objectness_logits, rpn.rpn_head.anchor_deltas):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    if shared_from is not None:
        model.load_state_dict(shared_from.state_dict(), strict=False)
    return model


def image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, h, w), generator=g).to(torch.uint8)


def head_gmacs(model, h, w):
    if not hasattr(model.backbone, "recon_head"):
        return 0.0
    c = model.backbone.output_shape()["p2"].channels
    return count_gmacs(model.backbone.recon_head, torch.zeros(1, c, h // 4, w // 4, device=model.device))


def _timing_options(models):
    """GPU calls return before their kernels finish: synchronize inside the timed span, and warm
    up longer (cuDNN picks its algorithms and the allocator grows its pool on the first calls)."""
    if next(iter(models.values())).device.type == "cuda":
        return {"sync": torch.cuda.synchronize, "warmup": 3}
    return {}


def time_inference(models, h, w, reps):
    inputs = [{"image": image(h, w)}]
    for m in models.values():
        m.eval()
    with torch.no_grad():
        times = interleaved_timings({k: (lambda m=m: m(inputs)) for k, m in models.items()}, reps,
                                    **_timing_options(models))
    return {k: median(v) for k, v in times.items()}


def time_training(models, h, w, reps):
    inst = Instances((h, w))
    inst.gt_boxes = Boxes(torch.tensor([[10.0, 10.0, 18.0, 17.0], [100.0, 60.0, 104.0, 66.0], [300.0, 200.0, 330.0, 224.0]]))
    inst.gt_classes = torch.tensor([0, 1, 0])
    inputs = [{"image": image(h, w), "instances": inst}]
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-5) for k, m in models.items()}

    def step(k):
        m = models[k]
        loss = sum(m(inputs).values())
        opts[k].zero_grad()
        loss.backward()
        opts[k].step()

    for m in models.values():
        m.train()
    with EventStorage():
        times = interleaved_timings({k: (lambda k=k: step(k)) for k in models}, reps, **_timing_options(models))
    return {k: median(v) for k, v in times.items()}


def _status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def _measure_peak(config, variant, h, w):
    import ctypes
    import gc

    m = build(config, variant).eval()
    x = [{"image": image(h, w)}]
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # return the build's freed heap: inference must fault pages in
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    before = _status_mib("VmRSS")
    with torch.no_grad():
        m(x)
    print(before, _status_mib("VmHWM"))


def peak_memory_child(config, variant, h, w):
    """Resident memory (MiB) of a fresh process with the model built, and its peak during one
    inference: the difference is what inference itself needs."""
    code = (
        "import sys, warnings; warnings.filterwarnings('ignore'); sys.path[:0] = [%r, %r];"
        "from bench_cost import _measure_peak; _measure_peak(%r, %r, %d, %d)"
    ) % (str(ROOT), str(ROOT / "benchmarks"), config, variant, h, w)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, peak = map(float, out.stdout.split()[-2:])
    return before, peak


def peak_memory_cuda(config, variant, h, w):
    """Weights of one freshly built model on the GPU (MiB), and those plus the most its inference
    allocates on top of what was allocated before it (the other models stay resident but do
    not count)."""
    import gc

    m = build(config, variant, device="cuda").eval()
    x = [{"image": image(h, w)}]
    weights = sum(t.numel() * t.element_size() for t in list(m.parameters()) + list(m.buffers())) / 2**20
    with torch.no_grad():
        m(x)  # cuDNN workspaces and the like are allocated on the first call: not counted as peak
        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        m(x)
        torch.cuda.synchronize()
        extra = (torch.cuda.max_memory_allocated() - before) / 2**20
    del m
    torch.cuda.empty_cache()
    return weights, weights + extra


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/VisDrone/srtod_faster_rcnn_R_50_FPN.yaml")
    ap.add_argument("--sizes", nargs="+", default=["800x800", "1920x1080"])
    ap.add_argument("--train-size", default="800x800")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS)[1:], choices=list(VARIANTS)[1:],
                    help="SR-TOD variants timed against the baseline")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the models' MODEL.DEVICE)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    print(describe_run())
    print(f"config: {args.config} (random weights; cost does not depend on them)\n")
    models = {"baseline": build(args.config, "baseline", device=args.device)}
    for k in args.variants:
        models[k] = build(args.config, k, device=args.device, shared_from=models["baseline"])
    if args.device == "cuda":
        peak_memory = peak_memory_cuda
    else:
        peak_memory = peak_memory_child
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, m in models.items()}
    results = {"device": args.device, "config": args.config, "params_M": params, "sizes": {}}
    for size in args.sizes:
        w, h = map(int, size.split("x"))
        lat = time_inference(models, h, w, args.reps)
        entry = {"latency_s": lat, "head_GMAC": {k: head_gmacs(m, h, w) for k, m in models.items()},
                 "model_GMAC": {k: count_gmacs(m, [{"image": image(h, w)}]) for k, m in models.items()},
                 "peak_MiB": {k: peak_memory(args.config, k, h, w) for k in models}}
        results["sizes"][size] = entry
        print(f"== inference at {size} on {args.device} (median of {args.reps}, {args.threads} threads)")
        # head GMAC: the full-resolution head that training runs; + GMAC: what inference adds
        # (the efficient head computes only the sampled pixels there)
        print(f"{'variant':24s} {'params M':>9s} {'model GMAC':>11s} {'+ GMAC':>7s} {'head GMAC':>10s} {'latency s':>10s} {'x baseline':>10s} {'infer. peak MiB':>15s} {'(+ over model)':>14s}")
        for k in models:
            extra = entry['model_GMAC'][k] - entry['model_GMAC']['baseline']
            print(f"{k:24s} {params[k]:9.2f} {entry['model_GMAC'][k]:11.1f} {extra:7.1f} {entry['head_GMAC'][k]:10.1f} "
                  f"{lat[k]:10.3f} {lat[k] / lat['baseline']:10.3f} {entry['peak_MiB'][k][1]:15.0f} {entry['peak_MiB'][k][1] - entry['peak_MiB'][k][0]:14.0f}")
        print()
    if not args.skip_train:
        w, h = map(int, args.train_size.split("x"))
        tr = time_training(models, h, w, args.reps)
        results["train_step_s"] = tr
        print(f"== training step at {args.train_size} on {args.device}, batch 1 (median of {args.reps})")
        for k in models:
            print(f"{k:24s} {tr[k]:8.3f} s  x{tr[k] / tr['baseline']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
