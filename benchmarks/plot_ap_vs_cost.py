"""AP (mean over seeds, with the seed range) against inference cost, from the JSON that
bench_gain.py and bench_cost.py leave behind. One panel per ``--panel TITLE=DIR``, where DIR
holds bench_gain's ``<variant>/seed<k>/final_metrics.json``; the x axis is each variant's latency
ratio over the baseline in bench_cost's JSON (``--cost``, repeatable: a variant takes its ratio from
the first file that has it; each ratio was measured side by side with that run's baseline), at
``--size``.

    .venv/bin/python benchmarks/plot_ap_vs_cost.py --cost benchmarks/results/cost_r50.json \\
        --panel "synthetic-easy, 250 it=benchmarks/results/gain/synthetic-easy" --out docs/ap_vs_cost.png
"""
import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cost_key(variant: str) -> str:
    """bench_gain's variant name -> bench_cost's (which prefixes SR-TOD variants)."""
    return variant if variant == "baseline" else f"srtod-{variant}"


def panel_points(run_dir: Path, ratios: dict, metric: str):
    """(variant, latency ratio, mean, min, max, seeds) for every variant with runs and a cost."""
    points = []
    for variant_dir in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        key = cost_key(variant_dir.name)
        runs = [json.loads(p.read_text()) for p in sorted(variant_dir.glob("seed*/final_metrics.json"))]
        if not runs or key not in ratios:
            continue
        vals = [r[metric] for r in runs]
        points.append((variant_dir.name, ratios[key], statistics.mean(vals), min(vals), max(vals), len(vals)))
    return points


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cost", action="append", required=True, help="bench_cost.py --json output")
    ap.add_argument("--size", default="1920x1080", help="which input size's latency ratio to plot")
    ap.add_argument("--metric", default="APvt")
    ap.add_argument("--panel", action="append", required=True, metavar="TITLE=DIR")
    ap.add_argument("--out", default=str(ROOT / "docs/ap_vs_cost.png"))
    args = ap.parse_args()
    ratios, devices = {}, set()
    for path in args.cost:
        cost = json.loads(Path(path).read_text())
        if args.size not in cost["sizes"]:
            raise SystemExit(f"{path} has no size {args.size} (it has {', '.join(cost['sizes'])})")
        lat = cost["sizes"][args.size]["latency_s"]
        for k, v in lat.items():
            ratios.setdefault(k, v / lat["baseline"])
        devices.add(cost.get("device", "cpu"))
    if len(devices) > 1:
        raise SystemExit(f"--cost files measured on different devices ({', '.join(sorted(devices))}): plot one at a time")
    device = devices.pop()
    fig, axes = plt.subplots(1, len(args.panel), figsize=(5.5 * len(args.panel), 4.2), squeeze=False)
    for ax, spec in zip(axes[0], args.panel):
        title, sep, run_dir = spec.partition("=")
        if not sep or not Path(run_dir).is_dir():
            raise SystemExit(f"--panel {spec!r}: expected TITLE=DIR with an existing DIR")
        points = panel_points(Path(run_dir), ratios, args.metric)
        if not points:
            raise SystemExit(f"--panel {spec!r}: no variant there has both runs and a cost in {args.cost}")
        for variant, x, mean, lo, hi, n in points:
            ax.errorbar([x], [mean], yerr=[[mean - lo], [hi - mean]], fmt="o", capsize=4, label=f"{variant} ({n} seeds)")
        ax.set_title(title)
        ax.set_xlabel(f"R50-FPN inference latency / baseline at {args.size} ({device})")
        ax.set_ylabel(f"{args.metric} (R18 model, mean and range over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
