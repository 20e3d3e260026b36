"""The commands that need no model: ``rpm users``, ``rpm inspect``, ``rpm forget``, ``rpm export``, ``rpm import``.

Example:
    >>> import argparse, tempfile
    >>> args = argparse.Namespace(store=tempfile.mkdtemp(), chroma_host=None, chroma_port=8000, json=True)
    >>> users(args, Output(json=True))  # prints []
    []
    0
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from langchain_rpm.cli._output import Output, stored_profile
from langchain_rpm.cli._session import StoreAccess
from langchain_rpm.cli._task_choice import describe_task, requested_task, task_for_profile
from langchain_rpm.cli._text import literal, quoted
from langchain_rpm.cli.render import factor_table, profile_summary


def users(args: argparse.Namespace, out: Output) -> int:
    """``rpm users``: the users who have a profile, one a line (ids printed literally)."""
    access = StoreAccess(args)
    access.check(writes=False)
    store = access.open(create=False)
    ids = store.list_users() if store is not None else []
    if out.json:
        out.data(ids)
    else:
        out.line("\n".join(literal(user) for user in ids) or "(no users)")
    return 0


def inspect(args: argparse.Namespace, out: Output) -> int:
    """``rpm inspect USER``: factors and statistics, under the user's stored task."""
    user_id = args.user
    asked = requested_task(task=args.task, labels=args.labels, task_file=getattr(args, "task_file", None))
    access = StoreAccess(args)
    access.check(writes=False)
    profile = stored_profile(access, access.open(create=False), user_id)
    task = task_for_profile(profile, asked)
    if out.json:
        out.data(profile.model_dump(mode="json"))
        return 0
    out.console.print(profile_summary(profile, describe_task(task)))
    out.console.print(factor_table(profile.factors, task))
    from langchain_rpm.cli._drift_view import print_drift

    print_drift(out, profile)
    if profile.failed_items:
        out.console.print(f"{len(profile.failed_items)} item(s) failed in the last build (rebuild to retry them):")
        for failed in profile.failed_items:
            out.line(f"  {literal(failed.item_id)} ({failed.stage}): {literal(' '.join(failed.error.split()))}")
    return 0


def forget(args: argparse.Namespace, out: Output) -> int:
    """``rpm forget USER``: every copy of the user's data (:func:`langchain_rpm.privacy.forget_user`), and the report.

    Examples, profile, build checkpoints, cached LLM replies and batch-ledger lines in the store folder
    (and the ``--batch-state`` ledger); the report's lines are printed as they are (``--json``: its dict).
    """
    from langchain_rpm.privacy import forget_user

    user_id = args.user
    access = StoreAccess(args)
    access.check(writes=True)
    store = access.open(create=False)
    stored_profile(access, store, user_id)
    ledgers = [args.batch_state] if getattr(args, "batch_state", None) else []
    if getattr(args, "item", None):  # single items: langchain_rpm._corrections
        from langchain_rpm._corrections import remove_plan
        from langchain_rpm._plans import run

        report: Any = run(remove_plan(store, user_id, args.item, folder=access.state_folder()))
    else:
        report = forget_user(user_id, store, folder=access.state_folder(), batch_states=ledgers)
    if out.json:
        out.data(report.to_dict())
    else:
        out.line("\n".join(literal(line) for line in report.lines()))
    return 0


def export(args: argparse.Namespace, out: Output) -> int:
    """``rpm export USER [-o FILE]``: the user as one versioned JSON document (stdout, or FILE)."""
    from langchain_rpm.store.portable import dumps

    access = StoreAccess(args)
    access.check(writes=False)
    store = access.open(create=False)
    stored_profile(access, store, args.user)
    text = dumps(store.export_user(args.user))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    args.output.write_text(text, encoding="utf-8")
    message = f"exported user {quoted(args.user)} to {args.output}"
    out.data({"user_id": args.user, "file": str(args.output)}) if out.json else out.line(literal(message))
    return 0


def import_(args: argparse.Namespace, out: Output) -> int:
    """``rpm import FILE [--replace]``: store an exported user (checked first; no LLM call)."""
    from langchain_rpm.errors import InputFileError
    from langchain_rpm.store.portable import loads, parse

    try:
        document = loads(args.file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputFileError(
            f"{args.file}: cannot read it ({exc.strerror}); give a file written by `rpm export`"
        ) from None
    parse(document)  # a malformed file is refused before the store is opened
    access = StoreAccess(args)
    access.check(writes=True)
    profile = access.open(create=True).import_user(document, replace=args.replace)
    message = f"imported user {quoted(profile.user_id)}: {profile.num_items} items, {len(profile.factors)} factors"
    out.data({"user_id": profile.user_id, "items": profile.num_items}) if out.json else out.line(literal(message))
    return 0
