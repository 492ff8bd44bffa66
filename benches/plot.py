#!/usr/bin/env python3
"""Draws the benchmark figures embedded in docs/PERFORMANCE.md.

Reads the rows the benches write:
  --growth FILE  from `cargo bench --bench memory -- --growth --out FILE`
  --peers FILE   from `bash benches/peers.sh --out FILE`
and writes two SVG files into --out-dir (default docs/perf):
  throughput.svg  clickledger's claims/s against the clicks held (growth rows), and
                  every peer's claims/s at the preload size it ran with
  latency.svg     p50 and p99 claim latency of every peer and of each growth row

Needs matplotlib (`pip install matplotlib`).
"""

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.patches import Patch  # noqa: E402

# Keep text as text in the SVG: smaller files, readable diffs.
plt.rcParams["svg.fonttype"] = "none"


def load_rows(path):
    if path is None:
        return []
    with open(path, encoding="utf-8") as file:
        return json.load(file)["rows"]


def measured(rows):
    """Rows that ran: skipped or failed peers have no rate."""
    return [row for row in rows if "ops_per_second" in row or "claims_per_second" in row]


LEVEL_COLOURS = {"none": "tab:green", "interval": "tab:blue", "sync": "tab:red"}


def plot_throughput(growth, peers, out):
    """Left: clickledger's claims/s against clicks held. Right: every peer's claims/s
    at the preload size it ran with, coloured by durability level."""
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, max(4.5, 0.35 * len(peers) + 1.5)), width_ratios=[1, 1.4]
    )
    if growth:
        left.plot(
            [row["clicks"] for row in growth],
            [row["claims_per_second"] for row in growth],
            marker="o",
            linewidth=2,
        )
        left.set_ylim(0, 1.15 * max(row["claims_per_second"] for row in growth))
    left.set_xscale("log")
    left.set_xlabel("clicks held")
    left.set_ylabel("claims per second")
    left.set_title("clickledger, one thread, no sync")
    left.grid(True, which="both", alpha=0.3)

    positions = range(len(peers))
    right.barh(
        list(positions),
        [row["ops_per_second"] for row in peers],
        color=[LEVEL_COLOURS.get(row["level"], "grey") for row in peers],
    )
    right.set_yticks(list(positions))
    right.set_yticklabels([row["name"] for row in peers], fontsize=8)
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("claims per second (log scale)")
    clicks = sorted({row["clicks"] for row in peers})
    right.set_title(f"Peers, {', '.join(f'{n:,}' for n in clicks)} clicks preloaded")
    right.grid(True, axis="x", which="both", alpha=0.3)
    handles = [
        Patch(color=colour, label=f"durability: {level}") for level, colour in LEVEL_COLOURS.items()
    ]
    right.legend(handles=handles, fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def plot_latency(growth, peers, out):
    labels, p50, p99 = [], [], []
    for row in peers:
        labels.append(row["name"])
        p50.append(row["p50_us"])
        p99.append(row["p99_us"])
    for row in growth:
        labels.append(f"clickledger, {row['clicks']:,} clicks held (growth)")
        p50.append(row["p50_us"])
        p99.append(row["p99_us"])
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
    positions = range(len(labels))
    axes.barh([y + 0.2 for y in positions], p50, height=0.4, label="p50")
    axes.barh([y - 0.2 for y in positions], p99, height=0.4, label="p99")
    axes.set_yticks(list(positions))
    axes.set_yticklabels(labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.set_xlabel("claim latency, µs (log scale)")
    axes.set_title("Claim latency percentiles")
    axes.grid(True, axis="x", which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--growth", help="JSON rows of the memory bench's growth mode")
    parser.add_argument("--peers", help="JSON rows of benches/peers.sh")
    parser.add_argument("--out-dir", default="docs/perf", help="where the SVG files go")
    arguments = parser.parse_args()
    if arguments.growth is None and arguments.peers is None:
        parser.error("give --growth, --peers or both")

    growth = measured(load_rows(arguments.growth))
    peers = measured(load_rows(arguments.peers))
    out_dir = pathlib.Path(arguments.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_throughput(growth, peers, out_dir / "throughput.svg")
    plot_latency(growth, peers, out_dir / "latency.svg")
    print(f"wrote {out_dir / 'throughput.svg'} and {out_dir / 'latency.svg'}")


if __name__ == "__main__":
    main()
