"""What a command runs against: the store (checked before it is opened), its state folder, and the model.

The store folder is checked before anything is opened or created: a path that is a file, or a
read-only folder for a command that writes, is one line naming the folder and what to do. A
command that only reads finds no store when the folder does not exist (and creates none). The
state folder (build checkpoints, the LLM cache) is the store folder.

Example:
    >>> import argparse, tempfile
    >>> access = StoreAccess(argparse.Namespace(store=tempfile.mkdtemp(), chroma_host=None, chroma_port=8000))
    >>> access.check(writes=True)
    >>> access.open(create=False) is None  # an empty folder holds no store yet
    True
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

from langchain_rpm.cli._exits import report
from langchain_rpm.cli._model_choice import ModelChoice, ModelPlan, open_model, plan_model
from langchain_rpm.cli._text import one_line
from langchain_rpm.errors import RPMError, StoreError

STORE_ENV = "RPM_STORE_PATH"


def default_store_folder() -> Path:
    """``$RPM_STORE_PATH``, else ``~/.langchain_rpm/store``."""
    return Path(os.environ.get(STORE_ENV) or Path.home() / ".langchain_rpm" / "store")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


class StoreAccess:
    """The store a command uses: an embedded folder (checked first), a Chroma server or a Postgres URL.

    Args:
        args: Parsed ``--store``, ``--chroma-host`` and ``--chroma-port``.
        namespace: Prefix of the store's collections (the demo keeps its own).
    """

    def __init__(self, args: argparse.Namespace, *, namespace: str = "rpm") -> None:
        self.url: str | None = args.store if isinstance(args.store, str) and "://" in args.store else None
        self.explicit = args.store is not None and self.url is None
        self.folder = Path(args.store).expanduser() if self.explicit else default_store_folder()
        self.host: str | None = args.chroma_host
        self.port: int = args.chroma_port
        self.namespace = namespace

    @property
    def label(self) -> str:
        """How messages name the store."""
        if self.url:
            return f"the Postgres store at {self.url.split('@')[-1]}"
        if self.host:
            return f"the Chroma server at {self.host}:{self.port}"
        return f"the store {self.folder}" + ("" if self.explicit else f" (${STORE_ENV} or the default)")

    def check(self, *, writes: bool) -> None:
        """Refuse a store folder that is a file, or a read-only one; opens nothing.

        Args:
            writes: The command writes. A command that only reads checks an existing store too:
                Chroma writes to its folder even to read it.
        """
        folder = self.folder
        if self.url:
            return
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"--store {folder}: is a file, not a folder; give a folder (it is created when missing)")
        if self.host or (not writes and not self.exists()):
            return
        existing = _nearest_existing(folder)
        targets = [existing] + [p for p in folder.glob("*.sqlite*") if existing == folder]
        if not all(os.access(target, os.W_OK) for target in targets):
            why = "" if writes else " (Chroma writes to its folder even to read it)"
            raise StoreError(
                f"{self.label} is read-only{why}: give a writable folder with --store, or fix its permissions"
            )

    def exists(self) -> bool:
        """Whether there is a store to read (a server always counts)."""
        return bool(self.host or self.url) or (self.folder / "chroma.sqlite3").exists()

    def open(self, *, create: bool) -> Any:
        """The :class:`~langchain_rpm.store.RPMStore`, or ``None`` when there is none and ``create`` is false."""
        from langchain_rpm.store import RPMStore

        if not create and not self.exists():
            return None
        try:
            if self.url:
                return RPMStore.from_postgres(self.url, namespace=self.namespace)
            if self.host:
                return RPMStore.from_server(self.host, self.port, namespace=self.namespace)
            return RPMStore(self.folder, namespace=self.namespace)
        except RPMError:
            raise
        except Exception as exc:
            what = (
                f"start it with `chroma run --path DIR --port {self.port}`, or check --chroma-host/--chroma-port"
                if self.host
                else "check the folder, or give another one with --store"
            )
            raise StoreError(f"cannot open {self.label}: {one_line(exc, 200)}; {what}") from None

    def state_folder(self) -> Path:
        """Where build checkpoints and the LLM cache live (created on first use)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def cache(self, enabled: bool) -> Any:
        """The LLM reply cache in the state folder, or ``None``."""
        if not enabled:
            return None
        from langchain_rpm.cli._cache import SQLiteCache

        return SQLiteCache(self.state_folder() / "llm_cache.sqlite")

    def checkpointer(self) -> AbstractAsyncContextManager[Any]:
        """A SQLite checkpointer: an interrupted build resumes where it stopped."""
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        return AsyncSqliteSaver.from_conn_string(str(self.state_folder() / "checkpoints.sqlite"))


def model_plan(args: argparse.Namespace) -> ModelPlan:
    """The model the flags ask for, decided (and refused when unusable) before anything starts."""
    return plan_model(model=args.model, base_url=args.base_url, method=args.structured_output, local=args.local)


Say = Callable[[str, str], None]
"""``say(kind, message)``: one status line on stderr (``model: ...``; JSON with ``--json``)."""


def announcer(as_json: bool) -> Say:
    """A :data:`Say` writing to stderr, as JSON with ``--json`` (stdout stays parseable)."""

    def say(kind: str, message: str) -> None:
        report(message, 0, as_json=as_json, kind=kind)

    return say


@contextmanager
def running_model(plan: ModelPlan, say: Say, *, cache: Any = None) -> Iterator[ModelChoice]:
    """The planned model, for the duration of the block; the first line printed names it.

    A local model's server starts here (after the line naming it) and stops when the block exits,
    on errors and Ctrl-C too.
    """
    with ExitStack() as stack:
        if plan.kind == "local":
            say("model", plan.description)
            choice = open_model(stack, plan, cache=cache)
            url = choice.description.rsplit(" at ", 1)[-1]
            say("model server", f"{url} (stopped when the command ends)")
        else:
            choice = open_model(stack, plan, cache=cache)
            say("model", choice.description)
        yield choice
