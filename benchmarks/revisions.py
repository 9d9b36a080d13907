"""Revision log costs (issue 18): rebuild time, storage per revision, append CPU.

Three measures of mobwrite/core/revisions.py, each printed as a table:

- rebuild: a document of SIZE gets REVISIONS keystroke-sized revisions
  (a few letters typed or deleted, or an emoji, a few seconds apart so
  none fold); then the text at random revisions, and at the farthest
  from a snapshot, is rebuilt and checked against the text it had;
- storage: the bytes of each revision's row (as JSON, and in a SQLite
  table of the kind storage will use), and the snapshots' share of it;
- append: the CPU time of recording one change, with and without the
  splice the engine's merge knows: a burst at a random place as a new
  revision, and a typist's keystroke (five a second) folded into one;
  and the time of a whole sync through the engine, to judge the extra
  cost of recording every sync's change.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.loadgen import SIZES, make_text
from mobwrite.client.session import ClientSession
from mobwrite.core.delta import Differ, Splice
from mobwrite.core.engine import Engine
from mobwrite.core.revisions import RevisionLog, RevisionRow
from mobwrite.core.store import Store
from mobwrite.settings import Settings

START = 1_764_633_600.0
LETTERS = "abcdefghijklmnopqrstuvwxyz "
AUTHORS = [f"user{number:04d}ab" for number in range(10)]


def keystroke(text: str, rng: random.Random) -> tuple[str, Splice]:
    """A burst of typing at a random place, and its splice in code points."""
    at = rng.randint(0, len(text))
    roll = rng.random()
    if roll < 0.3 and at < len(text):
        end = min(len(text), at + rng.randint(1, 3))
        return text[:at] + text[end:], (at, end, "")
    inserted = "😀" if roll < 0.4 else "".join(
        rng.choice(LETTERS) for _ in range(rng.randint(1, 5)))
    return text[:at] + inserted + text[at:], (at, at, inserted)


class Typist:
    """Someone typing at a cursor: mostly a letter, sometimes a backspace,
    now and then a jump elsewhere (which keystroke() stands for)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cursor = 0

    def type(self, text: str) -> tuple[str, Splice]:
        roll = self.rng.random()
        at = min(self.cursor, len(text))
        if roll < 0.05:
            self.cursor = self.rng.randint(0, len(text))
            return self.type(text)
        if roll < 0.15 and at:
            self.cursor = at - 1
            return text[:at - 1] + text[at:], (at - 1, at, "")
        letter = "😀" if roll > 0.99 else self.rng.choice(LETTERS)
        self.cursor = at + 1
        return text[:at] + letter + text[at:], (at, at, letter)


def build(size: int, count: int, samples: int,
          rng: random.Random) -> tuple[RevisionLog, dict[int, str]]:
    """A log of *count* unfolded revisions, and the text at *samples* random ones."""
    text = make_text(size, rng)
    log = RevisionLog(text, diff=Differ(1.0).diff)
    wanted = set(rng.sample(range(count + 1), min(samples, count + 1)))
    kept = {0: text} if 0 in wanted else {}
    now = START
    for number in range(1, count + 1):
        text, splice = keystroke(text, rng)
        now += 3.0 + rng.random()
        log.append(text, AUTHORS[number % len(AUTHORS)], round(now, 3), found=[splice])
        if number in wanted:
            kept[number] = text
    return log, kept


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def rebuild(log: RevisionLog, kept: dict[int, str]) -> dict[str, Any]:
    """Milliseconds (wall and CPU) to rebuild the sampled revisions and those
    farthest from a snapshot (half way between two, or the last and the head)."""
    snapshots = log.rows()[1]
    ends = [snapshot.number for snapshot in snapshots] + [log.head]
    farthest = {(low + high) // 2 + step for low, high in zip(ends, ends[1:], strict=False)
                for step in (0, 1) if high - low > 1}
    wall = []
    cpu = []
    for number in sorted(kept) + sorted(farthest):
        began, began_cpu = time.perf_counter(), time.process_time()
        text = log.text_at(number)
        cpu.append((time.process_time() - began_cpu) * 1000)
        wall.append((time.perf_counter() - began) * 1000)
        if number in kept and text != kept[number]:
            raise AssertionError(f"revision {number} rebuilt wrong")
    return {"revisions": log.head, "snapshots": len(snapshots), "rebuilds": len(wall),
            "p50_ms": percentile(wall, 50), "p99_ms": percentile(wall, 99),
            "max_ms": max(wall), "cpu_p50_ms": percentile(cpu, 50),
            "cpu_p99_ms": percentile(cpu, 99), "cpu_max_ms": max(cpu)}


