"""Group commit and the storage service: replies wait until edits are on disk.

``GroupCommitter.durable`` is what ``RequestAnswerer`` waits on before it
sends a reply that acknowledged a change (docs/protocol.md §15.4).  The changed
rows are copied on the reactor thread and written by one dedicated worker
thread (``WriterThread``), so the reactor never waits for the disk; while
one commit is being written, later requests queue for the next, so one
fsync serves them all.

``StorageService`` owns a ``Storage`` (``contract.py``) for the chosen
durability: it opens it before the ports open (it is the first child of the
service tree); the store then loads documents from it as they are named.  In ``sync`` mode each commit is one journal record and
the writer thread starts a checkpoint of the journal into the database now and then; in
``snapshot`` mode the database is written periodically, without the
journal.  Everything is flushed and checkpointed when the daemon stops.
Checkpoints themselves run on a thread of their own (``checkpoint.py``), so
that no commit waits for one.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from mobwrite.core.store import Changes, Loader, Store
from mobwrite.logs import enabled, logger
from mobwrite.storage.contract import Storage
from mobwrite.storage.disk import JournalStorage, SnapshotStorage
from mobwrite.storage.journal import CHECKPOINT_BYTES
from mobwrite.storage.rows import Batch, Rows, StorageError, put_stored, snapshot

log = logger("storage")

SYNC, SNAPSHOT, MEMORY = "sync", "snapshot", "memory"
DURABILITY_MODES = (SYNC, SNAPSHOT, MEMORY)
SNAPSHOT_INTERVAL = 2.0
# A checkpoint every megabyte, with 100 editors on 1 KB documents, held up
# commits often enough to put the p99 sync at 0.5-2 s (BENCHMARKS.md), when
# checkpoints ran on the writer thread; they no longer hold up commits, but
# each still costs CPU.  Twice this bounds the journaled rows of the
# smallest budgets (16 MB, as when it was a checkpoint's size).  Files of an
# eighth of the budget (32 MB by default) checkpointed the crowd benchmark
# twice as often and kept its p99 at 0.1-0.56 s, against 23-68 ms in most
# runs with a quarter (BENCHMARKS.md).
MIN_CHECKPOINT_BYTES = 8 << 20

RunInThread = Callable[[Callable[[Batch], None], Batch], "defer.Deferred[None]"]


class IStorageReactor(IReactorTime, IReactorFromThreads):
    """What storage needs of a reactor: timers, and results from its thread."""


class NotStored(Exception):
    """The changes a reply would acknowledge could not be stored."""


class WriterThread:
    """One plain thread that runs writes in turn and reports each on the reactor.

    Lighter than a Twisted thread pool: a job is one queue put, and its
    result comes back with one ``callFromThread``.  *after*, if given, runs
    in the thread once each job's result is on its way (background work
    that no reply waits for); its failures are logged.
    """

    def __init__(self, reactor: IReactorFromThreads, name: str = "mobwrite-storage",
                 after: Callable[[], None] | None = None) -> None:
        self.reactor = reactor
        self.after = after
        self.jobs: SimpleQueue[
            tuple[Callable[[Batch], None], Batch, defer.Deferred[None]] | None] = SimpleQueue()
        # A daemon thread: an interpreter that exits without stopService
        # (which flushes and stops it) must not hang on it.
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __call__(self, write: Callable[[Batch], None], batch: Batch) -> defer.Deferred[None]:
        """Run ``write(batch)`` in the thread; the Deferred fires on the reactor."""
        done: defer.Deferred[None] = defer.Deferred()
        self.jobs.put((write, batch, done))
        return done

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Finish the jobs queued so far, then end the thread."""
        if self.thread.is_alive():
            self.jobs.put(None)
            self.thread.join()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            write, batch, done = job
            try:
                write(batch)
            except BaseException:
                # Anything, so that no waiter is left hanging on a dead thread.
                self.reactor.callFromThread(done.errback, Failure())
            else:
                self.reactor.callFromThread(done.callback, None)
            if self.after is not None:
                try:
                    self.after()
                except BaseException:
                    self.reactor.callFromThread(
                        log.failure, "background storage work failed", Failure())


class GroupCommitter:
    """Writes the store's changes in batches, one batch at a time."""

    def __init__(self, store: Store, write: Callable[[Batch], None],
                 run_in_thread: RunInThread, wait_for_disk: bool = True) -> None:
        self.store = store
        self.write = write
        self.run_in_thread = run_in_thread
        self.wait_for_disk = wait_for_disk
        self.waiting: list[defer.Deferred[None]] = []
        self.writing = False
        self.closed = False
        self.commits = 0
        # Why the latest write failed, until one succeeds (for /healthz).
        self.failing: str | None = None

    def durable(self) -> defer.Deferred[None]:
        """Fire once every change recorded so far is stored (at once in snapshot mode)."""
        if not self.wait_for_disk and not self.closed:
            return defer.succeed(None)
        return self.flush()

    def flush(self) -> defer.Deferred[None]:
        """Write every change recorded so far; fire when it is stored."""
        if self.closed:
            return defer.fail(NotStored("the storage service has stopped"))
        waiter: defer.Deferred[None] = defer.Deferred()
        self.waiting.append(waiter)
        if not self.writing:
            self._commit()
        return waiter

    def close(self) -> defer.Deferred[None]:
        """Write what is left, then refuse further writes."""
        flushed = self.flush()
        self.closed = True
        return flushed

    def _commit(self) -> None:
        changes = self.store.take_changes()
        forget = self.store.take_evicted()
        waiters, self.waiting = self.waiting, []
        if not changes and not forget:
            self.store.stored()
            for waiter in waiters:
                waiter.callback(None)
            return
        batch = snapshot(self.store, changes, forget)
        self.writing = True
        self.run_in_thread(self.write, batch).addCallbacks(
            self._written, self._failed,
            callbackArgs=(waiters, len(batch)), errbackArgs=(waiters, changes))

    def _written(self, _: None, waiters: list[defer.Deferred[None]], rows: int) -> None:
        self.writing = False
        self.store.stored()
        self.commits += 1
        self.failing = None
        # The next batch goes to the disk while these replies are sent.
        if self.waiting:
            self._commit()
        # Twisted builds a filtered-out event all the same: not on every commit.
        if enabled(log, LogLevel.debug):
            log.debug("stored {rows} rows for {requests} waiting", rows=rows,
                      requests=len(waiters))
        for waiter in waiters:
            waiter.callback(None)

    def _failed(self, failure: Failure, waiters: list[defer.Deferred[None]],
                changes: Changes) -> None:
        self.writing = False
        self.failing = failure.getErrorMessage()
        log.failure("storing changes failed; they stay pending", failure)
        # Put the changes back so that the next commit tries them again (the
        # documents let go stay known to the storage: no harm but memory).
        self.store.put_back(changes)
        for waiter in waiters:
            waiter.errback(NotStored(failure.getErrorMessage()))
        if self.waiting:
            self._commit()


