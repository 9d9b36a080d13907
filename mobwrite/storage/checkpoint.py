"""Checkpoints: the journal's rows move into the database beside the commits.

Commits append to one journal file (``journal.py``) on the storage's writer
thread.  When a checkpoint is due (the file holds ``max_bytes``, its oldest
row is ``max_seconds`` old), the writer thread *freezes* the rows journaled
so far, switches appending to the other file with the next generation, and
hands the frozen rows to a checkpoint thread, which writes them to the
database in one transaction that also records that generation.  Commits go
on meanwhile: the writer thread never waits for a checkpoint, except for
back-pressure (below).  The frozen file is appended to again only after its
checkpoint committed; a checkpoint due while the previous one still runs
waits for it, commits going to the current file meanwhile.

A crash at any point leaves everything replayable: before the checkpoint
commits, the database's generation is older than both files' records;
after, the frozen file's records are older than it and skipped.  A failed
checkpoint keeps its rows frozen (loads still see them) and is tried again
after ``max_seconds``; ``failing`` says why until one succeeds.  Each
checkpoint logs one line (its generation, the rows and journal bytes it
moved, how long it took): info when it committed, error when it failed.  A
checkpoint of everything on the writer thread itself (``checkpoint``: for a
dump, and at close after waiting for a running one) that fails moves the
current file on to the next generation, so that the records after it
replay even if the failed transaction did reach the disk.

The rows journaled since the last checkpoint stay in memory, by document
and under a lock, for loads on the reactor thread: the frozen ones first,
then the newer pending ones.  A load takes them before it reads the
database, so a checkpoint finishing in between loses nothing.  They are
bounded: once the frozen and pending files together hold ``2 * max_bytes``,
the writer thread waits for the running checkpoint (the disk cannot keep
up; replies then wait as they did when every checkpoint held them up).

SQLite has one writer: while a checkpoint runs, only its thread uses the
database's writing connection (``Database.holds`` reads on its own), and
the documents the store let go are forgotten once it ended.  Python-side
work in ``Database.write`` is a few loops over the rows, and SQLite and
hashing let go of the interpreter lock, so the reactor thread keeps its
turn: while 10,000 views and 1,000 documents were checkpointed (0.8-1 s),
another thread's socket round trips kept their median (0.14 ms per 50),
their worst 40 ms against 17-19 ms without, on a loaded machine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mobwrite.logs import logger
from mobwrite.storage.journal import CHECKPOINT_BYTES, CHECKPOINT_SECONDS, Journal
from mobwrite.storage.rows import Batch, DocumentRow
from mobwrite.storage.sqlite import Database

log = logger("storage")


class Checkpointer:
    """Journals each batch, and moves what was journaled into the database.

    Used from the one writer thread, which starts each checkpoint's thread,
    but for the ``journaled*`` methods, which loads call on the reactor's.
    """

    def __init__(self, database: Database, journals: tuple[Journal, Journal],
                 clock: Callable[[], float] = time.monotonic,
                 max_bytes: int = CHECKPOINT_BYTES,
                 max_seconds: float = CHECKPOINT_SECONDS) -> None:
        self.database = database
        # Appended to; the other file is frozen or free.
        self.active, self.spare = journals
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        # Rows journaled in the active file, merged, and the same by document.
        self.pending = Batch()
        self.by_name: dict[str, Batch] = {}
        # Rows of the spare file, being (or failing to be) checkpointed.
        self.frozen = Batch()
        self.frozen_by_name: dict[str, Batch] = {}
        self.frozen_generation = 0
        self.frozen_bytes = 0
        self.lock = threading.Lock()
        self.since = 0.0
        # After a failed checkpoint, the next waits as long as the age limit
        # (rather than being retried, and logged, after every commit).
        self.retry_at = 0.0
        self.failing: str | None = None
        self.worker: threading.Thread | None = None
        self.error: BaseException | None = None
        # Documents the store let go while a checkpoint ran.
        self.forgotten: list[str] = []

    def write(self, batch: Batch) -> None:
        """Journal *batch*; once this returns it is durable."""
        self.active.append(batch)
        if not self.pending:
            self.since = self.clock()
        with self.lock:
            self.pending.merge(batch)
            by_name = self.by_name
            for name, document in batch.documents.items():
                by_name.setdefault(name, Batch()).documents[name] = document
            for key, view in batch.views.items():
                by_name.setdefault(key[1], Batch()).views[key] = view
            for change in batch.history:
                by_name.setdefault(change[0], Batch()).history.append(change)

    def forget(self, names: list[str]) -> None:
        """Let the database drop what it knows of these documents' rows (now,
        or once the running checkpoint ended: it uses that knowledge)."""
        if self.worker is None:
            self.database.forget(names)
        else:
            self.forgotten += names

    def journaled_documents(self) -> dict[str, DocumentRow | None]:
        """A copy of the document rows journaled since the last checkpoint."""
        with self.lock:
            return {**self.frozen.documents, **self.pending.documents}

    def journaled_names(self) -> set[str]:
        """The documents with rows journaled since the last checkpoint."""
        with self.lock:
            return set(self.frozen_by_name).union(self.by_name)

    def journaled(self, name: str) -> Batch:
        """A copy of the rows of document *name* journaled since the last
        checkpoint (newer than the database's), frozen ones first."""
        rows = Batch()
        with self.lock:
            for part in (self.frozen_by_name.get(name), self.by_name.get(name)):
                if part is not None:
                    rows.merge(part)
        return rows

    def journaled_bytes(self) -> int:
        """The bytes of journal records not yet checkpointed."""
        return self.active.position + self.frozen_bytes

    def due(self) -> bool:
        """Whether a checkpoint should start now (none is running)."""
        if self.worker is not None:
            return False
        now = self.clock()
        if now < self.retry_at:
            return False
        if self.frozen:
            return True
        return bool(self.pending) and (
            self.active.position >= self.max_bytes or now - self.since >= self.max_seconds)

    def maintain(self) -> None:
        """After each commit: take the outcome of a finished checkpoint (a failure
        was logged and stays in ``failing``), wait for a running one past the
        memory bound, and start the next when it is due."""
        worker = self.worker
        if worker is not None and self.journaled_bytes() >= 2 * self.max_bytes:
            worker.join()
        self._reap()
        if self.due():
            self._start()

    def _start(self) -> None:
        if not self.frozen:
            generation = self.active.generation + 1
            self.spare.restart(generation)
            with self.lock:
                self.frozen, self.pending = self.pending, Batch()
                self.frozen_by_name, self.by_name = self.by_name, {}
            self.frozen_generation = generation
            self.frozen_bytes = self.active.position
            self.active, self.spare = self.spare, self.active
        self.worker = threading.Thread(
            target=self._run, args=(self.frozen, self.frozen_generation, self.frozen_bytes),
            name="mobwrite-checkpoint", daemon=True)
        self.worker.start()

    def _run(self, batch: Batch, generation: int, size: int) -> None:
        """The checkpoint thread: write *batch* (*size* bytes journaled) as the rows
        before *generation*, then drop them (freeing them here, not on the writer
        thread)."""
        started = time.perf_counter()
        try:
            self.database.write(batch, generation=generation)
        except BaseException as error:
            self.error = error
            self.failing = f"checkpoint failed: {error}"
            _logged(generation, len(batch), size, started, error)
            return
        _logged(generation, len(batch), size, started)
        self.failing = None
        with self.lock:
            self.frozen = Batch()
            self.frozen_by_name = {}
        self.frozen_bytes = 0

    def _reap(self) -> None:
        """Take the outcome of the checkpoint thread if it has ended."""
        worker = self.worker
        if worker is None or worker.is_alive():
            return
        worker.join()
        self.worker = None
        forgotten, self.forgotten = self.forgotten, []
        self.database.forget(forgotten)
        error, self.error = self.error, None
        if error is not None:
            self.retry_at = self.clock() + self.max_seconds

    def wait(self) -> None:
        """Wait for a running checkpoint to end (its failure stays in ``failing``)."""
        if self.worker is not None:
            self.worker.join()
            # A failure leaves its rows frozen: ``checkpoint`` writes them too.
            self._reap()

    def checkpoint(self) -> None:
        """Write every journaled row to the database now, on this thread (after
        the running checkpoint); restart the journal."""
        self.wait()
        if not self.pending and not self.frozen:
            return
        rows = Batch()
        rows.merge(self.frozen)
        rows.merge(self.pending)
        generation = self.active.generation + 1
        size, started = self.journaled_bytes(), time.perf_counter()
        try:
            self.database.write(rows, generation=generation)
        except BaseException as error:
            _logged(generation, len(rows), size, started, error)
            # The database may hold *generation* after all (a failed flush
            # that still reached the disk): later records use it, so that
            # they are replayed whatever the database says.
            self.active.generation = generation
            self.retry_at = self.clock() + self.max_seconds
            self.failing = f"checkpoint failed: {error}"
            raise
        _logged(generation, len(rows), size, started)
        self.failing = None
        self.retry_at = 0.0
        self.active.restart(generation)
        with self.lock:
            self.pending, self.frozen = Batch(), Batch()
            self.by_name, self.frozen_by_name = {}, {}
        self.frozen_bytes = 0


def _logged(generation: int, rows: int, size: int, started: float,
            error: BaseException | None = None) -> None:
    """Log the checkpoint of *generation* (*rows* rows, *size* journal bytes, begun at
    *started* on ``perf_counter``): info if it committed, error if it failed."""
    took = 1000 * (time.perf_counter() - started)
    if error is None:
        log.info("storage: checkpoint {generation}: {rows} rows ({bytes} journal bytes) "
                 "moved into the database in {ms:.1f} ms",
                 generation=generation, rows=rows, bytes=size, ms=took)
    else:
        log.error("storage: checkpoint {generation} failed after {ms:.1f} ms: {error}; its "
                  "{rows} rows ({bytes} journal bytes) stay in the journal and are tried "
                  "again later", generation=generation, rows=rows, bytes=size, ms=took,
                  error=f"{type(error).__name__}: {error}")