def row_json(row: RevisionRow) -> bytes:
    return json.dumps([row.number, row.time, row.author, row.kind, row.change],
                      ensure_ascii=False, separators=(",", ":")).encode()


def storage(log: RevisionLog) -> dict[str, Any]:
    """Bytes per revision: its JSON row, SQLite's file, and the snapshots' share."""
    revisions, snapshots = log.rows()
    sizes = [len(row_json(row)) for row in revisions]
    snapshot_bytes = sum(len(snapshot.text.encode()) for snapshot in snapshots[1:])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.sqlite"
        database = sqlite3.connect(path)
        database.execute("create table revisions (document integer, number integer,"
                         " time real, author text, kind text, change text,"
                         " primary key (document, number)) without rowid")
        database.executemany("insert into revisions values (1, ?, ?, ?, ?, ?)",
                             [(r.number, r.time, r.author, r.kind, r.change)
                              for r in revisions])
        database.commit()
        database.execute("vacuum")
        database.close()
        sqlite_bytes = path.stat().st_size
    return {"json_p50": percentile(sizes, 50), "json_mean": statistics.fmean(sizes),
            "json_p99": percentile(sizes, 99),
            "sqlite_per_revision": sqlite_bytes / len(revisions),
            "snapshot_per_revision": snapshot_bytes / len(revisions)}


def append_cost(size: int, count: int, rng: random.Random) -> dict[str, Any]:
    """Microseconds of CPU per append, by case, into a document of *size*."""
    results: dict[str, Any] = {"size": size}
    for case in ("new, spliced", "new, compared", "folded, spliced", "folded, compared"):
        text = make_text(size, rng)
        log = RevisionLog(text, diff=Differ(1.0).diff)
        folded = case.startswith("folded")
        typist = Typist(rng)
        changes = []
        for _ in range(count):
            text, splice = typist.type(text) if folded else keystroke(text, rng)
            changes.append((text, splice))
        spliced = case.endswith("spliced")
        began = time.process_time()
        for number, (text, splice) in enumerate(changes):
            now = START + number * (0.2 if folded else 3.0)
            log.append(text, "alice", now, found=[splice] if spliced else ())
        results[case] = (time.process_time() - began) / count * 1e6
    return results


def sync_cost(size: int, count: int, rng: random.Random) -> dict[str, Any]:
    """CPU per sync of one editor typing into a document, and per append of
    its change: given the splice (as the engine's merge knows it), and not."""
    engine = Engine(Store(0), Settings.defaults(max_chars=0))
    writer = ClientSession("writer00")
    writer.share("doc", make_text(size, rng))
    writer.apply_response(engine.handle(writer.build_request(), START).body)
    document = engine.store.documents["doc"]
    assert document.text is not None
    logs = [RevisionLog(document.text, diff=Differ(1.0).diff) for _ in range(2)]
    syncing = 0.0
    appending = [0.0, 0.0]
    for number in range(count):
        now = START + number * 3.0
        shared = writer.documents["doc"]
        shared.text, splice = keystroke(shared.text, rng)
        request = writer.build_request()
        began = time.process_time()
        reply = engine.handle(request, now).body
        syncing += time.process_time() - began
        for index, (log, found) in enumerate(zip(logs, ([splice], ()), strict=True)):
            began = time.process_time()
            log.append(document.text, "writer00", now, found=found)
            appending[index] += time.process_time() - began
        writer.apply_response(reply)
    return {"size": size, "sync_us": syncing / count * 1e6,
            "spliced_us": appending[0] / count * 1e6, "compared_us": appending[1] / count * 1e6,
            "spliced_extra": appending[0] / syncing, "compared_extra": appending[1] / syncing}