def storage_for(mode: str, directory: Path, max_memory: int = 0) -> SnapshotStorage:
    """The storage for a ``--durability`` mode other than memory.

    With a memory budget, a journal file is checkpointed once it holds a
    quarter of it (but at least ``MIN_CHECKPOINT_BYTES``), since its rows
    stay in memory until then; commits wait for a running checkpoint once
    the two files hold twice that (``checkpoint.py``), so the rows held
    never pass half of the budget, and a quarter while checkpoints keep up.
    """
    if mode != SYNC:
        return SnapshotStorage(directory)
    if max_memory:
        return JournalStorage(directory, min(CHECKPOINT_BYTES,
                                             max(max_memory // 4, MIN_CHECKPOINT_BYTES)))
    return JournalStorage(directory)


def loader(storage: Storage) -> Loader:
    """The store's loader for documents kept in *storage* (core/store.py)."""
    return functools.partial(put_stored, storage)


class StorageService(Service):
    """Opens the data directory for the store and keeps the directory current.

    The store should have been made with ``loader=loader(storage)``, so that
    it loads the documents it is asked for.
    """

    def __init__(self, store: Store, storage: SnapshotStorage, mode: str,
                 reactor: IStorageReactor, interval: float = SNAPSHOT_INTERVAL,
                 observe_flush: Callable[[float], None] | None = None) -> None:
        self.store = store
        self.mode = mode
        self.reactor = reactor
        self.storage = storage
        self.observe_flush = observe_flush
        # One thread: commits are sequential anyway, and SQLite wants one writer.
        self.writer = WriterThread(reactor, after=self.storage.maintain)
        self.committer = GroupCommitter(
            store, self._write, self.writer, wait_for_disk=self.storage.waits_for_disk)
        self.loop = LoopingCall(self._snapshot)
        self.loop.clock = reactor
        self.interval = interval
        self.loaded = False

    def _write(self, batch: Batch) -> None:
        """Write one batch (in the storage thread), reporting how long it took."""
        started = time.perf_counter()
        self.storage.write(batch)
        if self.observe_flush is not None:
            self.observe_flush(time.perf_counter() - started)

    def privilegedStartService(self) -> None:
        # Load before the ports open, so that a damaged store stops start-up
        # before anything is announced as listening.
        Service.privilegedStartService(self)
        self._load()

    def startService(self) -> None:
        Service.startService(self)
        self._load()
        self.writer.start()
        if not self.storage.waits_for_disk:
            self.loop.start(self.interval, now=False)

    def _load(self) -> None:
        if self.loaded:
            return
        try:
            opened = self.storage.open(self.store)
        except StorageError as error:
            raise SystemExit(f"cannot use the stored documents: {error}") from None
        self.loaded = True
        if opened.damage:
            log.warn("storage: {damage}", damage=opened.damage)
        log.info("storage: {documents} documents and {views} views stored in {path}, "
                 "loaded as they are used; {records} journal records replayed "
                 "(durability {mode})",
                 documents=opened.documents, views=opened.views,
                 path=self.storage.location, records=opened.records, mode=self.mode)

    def failure(self) -> str | None:
        """Why the latest commit or checkpoint failed, until one succeeds."""
        return self.committer.failing or self.storage.failure()

    def rows(self) -> defer.Deferred[Rows]:
        """Every stored row, once every change recorded so far is stored (a
        consistent dump: later writes wait behind it on the writer thread)."""
        rows: list[Rows] = []
        flushed = self.committer.flush()
        flushed.addCallback(lambda _: self.writer(
            lambda batch: rows.append(self.storage.rows()), Batch()))
        return flushed.addCallback(lambda _: rows[0])

    def _snapshot(self) -> None:
        self.committer.flush().addErrback(lambda _: None)  # _failed has logged it

    def stopService(self) -> defer.Deferred[None]:
        Service.stopService(self)
        if self.loop.running:
            self.loop.stop()
        return self.committer.close().addBoth(self._stopped)

    def _stopped(self, result: None | Failure) -> None:
        self.writer.stop()
        if isinstance(result, Failure):
            log.failure("the final write failed", result)
        try:
            self.storage.close()
        except Exception:
            # What was journaled is replayed at the next start.
            log.failure("the final checkpoint failed")
            result = Failure()
        if not isinstance(result, Failure):
            log.info("storage: everything stored in {path}", path=self.storage.location)
