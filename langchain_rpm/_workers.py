"""Worker threads the sync driver reuses: a gather's plans run on idle workers, a thread starts only when none is.

A sync build gathers each window's packs on threads. A thread pool per gather started up to 16 threads per
window and joined them at its end (about 130 thread starts in a 200-item build at ``delay=0``, over 400 at
100 ms per call), each start and join paid in CPU and in threads fighting for the interpreter. Here a
finished worker waits for the next task instead, and :data:`IDLE_SECONDS` after its last one it exits, so a
host process keeps no thread once its builds stop.

Every task gets a thread at once (an idle one or a new one), so nested gathers never wait for each other's
workers: no deadlock, whatever the nesting. :meth:`Workers.map` runs at most ``width`` tasks of one call at a
time, each in a copy of the caller's context (callbacks and context variables propagate, as with LangChain's
``ContextThreadPoolExecutor``), and returns only once every task it started has finished, also when the
caller is interrupted (Ctrl-C): then no further task starts. Workers are daemon threads (an idle one never
holds up the interpreter's exit); a child process made by ``fork`` starts with none.

Example:
    >>> workers = Workers()
    >>> workers.map(lambda x: x * x, [1, 2, 3], width=2)
    [1, 4, 9]
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

IDLE_SECONDS = 2.0
"""How long a worker with nothing to do waits for a task before its thread exits."""

Task = Callable[[], None]


class Workers:
    """A cache of daemon worker threads: idle ones take new tasks, new ones start only when none is idle."""

    def __init__(self) -> None:
        """No thread yet: the first task starts one."""
        self._lock = threading.Lock()
        self._idle: list[SimpleQueue[Task]] = []  # each idle worker's inbox, the most recently idle last

    def submit(self, task: Task) -> None:
        """Run ``task`` (which must not raise) on an idle worker, or on a new thread when none is idle."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is not None:
            inbox.put(task)
            return
        inbox = SimpleQueue()
        threading.Thread(target=self._work, args=(inbox, task), name="rpm-worker", daemon=True).start()

    def _work(self, inbox: SimpleQueue[Task], task: Task) -> None:
        while True:
            task()
            with self._lock:
                self._idle.append(inbox)
            try:
                task = inbox.get(timeout=IDLE_SECONDS)
            except Empty:
                with self._lock:
                    if inbox in self._idle:  # nobody took this worker meanwhile: it ends
                        self._idle.remove(inbox)
                        return
                task = inbox.get()  # a submitter took it just now: its task is on the way

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, width: int) -> list[R | BaseException]:
        """``fn`` over ``items`` on at most ``width`` workers at once; results in order (a raised one as is)."""
        results: list[R | BaseException] = [None] * len(items)  # type: ignore[list-item]
        contexts = [contextvars.copy_context() for _ in items]
        cursor = iter(range(len(items)))  # ``next`` on it is one step under the interpreter lock: no lock of ours
        running = [0]
        lock = threading.Lock()
        stopped = threading.Event()
        ended: SimpleQueue[None] = SimpleQueue()

        def runner() -> None:
            with lock:
                running[0] += 1
            try:
                while not stopped.is_set():  # checked after registering: see the interrupted wait below
                    index = next(cursor, None)
                    if index is None:
                        return
                    try:
                        results[index] = contexts[index].run(fn, items[index])
                    except BaseException as exc:  # handed to the caller, which decides
                        results[index] = exc
            finally:
                with lock:
                    running[0] -= 1
                ended.put(None)

        runners = max(1, min(width, len(items)))
        try:
            for _ in range(runners):
                self.submit(runner)
            for _ in range(runners):
                ended.get()
        except BaseException:  # interrupted (Ctrl-C): start nothing more, let the running tasks end, then raise
            stopped.set()
            while True:
                with lock:
                    if not running[0]:
                        break
                ended.get()
            raise
        return results

    def _forget_threads(self) -> None:
        """In a forked child: the parent's workers do not exist here."""
        self._lock = threading.Lock()
        self._idle = []


WORKERS = Workers()
"""The process's workers, shared by every sync :class:`~langchain_rpm._plans.Gather`."""

os.register_at_fork(after_in_child=WORKERS._forget_threads)
