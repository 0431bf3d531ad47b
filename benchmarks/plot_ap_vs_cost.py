"""AP (mean over seeds, with the seed range) against inference cost, from the JSON that
bench_gain.py and bench_cost.py leave in benchmarks/results/.

    .venv/bin/python benchmarks/plot_ap_vs_cost.py --out docs/ap_vs_cost.png
"""
import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results"
COST_KEY = {"baseline": "baseline", "reference": "srtod-reference", "efficient": "srtod-efficient"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cost", default=str(RESULTS / "cost_r50.json"))
    ap.add_argument("--size", default="1920x1080", help="which input size's latency ratio to plot")
    ap.add_argument("--metric", default="APvt")
    ap.add_argument("--out", default=str(ROOT / "docs/ap_vs_cost.png"))
    args = ap.parse_args()
    cost = json.loads(Path(args.cost).read_text())["sizes"][args.size]["latency_s"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, dataset in zip(axes, ["synthetic-easy", "sirst"]):
        for variant, key in COST_KEY.items():
            runs = [json.loads(p.read_text()) for p in sorted((RESULTS / "gain" / dataset / variant).glob("seed*/final_metrics.json"))]
            if not runs:
                continue
            vals = [r[args.metric] for r in runs]
            x = cost[key] / cost["baseline"]
            mean = sum(vals) / len(vals)
            ax.errorbar([x], [mean], yerr=[[mean - min(vals)], [max(vals) - mean]], fmt="o", capsize=4, label=variant)
        ax.set_title(f"{dataset} ({len(runs)} seeds)")
        ax.set_xlabel(f"R50-FPN inference latency / baseline at {args.size} (CPU)")
        ax.set_ylabel(f"{args.metric} (R18 CPU model)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
