"""The benchmark's plots: throughput and p99 latency against the number of editors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.loadgen import SIZES  # noqa: E402

COLOURS = ("tab:blue", "tab:orange", "tab:red")
# One line style per number of documents, one colour per document size.
STYLES = {1: {"marker": "o", "linestyle": "-"}, 10: {"marker": "s", "linestyle": "--"},
          100: {"marker": "^", "linestyle": ":"}}
PANELS = (
    # (rate, metric, title, y label, log scale)
    (0.0, "syncs_per_s", "Throughput, editors syncing back to back", "syncs/s", True),
    (1.0, "p99_ms", "p99 latency, each editor syncing once a second", "p99 latency (ms)", True),
)


def _series(entries: list[dict[str, Any]], server: str, size: str, documents: int,
            metric: str) -> tuple[list[int], list[float]]:
    points = sorted(
        (entry["editors"], entry[server][metric]) for entry in entries
        if entry["size"] == size and entry["documents"] == documents
        and metric in entry.get(server, {}))
    return [x for x, _ in points], [y for _, y in points]


def draw(report: dict[str, Any], out: Path) -> list[str]:
    """Draw one PNG per transport measured; return the file names."""
    names = []
    for transport in sorted({entry["transport"] for entry in report["results"]}):
        entries = [e for e in report["results"] if e["transport"] == transport]
        figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        drawn = False
        for axis, (rate, metric, title, label, log) in zip(axes, PANELS, strict=True):
            chosen = [e for e in entries if e["rate"] == rate]
            sizes = sorted({e["size"] for e in chosen}, key=lambda size: SIZES[size])
            for colour, size in zip(COLOURS, sizes, strict=False):
                for documents in sorted({e["documents"] for e in chosen}):
                    x, y = _series(chosen, "mobwrite", size, documents, metric)
                    if x:
                        axis.plot(x, y, color=colour, **STYLES.get(documents, {}),
                                  label=f"mobwrite {size}, {documents} doc")
                        drawn = True
            if sizes:
                x, y = _series(chosen, "baseline", sizes[0], 1, metric)
                if x:
                    axis.plot(x, y, linestyle="--", color="black", marker="x",
                              label=f"baseline ({sizes[0]}, 1 doc)")
                    drawn = True
            axis.set_title(title, fontsize=10)
            axis.set_xlabel("editors")
            axis.set_ylabel(label)
            axis.set_xscale("log")
            if log:
                axis.set_yscale("log")
            axis.grid(True, which="both", alpha=0.3)
            if axis.lines:
                axis.legend(fontsize=7)
        machine = report["machine"]
        figure.suptitle(f"mobwrite over {transport.upper()} — {machine['cores']} cores, "
                        f"{machine['cpu']}, Python {machine['python']}", fontsize=10)
        figure.tight_layout()
        if drawn:
            name = f"{transport}.png"
            figure.savefig(out / name, dpi=90)
            names.append(name)
        plt.close(figure)
    return names
