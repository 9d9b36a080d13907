"""What placing a change costs per merge, against fuzzy patching and a full history.

A crowd's merges replayed in process, without a daemon: *counters* packed
counters ``[T:N]`` in one text (issue 15(a)'s document), and one typist at
a time raising its own counter on a shadow that lags the master by up to
*lag* versions (never past the typist's own last edit, which its shadow
holds).  For each merge it times, apart:

* ``carry_ms``: exact placement through the splice log (core/placement.py),
  building the merged text;
* ``log_record_ms``: logging the master's change in the splice log;
* ``history_record_ms``: logging it in the recent-changes history
  (core/recent.py), what keeping that history for coarse clients would add;
* ``patch_ms``: fuzzy patching of the same change (``Differ.merge``).

It also counts the merges fuzzy patching would have put elsewhere than
where the change was typed (``patched_elsewhere``).  Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import deque
from typing import Any

from mobwrite.core.delta import Differ
from mobwrite.core.placement import SpliceLog
from mobwrite.core.recent import RecentChanges


def counter(typist: int, count: int) -> str:
    return f" [{typist}:{count:02d}]"


def run(options: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(options.seed)
    differ = Differ(0.1)
    counts = [9] * options.counters
    master = "".join(counter(typist, count) for typist, count in enumerate(counts))
    log = SpliceLog(master, differ.diff)
    history = RecentChanges(master, differ.diff)
    # The recent masters, newest last, and the version of each typist's last edit.
    masters: deque[str] = deque([master], maxlen=options.lag + 1)
    last_edit = [0] * options.counters
    timed = {"carry": 0.0, "log_record": 0.0, "history_record": 0.0, "patch": 0.0}
    placed = patched_elsewhere = 0
    for version in range(1, options.merges + 1):
        typist = rng.randrange(options.counters)
        lag = min(rng.randint(0, options.lag), version - 1 - last_edit[typist], len(masters) - 1)
        shadow = masters[-1 - lag]
        old, new = counter(typist, counts[typist]), counter(typist, counts[typist] + 1)
        at = shadow.index(old)
        start = at + len(old) - 3
        hunk = (start, at + len(old) - 1, new[-3:-1])
        new_shadow = shadow[:at] + new + shadow[at + len(old):]
        diffs = differ.diff(shadow, new_shadow)
        intended = master.replace(old, new, 1)

        began = time.perf_counter()
        carried = log.carry(shadow, [hunk])
        timed["carry"] += time.perf_counter() - began
        began = time.perf_counter()
        patched = differ.merge(master, shadow, diffs, new_shadow)[0]
        timed["patch"] += time.perf_counter() - began
        assert carried is not None and carried[0] == intended, "a change went astray"
        placed += 1
        patched_elsewhere += patched != intended
        master = intended
        began = time.perf_counter()
        log.record(master, options.counters, carried[1])
        timed["log_record"] += time.perf_counter() - began
        began = time.perf_counter()
        history.record(master, options.counters, carried[1][0])
        timed["history_record"] += time.perf_counter() - began
        masters.append(master)
        counts[typist] += 1
        last_edit[typist] = version
    merges = options.merges
    return {
        "counters": options.counters, "merges": merges, "lag": options.lag,
        "seed": options.seed, "text_chars": len(master), "placed": placed,
        "patched_elsewhere": patched_elsewhere,
        **{f"{name}_ms": round(1000 * total / merges, 4) for name, total in timed.items()},
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counters", type=int, default=500)
    parser.add_argument("--merges", type=int, default=5000)
    parser.add_argument("--lag", type=int, default=500,
                        help="the most versions a shadow lags the master")
    parser.add_argument("--seed", type=int, default=1)
    print(json.dumps(run(parser.parse_args(argv))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
