"""AP (mean over seeds, with the seed range) against inference cost, from the JSON that
bench_gain.py and bench_cost.py leave behind. One panel per ``--panel TITLE=DIR``, where DIR
holds bench_gain's ``<variant>/seed<k>/final_metrics.json``; the x axis is each variant's latency
ratio over the baseline in bench_cost's JSON (``--cost``, repeatable: a variant takes its ratio from
the first file that has it; each ratio was measured side by side with that run's baseline), at
``--size``. A variant bench_cost did not time takes the ratio of the head it runs at inference
(``efficient-t40-dil3`` -> ``srtod-efficient``) when it differs from it only in what leaves the
inference cost as it is (see COST_NEUTRAL). ``--metric`` takes several metrics, one row each;
``--minus baseline`` plots same-seed differences from the baseline instead of the metric itself.

    .venv/bin/python benchmarks/plot_ap_vs_cost.py --cost benchmarks/results/cost_r50.json \\
        --panel "synthetic-easy, 250 it=benchmarks/results/gain/synthetic-easy" --out docs/ap_vs_cost.png
"""
import argparse
import json
import re
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# bench_gain suffixes that change training, the threshold, or the binary map's resize or dilation
# (one max pool over a one-channel map), not the layers inference runs: -t40, -ste, -max, -dil3,
# -warm200, -drop50, -lr1, -recon10. -median is not one: it sorts every image's difference map.
COST_NEUTRAL = re.compile(r"-(t\d+|ste|max|dil\d+|warm\d+|drop\d+|lr1|recon\d+)$")


def cost_key(variant: str, ratios: dict):
    """bench_gain's variant name -> the bench_cost variant (SR-TOD's prefixed ``srtod-``) whose
    ratio it has: its own if timed, else the one left after cost-neutral suffixes; None if neither."""
    name = variant
    while True:
        key = name if name == "baseline" else f"srtod-{name}"
        if key in ratios:
            return key
        shorter = COST_NEUTRAL.sub("", name)
        if shorter == name:
            return None
        name = shorter


def seed_values(variant_dir: Path, metric: str) -> dict:
    """{seed folder name: metric} over the variant's finished runs."""
    values = {}
    for path in sorted(variant_dir.glob("seed*/final_metrics.json")):
        run = json.loads(path.read_text())
        if metric not in run:
            raise SystemExit(f"{path} has no metric {metric!r} (it has {', '.join(sorted(run))})")
        values[path.parent.name] = run[metric]
    return values


def panel_points(run_dir: Path, ratios: dict, metric: str, min_seeds: int = 1, minus: str = ""):
    """(variant, cost key, latency ratio, y, low, high, seeds) for every variant with at least
    ``min_seeds`` runs and a cost: y the mean over seeds, low / high their range; with ``minus``
    (a variant of the same folder) y is the mean same-seed difference from it over the seeds both
    have, low / high one standard error either side, and ``minus`` itself is left out."""
    if minus and not (run_dir / minus).is_dir():
        raise SystemExit(f"--minus {minus}: no such variant in {run_dir}")
    base = seed_values(run_dir / minus, metric) if minus else {}
    points = []
    for variant_dir in sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name != minus):
        key = cost_key(variant_dir.name, ratios)
        values = seed_values(variant_dir, metric)
        if minus:
            values = {seed: v - base[seed] for seed, v in values.items() if seed in base}
        vals = list(values.values())
        if len(vals) < max(min_seeds, 1) or key is None:
            continue
        mean = statistics.mean(vals)
        if minus:
            se = statistics.stdev(vals) / len(vals) ** 0.5 if len(vals) > 1 else 0.0
            low, high = mean - se, mean + se
        else:
            low, high = min(vals), max(vals)
        points.append((variant_dir.name, key, ratios[key], mean, low, high, len(vals)))
    return points


def dodge(points, step):
    """x offsets that set apart the points sharing a ratio (one head, several maps), centred on it."""
    shared = {}
    for p in points:
        shared.setdefault(p[2], []).append(p[0])
    return {v: (names.index(v) - (len(names) - 1) / 2) * step for names in shared.values() for v in names}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cost", action="append", required=True, help="bench_cost.py --json output")
    ap.add_argument("--size", default="1920x1080", help="which input size's latency ratio to plot")
    ap.add_argument("--metric", nargs="+", default=["APvt"], help="one row of panels per metric")
    ap.add_argument("--min-seeds", type=int, default=1, help="leave out variants with fewer finished seeds")
    ap.add_argument("--dodge", type=float, default=0.0,
                    help="x step between variants that share a latency ratio, so their bars do not overlap")
    ap.add_argument("--minus", default="", metavar="VARIANT",
                    help="plot each variant's mean same-seed difference from VARIANT (bars: one standard error)")
    ap.add_argument("--panel", action="append", required=True, metavar="TITLE=DIR")
    ap.add_argument("--out", default=str(ROOT / "docs/ap_vs_cost.png"))
    args = ap.parse_args()
    ratios, devices, configs = {}, set(), set()
    for path in args.cost:
        cost = json.loads(Path(path).read_text())
        if args.size not in cost["sizes"]:
            raise SystemExit(f"{path} has no size {args.size} (it has {', '.join(cost['sizes'])})")
        lat = cost["sizes"][args.size]["latency_s"]
        for k, v in lat.items():
            ratios.setdefault(k, v / lat["baseline"])
        devices.add(cost.get("device", "cpu"))
        configs.add(Path(cost.get("config", "config not recorded")).stem)
    if len(devices) > 1:
        raise SystemExit(f"--cost files measured on different devices ({', '.join(sorted(devices))}): plot one at a time")
    device = devices.pop()
    rows, cols = len(args.metric), len(args.panel)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for col, spec in enumerate(args.panel):
        title, sep, run_dir = spec.partition("=")
        if not sep or not Path(run_dir).is_dir():
            raise SystemExit(f"--panel {spec!r}: expected TITLE=DIR with an existing DIR")
        for row, metric in enumerate(args.metric):
            points = panel_points(Path(run_dir), ratios, metric, args.min_seeds, args.minus)
            if not points:
                raise SystemExit(f"--panel {spec!r}: no variant there has {args.min_seeds}+ runs and a cost in {args.cost}")
            shift = dodge(points, args.dodge)
            ax = axes[row][col]
            for variant, key, x, mean, lo, hi, n in points:
                if row == 0:
                    print(f"{title}: {variant} ({n} seeds) at x = {x:.3f}, the latency ratio of {key}")
                ax.errorbar([x + shift[variant]], [mean], yerr=[[mean - lo], [hi - mean]], fmt="o", capsize=4,
                            label=f"{variant} ({n} seeds)")
            ax.set_title(title)
            ax.set_xlabel(f"inference latency / baseline at {args.size}\n({device}; {', '.join(sorted(configs))})")
            if args.minus:
                ax.axhline(0.0, color="grey", linewidth=1)
                ax.set_ylabel(f"{metric} minus {args.minus}, same seed (mean ± s.e.)")
            else:
                ax.set_ylabel(f"{metric} (mean and range over seeds)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
