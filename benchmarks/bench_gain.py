"""Does SR-TOD find more tiny objects? Train baseline and SR-TOD variants with the same
detector, schedule and seeds; evaluate each with the AI-TOD metrics; report mean and spread.

    .venv/bin/python benchmarks/bench_gain.py --dataset synthetic-easy --seeds 1 2 --iters 300 --jobs 2
    .venv/bin/python benchmarks/bench_gain.py --dataset sirst --seeds 1 2 --iters 300 --jobs 2

Runs land in benchmarks/results/gain/<dataset>/<variant>/seed<k>/ (a finished run is reused).
SIRST-V2 is read from $DETECTRON2_DATASETS/sirst_v2 (default datasets/sirst_v2; where that is
missing, a link to ../shared/data/sirst_v2 is made there). ``--device cuda`` trains on a GPU.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import describe_run  # noqa: E402

CONFIGS = {"synthetic": "configs/Synthetic/srtod_faster_rcnn_R18_tiny.yaml",
           "synthetic-easy": "configs/Synthetic/srtod_faster_rcnn_R18_quickstart.yaml",
           "synthetic-sky": "configs/Synthetic/srtod_faster_rcnn_R18_sky.yaml",
           "sirst": "configs/SIRST-V2/srtod_faster_rcnn_R18_tiny.yaml"}
# Thresholds several variants share, in image units: the paper's DroneSwarms 40/255, and 254/255,
# above any difference, so the map is all zeros.
T40 = ["MODEL.SRTOD.THRESHOLD_INIT", "0.15686275"]
T254 = ["MODEL.SRTOD.THRESHOLD_INIT", "0.99607843"]
# the efficient head at the small models' FPN width (64) instead of the default 32
WIDE = ["MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.EFFICIENT_CHANNELS", "64"]
# Map dropout at 0.5: half the training images meet their objects unmarked.
DROP50 = ["MODEL.SRTOD.MAP_DROPOUT", "0.5"]
# detectron2's three box stages (IoU 0.5/0.6/0.7), class-agnostic regression as the shipped
# cascade configs set it.
CASCADE = ["MODEL.ROI_HEADS.NAME", "CascadeROIHeads", "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", "True"]
VARIANTS = {
    "baseline": ["MODEL.SRTOD.ENABLED", "False"],
    "reference": ["MODEL.SRTOD.HEAD", "reference"],
    "efficient": ["MODEL.SRTOD.HEAD", "efficient"],
    "reference-ste": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_GRAD", "ste"],
    # the surrogate-gradient threshold at the detector's learning rate (before the 0.01 scale)
    "reference-ste-lr1": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_GRAD", "ste",
                          "MODEL.SRTOD.THRESHOLD_LR_SCALE", "1.0"],
    "reference-max": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.MASK_RESIZE", "max"],
    "efficient-wide": WIDE,
    # half the FPN's width (64 -> 32 here; 128 at R50-FPN's 256)
    "efficient-half": ["MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.EFFICIENT_CHANNELS", "32"],
    "efficient-ste": ["MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.THRESHOLD_GRAD", "ste"],
    # a threshold above most of the background's difference (SIRST-V2: 9% of it is above 16/255)
    "reference-t16": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_INIT", "0.0627451"],
    # 16/255 with the max-pooled resize: at P2 nearest keeps 54% of SIRST-V2's targets at 16/255, max 95%
    "reference-max-t16": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.MASK_RESIZE", "max",
                          "MODEL.SRTOD.THRESHOLD_INIT", "0.0627451"],
    # the paper's DroneSwarms threshold: on the sky set, a head trained at 8/255 marks 2% of the sky
    # above 40/255 and a quarter of object pixels (max resize at P2: 76% of boxes, 2.6% of other cells)
    "reference-t40": ["MODEL.SRTOD.HEAD", "reference", *T40],
    # the efficient head with the paper's 40/255 map on: is it within the reference head's spread there too?
    "efficient-t40": ["MODEL.SRTOD.HEAD", "efficient", *T40],
    # the 40/255 map spread one P2 cell: at 40/255 the map marks part of an object (AP75 -7 to -9
    # on the marked ones, session 26); does doubling its whole extent keep the boxes?
    "efficient-t40-dil3": ["MODEL.SRTOD.HEAD", "efficient", *T40,
                           "MODEL.SRTOD.MASK_DILATION", "3"],
    # the 40/255 map replaced by zeros on half the training images: a map-trained detector scores the
    # objects its map misses as background (session 29); does meeting unmarked objects in training stop it?
    "efficient-t40-drop50": ["MODEL.SRTOD.HEAD", "efficient", *T40, *DROP50],
    "reference-t40-drop50": ["MODEL.SRTOD.HEAD", "reference", *T40, *DROP50],
    # map dropout at the config's own threshold (SIRST-V2: the paper's 4/255)
    "reference-drop50": ["MODEL.SRTOD.HEAD", "reference", *DROP50],
    "efficient-drop50": ["MODEL.SRTOD.HEAD", "efficient", *DROP50],
    # more of the same: with the reference head 0.5 gained +3.3 AP over no dropout on every seed
    "reference-t40-drop80": ["MODEL.SRTOD.HEAD", "reference", *T40,
                             "MODEL.SRTOD.MAP_DROPOUT", "0.8"],
    "reference-max-t40": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.MASK_RESIZE", "max",
                          *T40],
    # the floor the surrogate gradient drives SIRST-V2's threshold to: the binary map is ~1
    # everywhere, so DGFE is channel reweighting x2; tells the map's selection from the rest
    "reference-t05": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_INIT", "0.00196079"],
    # a tenth of the reconstruction loss: does the auxiliary task take P2's capacity from detection?
    "reference-recon01": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.RECON_LOSS_WEIGHT", "0.1"],
    # ten times the reconstruction loss: under joint training the head leaves a plain sky at ~19/255
    # (the map marks 88% of it); does a heavier loss make it reproduce the background?
    "reference-recon10": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.RECON_LOSS_WEIGHT", "10.0"],
    # t counted from each image's median difference: at 600 it on the synthetic set, 8/255 over the
    # median marks 0.44 of object pixels and 0.16 of the rest (over zero: 0.92 and 0.81)
    "reference-median": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_BASE", "median"],
    "efficient-median": ["MODEL.SRTOD.HEAD", "efficient", "MODEL.SRTOD.THRESHOLD_BASE", "median"],
    "reference-median-ste": ["MODEL.SRTOD.HEAD", "reference", "MODEL.SRTOD.THRESHOLD_BASE", "median",
                             "MODEL.SRTOD.THRESHOLD_GRAD", "ste"],
    # control: the binary map is the ground-truth boxes (benchmarks/oracle_map.py), at test time too
    "reference-oracle": ["MODEL.META_ARCHITECTURE", "OracleMapRCNN", "MODEL.SRTOD.HEAD", "reference"],
    # the map from each pixel's 9x9 local mean, not the head (benchmarks/local_mean_map.py): a good map
    # that reads only the image
    "reference-localmean": ["MODEL.META_ARCHITECTURE", "LocalMeanMapRCNN", "MODEL.SRTOD.HEAD", "reference"],
    # the same without DGFE's channel attention (P2 times mask + 1): the attention's rescaling or the map?
    "reference-localmean-noreweight": ["MODEL.META_ARCHITECTURE", "LocalMeanNoReweightRCNN", "MODEL.SRTOD.HEAD",
                                       "reference"],
    # the reconstruction loss on P2 without DGFE (benchmarks/reconstruction_only.py), and DGFE with the
    # map forced to zeros (its channel attention alone): with reference-t40, which part costs the AP?
    "reference-nodgfe": ["MODEL.META_ARCHITECTURE", "ReconstructionOnlyRCNN", "MODEL.SRTOD.HEAD", "reference"],
    "reference-t254": ["MODEL.SRTOD.HEAD", "reference", *T254],
    # the same without the reconstruction loss: DGFE's channel attention on P2 and nothing else
    "reference-t254-recon0": ["MODEL.SRTOD.HEAD", "reference", *T254,
                              "MODEL.SRTOD.RECON_LOSS_WEIGHT", "0.0"],
    # the efficient head with the map of zeros: does the cheaper head carry reference-t254's gain?
    "efficient-t254": ["MODEL.SRTOD.HEAD", "efficient", *T254],
    # efficient-wide's controls: its map of 4/255 is 1 on most of SIRST-V2's background, so is its
    # gain the map's, or the wide head's and DGFE's attention with any constant map?
    "efficient-wide-t254": [*WIDE, *T254],
    "efficient-wide-t05": [*WIDE, "MODEL.SRTOD.THRESHOLD_INIT", "0.00196079"],
    # the paper's 40/255 map ramped in over the first half of 400 iterations (P2 * attention first)
    "reference-t40-warm200": ["MODEL.SRTOD.HEAD", "reference", *T40,
                              "MODEL.SRTOD.MAP_WARMUP_ITERS", "200"],
    # the wide head with a random map of its own map's density in training, ones at test
    # (benchmarks/random_map.py): is its map's help in training a spatial dropout?
    "efficient-wide-random60": ["MODEL.META_ARCHITECTURE", "RandomMapRCNN", *WIDE],
    # a 1x1 hidden conv as wide as the FPN: efficient-wide's width at a ninth of its first conv
    "efficient-1x1-wide": [*WIDE, "MODEL.SRTOD.EFFICIENT_KERNEL", "1"],
    # Cascade R-CNN, the detector of the paper's headline (DroneSwarms APvt 28.8 -> 30.8): does a
    # box head that refines its boxes three times change what the map gives?
    "baseline-cascade": ["MODEL.SRTOD.ENABLED", "False", *CASCADE],
    "efficient-wide-cascade": [*WIDE, *CASCADE],
    "reference-cascade": ["MODEL.SRTOD.HEAD", "reference", *CASCADE],
}
METRICS = ["AP", "AP50", "APvt", "APt", "APs"]
# Variants that need a model or loader train_net.py does not register: their own launcher.
SCRIPTS = {"reference-oracle": "benchmarks/oracle_map.py", "reference-localmean": "benchmarks/local_mean_map.py",
           "reference-localmean-noreweight": "benchmarks/local_mean_map.py",
           "reference-nodgfe": "benchmarks/reconstruction_only.py",
           "efficient-wide-random60": "benchmarks/random_map.py"}


def ensure_sirst_link():
    link = ROOT / os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")) / "sirst_v2"
    if link.is_dir():
        return
    target = ROOT.parent / "shared" / "data" / "sirst_v2"
    if not target.is_dir():
        raise SystemExit(f"SIRST-V2 found neither at {link} nor at {target}")
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        link.symlink_to(target)


def start_weights(continue_root, dataset, variant, seed):
    """The finished model a second training cycle starts from: the same variant and seed under
    ``continue_root`` (laid out as --out lays runs out). A missing one is an error, not a fresh start."""
    path = Path(continue_root) / dataset / variant / f"seed{seed}" / "model_final.pth"
    if not path.is_file():
        raise SystemExit(f"--continue-from: {path} does not exist (run {variant} seed {seed} there first)")
    return str(path.resolve())


def shared_weights(path):
    """The one checkpoint every run starts from (``--init``), as an absolute path; a missing file
    is an error, not a fresh start."""
    if not Path(path).is_file():
        raise SystemExit(f"--init: {path} does not exist")
    return str(Path(path).resolve())


def run_one(dataset, variant, seed, iters, threads, out_root, device="cpu", continue_root=None, init_weights=None):
    out = out_root / dataset / variant / f"seed{seed}"
    done = out / "final_metrics.json"
    if continue_root and init_weights:
        raise ValueError("continue_root and init_weights both name the weights to start from: pass one")
    init = None
    if continue_root:
        init = start_weights(continue_root, dataset, variant, seed)
    elif init_weights:
        init = shared_weights(init_weights)
    if done.exists():
        result = json.loads(done.read_text())
        if result.get("iters", iters) != iters:
            raise SystemExit(f"{done} is a {result['iters']}-iteration run, not {iters}: pass another --out")
        if result.get("device", "cpu") != device:
            raise SystemExit(f"{done} was trained on {result.get('device', 'cpu')}, not {device}: pass another --out")
        if result.get("init") != init:
            raise SystemExit(f"{done} started from {result.get('init') or 'scratch'}, not {init or 'scratch'}: "
                             "pass another --out")
        return result
    out.mkdir(parents=True, exist_ok=True)
    # MODEL.WEIGHTS without --resume loads the model only: the second cycle gets a fresh schedule
    cmd = [sys.executable, str(ROOT / SCRIPTS.get(variant, "train_net.py")), "--config-file", str(ROOT / CONFIGS[dataset]),
           "SEED", str(seed), "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", str(iters),
           "SOLVER.STEPS", f"({int(iters * 0.75)}, {int(iters * 0.92)})", "SOLVER.CHECKPOINT_PERIOD", str(iters),
           "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", device, *VARIANTS[variant],
           *(["MODEL.WEIGHTS", init] if init else [])]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.getenv("PYTHONPATH")] if p]),
               PYTHONWARNINGS="ignore")
    t0 = time.time()
    with open(out / "stdout.log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    rows = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    final = [r for r in rows if "bbox/AP" in r][-1]
    result = {m: final[f"bbox/{m}"] for m in METRICS}
    result["threshold_255"] = [(r["iteration"], r["srtod/threshold_255"]) for r in rows if "srtod/threshold_255" in r]
    result["minutes"] = (time.time() - t0) / 60
    result["iters"] = iters
    result["device"] = device
    result["init"] = init
    done.write_text(json.dumps(result))
    print(f"  {dataset} {variant} seed {seed}: " + " ".join(f"{m} {result[m]:.1f}" for m in METRICS)
          + f" ({result['minutes']:.1f} min)", flush=True)
    return result


def summarize(dataset, results):
    lines = [f"| {dataset} | variant | seeds | " + " | ".join(METRICS) + " |",
             "|---|---|---|" + "---|" * len(METRICS)]
    for variant, runs in results.items():
        cells = []
        for m in METRICS:
            vals = [r[m] for r in runs]
            # one seed has no spread: print its value alone rather than "± nan"
            spread = f" ± {(max(vals) - min(vals)) / 2:.1f}" if len(vals) > 1 else ""
            cells.append(f"{statistics.mean(vals):.1f}{spread}")
        lines.append(f"| | {variant} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(results, seeds, base="baseline", metrics=("AP", "APvt", "APt")):
    """Same-seed differences of each variant minus ``base``: runs of one seed see the same images
    in the same order, so these can show a gain that two overlapping ranges hide. Returns the
    lines to print (none without ``base`` among the variants)."""
    if base not in results:
        return []
    lines = []
    for variant, runs in results.items():
        if variant == base:
            continue
        for m in metrics:
            diffs = [r[m] - b[m] for r, b in zip(runs, results[base])]
            above = sum(d > 0 for d in diffs)
            se = f" ± {statistics.stdev(diffs) / math.sqrt(len(diffs)):.1f} s.e." if len(diffs) > 1 else ""
            lines.append(f"{variant} - {base}, {m}: "
                         + ", ".join(f"seed {s} {d:+.1f}" for s, d in zip(seeds, diffs))
                         + f"; mean {statistics.mean(diffs):+.1f}{se}, above on {above} of {len(diffs)}"
                         + f", sign test p {sign_test_p(diffs):.2f}")
    return lines


def differences_against(results, seeds, bases, metrics=("AP", "APvt", "APt")):
    """``paired_differences`` of ``metrics`` against each of ``bases`` in turn; a pair printed
    against an earlier base is not printed again reversed."""
    lines = []
    for i, base in enumerate(bases):
        rest = {v: runs for v, runs in results.items() if v not in bases[:i]}
        lines += paired_differences(rest, seeds, base=base, metrics=metrics)
    return lines


def sign_test_p(diffs):
    """Two-sided sign test: the chance that a fair coin splits the non-zero differences at least
    as unevenly. It assumes nothing about their size, which suits runs that land in clusters."""
    signs = [d > 0 for d in diffs if d != 0]
    n, k = len(signs), sum(signs)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(max(k, n - k), n + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--variants", nargs="+", default=["baseline", "reference", "efficient"], choices=sorted(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (each gets cores/jobs threads)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads per run (default cores/jobs; set it when several bench_gain share a machine)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/gain"))
    ap.add_argument("--device", default="cpu", help="cpu or cuda (MODEL.DEVICE of every run)")
    ap.add_argument("--minus", nargs="+", default=None, metavar="VARIANT",
                    help="print same-seed differences against each of these (among --variants; default the "
                         "baseline where it is run), e.g. baseline reference to also pair the efficient head "
                         "with the reference head")
    ap.add_argument("--minus-metrics", nargs="+", choices=METRICS, default=["AP", "APvt", "APt"],
                    metavar="METRIC", help=f"the metrics --minus pairs (of {' '.join(METRICS)}; default AP APvt "
                                            "APt, the goal's)")
    start = ap.add_mutually_exclusive_group()
    start.add_argument("--continue-from", default=None, metavar="DIR",
                       help="start each run from the model_final.pth of the same variant and seed under DIR "
                            "(an earlier --out), with a fresh schedule: a second training cycle")
    start.add_argument("--init", default=None, metavar="PTH",
                       help="start every run from this checkpoint (weights only; keys a variant lacks, such as "
                            "the reconstruction head's for the baseline, are skipped), e.g. "
                            "benchmarks/pretrain_reconstruction.py's")
    args = ap.parse_args(argv)
    absent = [v for v in args.minus or [] if v not in args.variants]
    if absent:
        ap.error(f"--minus {' '.join(absent)}: not among --variants {' '.join(args.variants)}")
    print(describe_run())
    print("spread = half the range over seeds\n", flush=True)
    if args.dataset == "sirst":
        ensure_sirst_link()
    threads = args.threads or max(1, (os.cpu_count() or 2) // args.jobs)
    jobs = [(v, s) for s in args.seeds for v in args.variants]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {job: pool.submit(run_one, args.dataset, *job, args.iters, threads, Path(args.out), args.device,
                                   args.continue_from, args.init)
                   for job in jobs}
        results = {v: [futures[(v, s)].result() for s in args.seeds] for v in args.variants}
    print()
    print(summarize(args.dataset, results))
    print("\n".join(differences_against(results, args.seeds, args.minus or ["baseline"], args.minus_metrics)))
    for v, runs in results.items():
        for s, r in zip(args.seeds, runs):
            if r["threshold_255"]:
                traj = r["threshold_255"]
                print(f"threshold {v} seed {s}: " + ", ".join(f"it {i}: {t:.2f}" for i, t in traj[:: max(1, len(traj) // 6)])
                      + f", it {traj[-1][0]}: {traj[-1][1]:.2f} (/255)")


if __name__ == "__main__":
    main()
