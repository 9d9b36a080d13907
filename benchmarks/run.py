"""Run the benchmark grid against mobwrite and the baseline, and report.

``python -m benchmarks.run`` walks the grid (transport x rate x document
size x editors x documents), and for every cell runs each server for
``--trials`` trials, each on a fresh server process with the load generator
in a separate process.  It reports the median of the trials, absolutely and
as a ratio to the baseline, writes every trial to ``--out``/results.json,
draws the plots, and with ``--report`` rewrites the results section of that
Markdown file (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import twisted
from benchmarks import memory, plot
from benchmarks.loadgen import SIZES
from benchmarks.servers import ROOT, SERVERS

METRICS = ("syncs_per_s", "p50_ms", "p95_ms", "p99_ms", "server_cpu",
           "server_cpu_ms_per_sync", "peak_rss", "loadgen_cpu", "load_average")
START, END = "<!-- results:start -->", "<!-- results:end -->"


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def sizes(text: str) -> list[str]:
    chosen = [part for part in text.split(",") if part]
    for size in chosen:
        if size not in SIZES:
            raise argparse.ArgumentTypeError(f"size {size!r}: use {', '.join(SIZES)}")
    return chosen


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--editors", type=numbers, default=[1, 10, 100, 500],
                        help="editors per cell, comma-separated (default 1,10,100,500)")
    parser.add_argument("--documents", type=numbers, default=[1, 10, 100],
                        help="documents the editors share, comma-separated (default 1,10,100)")
    parser.add_argument("--sizes", type=sizes, default=list(SIZES),
                        help="document sizes among 1K,100K,1M (default all)")
    parser.add_argument("--rates", type=lambda t: [float(r) for r in t.split(",")],
                        default=[1.0, 0.0],
                        help="syncs per second per editor; 0 = back to back (throughput)")
    parser.add_argument("--transports", type=lambda t: t.split(","), default=["tcp", "http"],
                        help="tcp, http or both (default tcp,http)")
    parser.add_argument("--servers", type=lambda t: t.split(","), default=["baseline", "mobwrite"],
                        help="baseline, mobwrite or both (default both; ratios need both)")
    parser.add_argument("--trials", type=int, default=3,
                        help="trials per cell and server; figures are their medians (default 3)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per trial")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                        help="directory for results.json and the plots (default benchmarks/results)")
    parser.add_argument("--report", type=Path, help="Markdown file whose results section to rewrite")
    parser.add_argument("--max-text-mb", type=float, default=100,
                        help="leave out cells whose editors hold more text than this in all")
    parser.add_argument("--view-memory", type=int, default=200,
                        help="views created per document size to measure memory (0 = skip)")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "twisted": twisted.__version__, "kernel": platform.release(), "commit": commit}


def cells(options: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """The grid's cells, and a note for each combination left out.

    More documents than editors would leave documents nobody edits; more
    text than --max-text-mb in all the editors' hands is more than one
    load generator process can type into on a small machine.
    """
    chosen, skipped = [], []
    for transport in options.transports:
        for rate in options.rates:
            for size in options.sizes:
                for editors in options.editors:
                    for documents in options.documents:
                        if documents > editors:
                            skipped.append(f"{editors} editors on {documents} documents "
                                           "(more documents than editors)")
                            continue
                        if editors * SIZES[size] > options.max_text_mb * 2**20:
                            skipped.append(f"{editors} editors on {size} documents (over "
                                           f"{options.max_text_mb:g} MB of text in the editors)")
                            continue
                        chosen.append({"transport": transport, "rate": rate, "size": size,
                                       "editors": editors, "documents": documents})
    return chosen, sorted(set(skipped))


def trial(server_name: str, cell: dict[str, Any], number: int, duration: float) -> dict[str, Any]:
    """One trial on a fresh server; the load generator's result, or an error."""
    server = SERVERS[server_name]()
    try:
        command = [
            sys.executable, "-m", "benchmarks.loadgen",
            "--port", str(server.ports[cell["transport"]]), "--server-pid", str(server.pid),
            "--transport", cell["transport"], "--editors", str(cell["editors"]),
            "--documents", str(cell["documents"]), "--size", str(SIZES[cell["size"]]),
            "--rate", str(cell["rate"]), "--duration", str(duration), "--seed", str(number),
        ] + (["--baseline"] if server_name == "baseline" else [])
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=duration * 20 + 300)
    finally:
        server.stop()
    if done.returncode != 0:
        return {"failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip()
                else f"load generator exited with {done.returncode}"}
    return json.loads(done.stdout)


def median_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {key: statistics.median(t[key] for t in trials) for key in METRICS}
    summary["errors"] = sum(t["errors"] for t in trials)
    summary["resyncs"] = sum(t["resyncs"] for t in trials)
    summary["diverged"] = sum(t["diverged"] for t in trials)
    summary["trials"] = len(trials)
    return summary


def run_grid(options: argparse.Namespace) -> dict[str, Any]:
    grid, skipped = cells(options)
    results: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for cell in grid:
        entry: dict[str, Any] = dict(cell)
        for server_name in options.servers:
            key = f"{server_name}/{cell['transport']}"
            if key in failures:
                entry[server_name] = {"failed": failures[key]}
                continue
            trials = []
            for number in range(1, options.trials + 1):
                outcome = trial(server_name, cell, number, options.duration)
                if "failed" in outcome:
                    # The same server and transport would fail the same way in every cell.
                    failures[key] = outcome["failed"]
                    break
                trials.append(outcome)
            entry[server_name] = (median_of(trials) | {"each": trials} if trials
                                  else {"failed": failures[key]})
            print(describe(cell, server_name, entry[server_name]), flush=True)
        results.append(entry)
    return {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "options": {k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(options).items()},
            "skipped": skipped, "results": results}


