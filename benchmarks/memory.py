"""Memory held by idle views, measured with tracemalloc around the engine.

For each document size, N users join one document and sync once more (so
their first reply is acknowledged and they sit idle, as most views do).
Between joins the document gets one more keystroke, so every view holds
its own version of the text as its shadow, the worst case for memory.
The clients are dropped before measuring: what remains is the server's
store.  Target (issue 6): at most twice the shadow plus 2 KB per view.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tracemalloc
from typing import Any

from benchmarks.loadgen import SIZES
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.tools.loadmodel import make_text, type_into

OVERHEAD = 2048


def views_of(size: int, count: int) -> dict[str, Any]:
    """Bytes held per idle view of a document of about *size* bytes."""
    rng = random.Random(size)
    engine = Engine(Store(0), Settings.defaults(max_chars=0))
    writer = ClientSession("writer00")
    writer.share("doc", make_text(size, rng))
    writer.apply_response(engine.handle(writer.build_request(), 0).body)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for number in range(count):
        reader = ClientSession(f"reader{number:04d}")
        reader.share("doc")
        for now in (1, 2):
            reader.apply_response(engine.handle(reader.build_request(), now).body)
        document = writer.documents["doc"]
        document.text = type_into(document.text, rng)
        writer.apply_response(engine.handle(writer.build_request(), 3).body)
        del reader
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    views = [view for view in engine.store.views.values() if view.user != "writer00"]
    shadow = sum(sys.getsizeof(view.shadow) for view in views) / len(views)
    per_view = (after - before) / count
    return {"views": count, "shadow_bytes": shadow, "per_view_bytes": per_view,
            "limit_bytes": 2 * shadow + OVERHEAD, "met": per_view <= 2 * shadow + OVERHEAD}


def measure(size_labels: list[str], count: int) -> list[dict[str, Any]]:
    rows = []
    for label in size_labels:
        # Fewer views of the larger documents, to stay quick and within memory.
        views = max(20, min(count, count * 1024 // SIZES[label] * 10))
        rows.append({"size": label} | views_of(SIZES[label], views))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["#### Memory per idle view (tracemalloc, server side only)", "",
             "| size | views | shadow bytes | held per view | limit 2×shadow+2 KB | met |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['size']} | {row['views']} | {row['shadow_bytes']:.0f} "
                     f"| {row['per_view_bytes']:.0f} | {row['limit_bytes']:.0f} "
                     f"| {'yes' if row['met'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("views", nargs="?", type=int, default=200,
                        help="views of the 1 KB document (fewer of the larger ones; default 200)")
    parser.add_argument("--sizes", type=lambda t: t.split(","), default=list(SIZES),
                        help="document sizes among 1K,100K,1M (default all)")
    options = parser.parse_args()
    if options.views < 1 or not set(options.sizes) <= set(SIZES):
        parser.error(f"views must be positive and sizes among {','.join(SIZES)}")
    print(table(measure(options.sizes, options.views)))


if __name__ == "__main__":
    main()
