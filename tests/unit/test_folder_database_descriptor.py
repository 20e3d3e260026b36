"""The folder's look at Chroma's database never closes a descriptor of it while Chroma may hold SQLite locks.

POSIX drops every lock a process holds on a file when *any* descriptor of that file is closed in that process,
so reading SQLite's change counter through a descriptor opened and closed per query could free the locks of a
commit in flight on another thread (SQLite's "How To Corrupt An SQLite Database File", section 2.2).
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
from pathlib import Path
from typing import Any

from langchain_rpm.store._folder import CHROMA_DATABASE, embedded_folder
from langchain_rpm.store._records import default_client
from langchain_rpm.testing import demo_rpm

QUERY = "The strap broke on the second day."


def test_queries_close_no_descriptor_of_chromas_database(monkeypatch):
    rpm = demo_rpm()
    first = rpm.personalize("ada", QUERY)
    database = str(rpm.store.backend.folder.folder / CHROMA_DATABASE)
    opened: set[int] = set()
    closed: list[str] = []
    os_open, os_close, io_open = os.open, os.close, io.open

    def opening(path: Any, *args: Any, **kwargs: Any) -> int:
        descriptor = os_open(path, *args, **kwargs)
        if str(path) == database:
            opened.add(descriptor)
        return descriptor

    def closing(descriptor: int) -> None:
        if descriptor in opened:
            closed.append("os.close")
        os_close(descriptor)

    def file_object(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == database:
            closed.append("file object")  # closed when its block ends
        return io_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "close", closing)
    monkeypatch.setattr(io, "open", file_object)
    monkeypatch.setattr(builtins, "open", file_object)
    for _ in range(3):
        assert rpm.personalize("ada", QUERY).example_ids == first.example_ids
    rpm.add_interactions("ada", [{"id": "late", "input": "It came two weeks late.", "response": "2"}])
    rpm.personalize("ada", QUERY)
    assert closed == []  # main: one per query and per write call (the change counter read through `open`)


def test_a_database_made_again_under_the_same_folder_is_read_anew(tmp_path):
    folder = embedded_folder(default_client(str(tmp_path / "store")))
    assert folder is not None
    folder.client.get_or_create_collection("probe").add(ids=["a"], embeddings=[[1.0, 0.0]])
    before = folder.commits()
    database = Path(folder.folder) / CHROMA_DATABASE
    copy = tmp_path / "copy.sqlite3"
    shutil.copyfile(database, copy)
    with open(copy, "r+b") as header:  # another database file, its change counter set apart
        header.seek(24)
        header.write((int.from_bytes(before, "big") + 1000).to_bytes(4, "big"))
    os.replace(copy, database)  # the old file is unlinked: its kept descriptor no longer says anything
    assert folder.commits() == (int.from_bytes(before, "big") + 1000).to_bytes(4, "big")