def describe(cell: dict[str, Any], server_name: str, summary: dict[str, Any]) -> str:
    where = (f"{server_name:8} {cell['transport']} rate={rate_label(cell['rate'])} "
             f"size={cell['size']} editors={cell['editors']} documents={cell['documents']}")
    if "failed" in summary:
        return f"{where}: FAILED {summary['failed']}"
    return (f"{where}: {summary['syncs_per_s']:.0f} syncs/s, p50 {summary['p50_ms']:.1f} ms, "
            f"p99 {summary['p99_ms']:.1f} ms, cpu {summary['server_cpu']:.0%}, "
            f"rss {summary['peak_rss'] / 2**20:.0f} MiB, errors {summary['errors']}")


def load_average(report: dict[str, Any]) -> float:
    values = [trial["load_average"] for entry in report["results"]
              for name in ("mobwrite", "baseline") for trial in entry.get(name, {}).get("each", [])]
    return statistics.median(values) if values else 0.0


def rate_label(rate: float) -> str:
    return "closed loop" if rate == 0 else f"{rate:g}/s"


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def tables(report: dict[str, Any]) -> str:
    """Markdown tables of the medians, one per transport and rate."""
    lines: list[str] = []
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for entry in report["results"]:
        groups.setdefault((entry["transport"], entry["rate"]), []).append(entry)
    for (transport, rate), entries in groups.items():
        lines += [f"#### {transport.upper()}, {rate_label(rate)} per editor", ""]
        failed = {name: entries[0][name]["failed"] for name in ("mobwrite", "baseline")
                  if "failed" in entries[0].get(name, {})}
        for name, why in failed.items():
            lines += [f"{name} not measured: {why}", ""]
        if len(failed) == 2:
            continue
        lines += ["| size | editors | docs | syncs/s | ×base | p50 ms | p95 ms | p99 ms | ×base p99 "
                  "| server CPU | CPU ms/sync | ×base | peak RSS MiB | ×base | loadgen CPU "
                  "| errors | resyncs | diverged | base syncs/s | base p99 ms |",
                  "|" + "---|" * 20]
        for entry in entries:
            mine, base = entry.get("mobwrite", {}), entry.get("baseline", {})
            b = base if "syncs_per_s" in base else dict.fromkeys(METRICS, 0)
            lines.append(f"| {entry['size']} | {entry['editors']} | {entry['documents']} "
                         + (_row(mine, b) if "syncs_per_s" in mine else "| - " * 15)
                         + f"| {b['syncs_per_s']:.0f} | {b['p99_ms']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def _row(mine: dict[str, Any], b: dict[str, Any]) -> str:
    """The mobwrite columns of a table row, with ratios to the baseline *b*."""
    return (
        f"| {mine['syncs_per_s']:.0f} | {ratio(mine['syncs_per_s'], b['syncs_per_s'])} "
        f"| {mine['p50_ms']:.1f} | {mine['p95_ms']:.1f} | {mine['p99_ms']:.1f} "
        f"| {ratio(mine['p99_ms'], b['p99_ms'])} "
        f"| {mine['server_cpu']:.0%} | {mine['server_cpu_ms_per_sync']:.2f} "
        f"| {ratio(mine['server_cpu_ms_per_sync'], b['server_cpu_ms_per_sync'])} "
        f"| {mine['peak_rss'] / 2**20:.0f} | {ratio(mine['peak_rss'], b['peak_rss'])} "
        f"| {mine['loadgen_cpu']:.0%} | {mine['errors']} | {mine['resyncs']} "
        f"| {mine['diverged']} ")


def render(report: dict[str, Any], memory_rows: list[dict[str, Any]], plots: list[str]) -> str:
    m = report["machine"]
    o = report["options"]
    parts = [
        f"Run {report['when']} at commit {m['commit']}: {m['cores']} cores, {m['cpu']}, "
        f"Python {m['python']}, Twisted {m['twisted']}, Linux {m['kernel']}.  "
        f"Medians of {o['trials']} trials of {o['duration']:g} s each; "
        "ratios are mobwrite / baseline under the same load.  Load average "
        f"during the trials (other work on the machine counts): median "
        f"{load_average(report):.1f}.",
        "",
    ]
    if report["skipped"]:
        parts += ["Left out: " + "; ".join(report["skipped"]) + ".", ""]
    parts.append(tables(report))
    if memory_rows:
        parts += [memory.table(memory_rows), ""]
    for name in plots:
        parts += [f"![{name}](benchmarks/results/{name})", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    options.out.mkdir(parents=True, exist_ok=True)
    report = run_grid(options)
    memory_rows = memory.measure(options.sizes, options.view_memory) if options.view_memory else []
    report["view_memory"] = memory_rows
    (options.out / "results.json").write_text(json.dumps(report, indent=1))
    plots = plot.draw(report, options.out)
    section = render(report, memory_rows, plots)
    print(section)
    if options.report:
        text = options.report.read_text(encoding="utf-8")
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        options.report.write_text(f"{head}{START}\n{section}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
