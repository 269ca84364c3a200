"""Checkpoint files: a JSON-lines file with a header line (the study's configuration) and one
line per finished task, appended as tasks end, so an interrupted study resumes where it stopped.

Lines are strict JSON (`symmle._checks.json_dumps` / `json_loads`); a line torn by a crash
mid-write is dropped.
"""

from __future__ import annotations

from pathlib import Path

from .._checks import json_dumps, json_loads
from ..errors import PersistenceError
from ._result import SCHEMA_VERSION, check_record, jsonable

CHECKPOINT_KIND = "symmle-study-checkpoint"

#: configuration keys that identify the seed; compared only when the caller gave a seed.
_SEED_KEYS = ("entropy", "spawn_key")


def read_checkpoint(path: Path, config: dict | None, P: int):
    """(header config, {(n, rep): record}) from a checkpoint; a torn last line is dropped.

    ``config`` (when given) is compared with the header's: a file that another study wrote is
    refused with a `PersistenceError` naming what differs. An unseeded ``config`` (entropy
    None) takes the file's seed.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    if torn.strip():
        # the writer was killed mid-line: drop the partial record so appends stay valid
        path.write_bytes(b"\n".join(complete) + (b"\n" if complete else b""))
    if not complete:
        return None, {}
    header = _header(path, complete[0])
    stored = header["config"]
    if config is not None:
        _check_same_study(path, config, stored)
    done = {}
    for i, line in enumerate(complete[1:], start=2):
        if not line.strip():
            continue
        rec = json_loads(line, what=f"checkpoint {path}, line {i}")
        rec = check_record(rec, P, f"checkpoint {path}, line {i}")
        done[(rec["n"], rec["rep"])] = rec
    return stored, done


def _header(path: Path, line: bytes) -> dict:
    try:
        header = json_loads(line, what=f"checkpoint {path}")
    except PersistenceError:
        raise PersistenceError(f"checkpoint {path}: first line is not a symmle study header") from None
    if not isinstance(header, dict) or header.get("kind") != CHECKPOINT_KIND:
        raise PersistenceError(f"checkpoint {path}: not a symmle study checkpoint; choose another path")
    if header.get("schema") != SCHEMA_VERSION:
        raise PersistenceError(f"checkpoint {path}: schema {header.get('schema')!r} is not "
                               f"supported (this symmle writes schema {SCHEMA_VERSION})")
    if not isinstance(header.get("config"), dict):
        raise PersistenceError(f"checkpoint {path}: the header has no study configuration")
    return header


def _check_same_study(path: Path, config: dict, stored: dict) -> None:
    mismatch = [k for k in config if k not in _SEED_KEYS and config[k] != stored.get(k)]
    seeded = config["entropy"] is not None
    if seeded and tuple(config[k] for k in _SEED_KEYS) != tuple(stored.get(k) for k in _SEED_KEYS):
        mismatch.append("rng")
    if mismatch:
        raise PersistenceError(
            f"checkpoint {path} was written by a different study (differs in "
            f"{', '.join(mismatch)}); delete it or pass another checkpoint path")


def start_checkpoint(path: Path, config: dict) -> None:
    """Write the header line, unless the file already holds one."""
    if not path.exists() or path.stat().st_size == 0:
        header = {"kind": CHECKPOINT_KIND, "schema": SCHEMA_VERSION, "config": config}
        path.write_text(json_dumps(header) + "\n", encoding="utf-8")


def append_record(fh, rec: dict) -> None:
    """Append one finished task to an open checkpoint file, flushed (NaN written as null)."""
    fh.write(json_dumps(jsonable(rec)) + "\n")
    fh.flush()
