#!/usr/bin/env python3
"""Draws the Grafana dashboard's panels from a run's data, as a PNG.

Grafana does not run on the development machines (it is in neither Debian nor PyPI, and
there is no Docker daemon), so this draws what it would show: the soak writes every panel's
queries over the run, as Prometheus answered them (`target/<soak>-dashboard.json`, see
tests/soak.rs), and this lays the panels out by their gridPos, one line per series, in the
panel's unit, with the soak's events (outage, restart) as annotations.

    python3 scripts/dashboard_preview.py target/soak-dashboard.json target/soak-dashboard.png

Needs matplotlib (scripts/soak.sh installs it into target/preview-venv).
"""

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

# One Grafana grid unit in inches: 24 columns across, rows of 30 px.
COLUMN_IN = 0.75
ROW_IN = 0.42


def scaled(value, steps, suffix):
    """`value` in the largest of `steps` ((factor, name) from small to large) it reaches, or
    in the smallest when it reaches none."""
    factor, name = steps[0]
    for f, n in steps:
        if abs(value) >= f:
            factor, name = f, n
    return f"{value / factor:.3g}{' ' + name if name else ''}{suffix}"


def format_value(unit, value):
    """A value as Grafana shows it in `unit`."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if unit == "s":
        return scaled(value, [(1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1, "s")], "")
    if unit == "bytes":
        return scaled(value, [(1, "B"), (1024, "KiB"), (1024**2, "MiB"), (1024**3, "GiB")], "")
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    suffix = {"mps": " msg/s", "rowsps": " rows/s"}.get(unit, "")
    return scaled(value, [(1, ""), (1e3, "K"), (1e6, "M"), (1e9, "G")], suffix)


def draw(view, out):
    panels = view["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width, height = 24 * COLUMN_IN, rows * ROW_IN + 0.6
    plt.style.use("dark_background")
    fig = plt.figure(figsize=(width, height), dpi=100)
    fig.suptitle(view["title"], x=0.01, ha="left", fontsize=13)
    start = view["start"]
    top_margin = 0.6 / height
    for panel in panels:
        g = panel["gridPos"]
        pad_x, pad_y = 0.05, 0.045
        left = g["x"] / 24 + pad_x
        w = g["w"] / 24 - pad_x - 0.01
        h = g["h"] * ROW_IN / height - pad_y
        bottom = 1 - top_margin - (g["y"] + g["h"]) * ROW_IN / height + pad_y * 0.6
        ax = fig.add_axes([left, bottom, w, h])
        ax.set_title(panel["title"], loc="left", fontsize=10)
        ax.grid(alpha=0.2)
        ax.tick_params(labelsize=7)
        ax.set_xlim(0, view["end"] - start)
        unit = panel["unit"]
        if panel.get("log_scale"):
            ax.set_yscale("log", base=panel["log_scale"])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos, u=unit: format_value(u, v)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0f} s"))
        for a in view["annotations"]:
            ax.axvline(a["at"] - start, color="#ff7383", linestyle="--", linewidth=0.8, alpha=0.8)
        if not panel["series"]:
            ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes,
                    color="#999999")
            continue
        for s in panel["series"]:
            xs, ys = [], []
            for t, v in s["values"]:
                y = float(v)
                # A log axis has no place for 0 (Grafana leaves such points out too).
                if math.isfinite(y) and (y > 0 or not panel.get("log_scale")):
                    xs.append(t - start)
                    ys.append(y)
            ax.plot(xs, ys, linewidth=1, label=s["legend"] or "value")
        if len(panel["series"]) <= 12:
            ax.legend(fontsize=6, loc="upper left", framealpha=0.3)
    # The annotations' names once, along the top.
    text = "   ".join(f"{a['at'] - start:.0f} s: {a['text']}" for a in view["annotations"])
    fig.text(0.99, 1 - 0.3 / height, text, ha="right", fontsize=9, color="#ff7383")
    fig.savefig(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: dashboard_preview.py <dashboard view .json> <out .png>")
    with open(sys.argv[1]) as f:
        view = json.load(f)
    draw(view, sys.argv[2])
    print(f"written to {sys.argv[2]}")


if __name__ == "__main__":
    main()