def report(size: str, count: int, samples: int, appends: int, append_sizes: list[str],
           seed: int) -> str:
    rng = random.Random(seed)
    log, kept = build(SIZES[size], count, samples, rng)
    rebuilt = rebuild(log, kept)
    stored = storage(log)
    lines = [f"#### Rebuilding a revision: {size} document, {count} keystroke revisions", "",
             "| revisions | snapshots | rebuilds | p50 ms | p99 ms | max ms "
             "| CPU p50 ms | CPU p99 ms | CPU max ms |",
             "|---|---|---|---|---|---|---|---|---|",
             "| {revisions} | {snapshots} | {rebuilds} | {p50_ms:.1f} | {p99_ms:.1f} "
             "| {max_ms:.1f} | {cpu_p50_ms:.1f} | {cpu_p99_ms:.1f} "
             "| {cpu_max_ms:.1f} |".format(**rebuilt), "",
             "#### Storage per keystroke revision (bytes)", "",
             "| JSON row p50 | mean | p99 | SQLite table per revision "
             "| snapshots per revision |", "|---|---|---|---|---|",
             "| {json_p50} | {json_mean:.0f} | {json_p99} | {sqlite_per_revision:.0f} "
             "| {snapshot_per_revision:.0f} |".format(**stored), "",
             "#### CPU per append (µs)", "",
             "| size | new, spliced | new, compared | folded, spliced | folded, compared |",
             "|---|---|---|---|---|"]
    for label in append_sizes:
        cost = append_cost(SIZES[label], appends, rng)
        lines.append(f"| {label} | {cost['new, spliced']:.1f} | {cost['new, compared']:.1f} "
                     f"| {cost['folded, spliced']:.1f} | {cost['folded, compared']:.1f} |")
    lines += ["", "#### One editor's sync through the engine, and recording its change", "",
              "| size | CPU µs per sync | append, spliced µs | extra | append, compared µs "
              "| extra |", "|---|---|---|---|---|---|"]
    for label in append_sizes:
        cost = sync_cost(SIZES[label], max(50, appends // 10), rng)
        lines.append(f"| {label} | {cost['sync_us']:.0f} | {cost['spliced_us']:.1f} "
                     f"| {cost['spliced_extra']:.1%} | {cost['compared_us']:.1f} "
                     f"| {cost['compared_extra']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="100K",
                        help="document size for rebuilding and storage (default 100K)")
    parser.add_argument("--revisions", type=int, default=10_000,
                        help="revisions in the log (default 10000)")
    parser.add_argument("--samples", type=int, default=300,
                        help="random revisions to rebuild and check (default 300)")
    parser.add_argument("--appends", type=int, default=2000,
                        help="appends timed per case and size (default 2000)")
    parser.add_argument("--append-sizes", type=lambda t: t.split(","), default=list(SIZES),
                        help="document sizes for the append costs (default 1K,100K,1M)")
    parser.add_argument("--seed", type=int, default=18)
    options = parser.parse_args(argv)
    if min(options.revisions, options.samples, options.appends) < 1:
        parser.error("--revisions, --samples and --appends must be positive")
    if not set(options.append_sizes) <= set(SIZES):
        parser.error(f"--append-sizes must be among {','.join(SIZES)}")
    print(report(options.size, options.revisions, options.samples, options.appends,
                 options.append_sizes, options.seed))


if __name__ == "__main__":
    main()
