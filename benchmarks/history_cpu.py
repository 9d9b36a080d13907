"""What keeping history costs the daemon per sync, end to end (issue 18).

The same load (``benchmarks.loadgen``: EDITORS editors at RATE syncs a
second on one document, every sync typing, so every sync is a revision)
against fresh daemons (benchmarks/history.tac) that differ only in their
history: ``off`` (no revision log), ``keep0`` (``--history-keep
0``: the log kept, pruned at once) and ``on`` (the default: kept
forever).  Variants run in turn, their order rotating from trial to
trial, so that drift on a shared machine hits each alike.  Prints one
JSON line per run and a table of the daemon's CPU ms per sync (median of
the trials, with the range) and each variant's extra over ``off``.

``--in-process`` measures instead what the history part of that work
costs, without network, threads or disk: the same editors and typing
through ``Engine.handle`` in this process, each sync's changes taken and
encoded as a journal record, with the store recording history or not.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.daemon import ROOT, Daemon
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.storage.journal import encode
from mobwrite.storage.rows import snapshot
from mobwrite.tools.loadmodel import make_text, type_into

START = 1_764_633_600.0
# Each variant: whether the store records history, and the daemon's options.
VARIANTS = {
    "off": (False, []),
    "keep0": (True, ["--history-keep", "0"]),
    "on": (True, []),
}


class HistoryDaemon(Daemon):
    """The daemon of benchmarks/history.tac, history on or off: every variant
    starts the same way, so that only the history differs."""

    def __init__(self, workdir: Path, history: bool, *options: str) -> None:
        super().__init__(workdir, *options, tac=True)
        self.history = history

    def command(self) -> list[str]:
        return super().command()[:-1] + [str(ROOT / "benchmarks" / "history.tac")]

    def environment(self) -> dict[str, str]:
        return dict(super().environment(), MOBWRITE_HISTORY="on" if self.history else "off")


def trial(variant: str, options: argparse.Namespace) -> dict[str, Any]:
    """One loadgen run against a fresh daemon of *variant*."""
    history, extra = VARIANTS[variant]
    with tempfile.TemporaryDirectory(prefix="mobwrite-history-cpu-") as workdir:
        daemon = HistoryDaemon(Path(workdir), history, "--max-chars", "0", *extra).start()
        try:
            assert daemon.process is not None
            run = subprocess.run(
                [sys.executable, "-m", "benchmarks.loadgen", "--port", str(daemon.ports["tcp"]),
                 "--server-pid", str(daemon.process.pid), "--editors", str(options.editors),
                 "--documents", "1", "--size", str(options.size), "--rate", str(options.rate),
                 "--duration", str(options.duration)],
                cwd=ROOT, capture_output=True, text=True, check=True)
        finally:
            daemon.stop()
    result: dict[str, Any] = json.loads(run.stdout)
    result["variant"] = variant
    return result


class TimedStore(Store):
    """A store that adds up the CPU time of recording its revisions."""

    recording = 0.0

    def _record(self, *arguments: Any) -> None:
        began = time.process_time()
        super()._record(*arguments)
        self.recording += time.process_time() - began


def in_process(history: bool, options: argparse.Namespace, seed: int) -> dict[str, Any]:
    """CPU µs per sync of the engine and the journal encoding, history on or off,
    and of recording the revisions alone."""
    rng = random.Random(seed)
    store = TimedStore(0, history=history)
    engine = Engine(store, Settings.defaults(max_chars=0))
    editors = [ClientSession(f"editor{number:03}") for number in range(options.editors)]
    text = make_text(options.size, rng)
    for editor in editors:
        editor.share("doc", text)
    syncs = int(options.duration * options.editors * options.rate)
    spent = recording = 0.0
    for number in range(options.editors + syncs):
        editor = editors[number % len(editors)]
        measured = number >= options.editors
        if measured:
            shared = editor.documents["doc"]
            shared.text = type_into(shared.text, rng, options.size)
        request = editor.build_request()
        now = START + number / (options.editors * options.rate)
        began, recorded = time.process_time(), store.recording
        reply = engine.handle(request, now).body
        encode(snapshot(store, store.take_changes()))
        if measured:
            spent += time.process_time() - began
            recording += store.recording - recorded
        editor.apply_response(reply)
    return {"variant": "on" if history else "off", "syncs": syncs,
            "cpu_us_per_sync": spent / syncs * 1e6, "record_us_per_sync": recording / syncs * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="off,on",
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default off,on)")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--first", type=int, default=0,
                        help="rotate the order of the variants by this many places first")
    parser.add_argument("--editors", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--in-process", action="store_true",
                        help="the engine and journal encoding alone, in this process")
    options = parser.parse_args(argv)
    if options.in_process:
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for number in range(options.trials):
            for history in ((False, True) if number % 2 == 0 else (True, False)):
                result = in_process(history, options, seed=number)
                print(json.dumps(result), flush=True)
                runs[history].append(result)
        off, on = (statistics.median(r["cpu_us_per_sync"] for r in runs[key])
                   for key in (False, True))
        recording = statistics.median(r["record_us_per_sync"] for r in runs[True])
        print(f"in process: off {off:.1f} µs/sync, on {on:.1f} µs/sync "
              f"({100 * (on / off - 1):+.1f}%); recording the revisions {recording:.1f} "
              f"µs/sync ({100 * recording / off:.1f}% of off)")
        return 0
    variants = options.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant {sorted(unknown)[0]!r}")
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for number in range(options.trials):
        turn = (number + options.first) % len(variants)
        for variant in variants[turn:] + variants[:turn]:
            result = trial(variant, options)
            print(json.dumps(result), flush=True)
            results[variant].append(result)
    report(results)
    return 0


def report(results: dict[str, list[dict[str, Any]]]) -> None:
    """The table: CPU ms per sync of each variant and its extra over ``off``."""
    print("| variant | syncs/s | daemon CPU ms/sync (median, range) | extra over off |")
    print("|---|---|---|---|")
    medians = {variant: statistics.median(r["server_cpu_ms_per_sync"] for r in runs)
               for variant, runs in results.items()}
    for variant, runs in results.items():
        cpu = sorted(r["server_cpu_ms_per_sync"] for r in runs)
        rate = statistics.median(r["syncs_per_s"] for r in runs)
        extra = (f"{100 * (medians[variant] / medians['off'] - 1):+.1f}%"
                 if medians.get("off") and variant != "off" else "")
        print(f"| {variant} | {rate:.0f} | {medians[variant]:.3f} ({cpu[0]:.3f}-{cpu[-1]:.3f}) "
              f"| {extra} |")


if __name__ == "__main__":
    sys.exit(main())
