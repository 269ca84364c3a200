"""Checkpoint files: a JSON-lines file with a header line (the study's configuration) and one
line per finished task, appended as tasks end, so an interrupted study resumes where it stopped.

Lines are strict JSON (`symmle._checks.json_dumps` / `json_loads`); a line torn by a crash
mid-write is dropped. Every record carries the study's token (a hash of its configuration), its
own seed key (``[entropy, *spawn_key, n, rep]``) and a SHA-256 checksum of its content, and is
refused when any of them does not match: a file holding another study's records, or a record
edited by hand, cannot resume into a different table. The header is created exclusively, so two
first runs cannot both write one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .._checks import json_dumps, json_loads
from ..errors import PersistenceError
from ._result import SCHEMA_VERSION, check_record, jsonable

CHECKPOINT_KIND = "symmle-study-checkpoint"

#: configuration keys that identify the seed; compared only when the caller gave a seed.
_SEED_KEYS = ("entropy", "spawn_key")

#: the integrity fields a checkpoint record carries besides its content.
_INTEGRITY = ("study", "seed_key", "checksum")


def study_token(config: dict) -> str:
    """A hash of the study's configuration (seed included): what its records are stamped with."""
    return hashlib.sha256(json_dumps(config, sort_keys=True).encode()).hexdigest()[:32]


def _seed_key(config: dict, rec: dict) -> list:
    return [config["entropy"], *config["spawn_key"], rec["n"], rec["rep"]]


def _checksum(content: dict) -> str:
    return hashlib.sha256(json_dumps(content, sort_keys=True).encode()).hexdigest()


def read_checkpoint(path: Path, config: dict | None, P: int):
    """(header config, {(n, rep): record}) from a checkpoint; a torn last line is dropped.

    ``config`` (when given) is compared with the header's: a file that another study wrote is
    refused with a `PersistenceError` naming what differs. An unseeded ``config`` (entropy
    None) takes the file's seed.
    """
    if not path.is_file():
        raise PersistenceError(f"checkpoint {str(path)!r} is not a regular file")
    data = path.read_bytes()
    lines = data.split(b"\n")
    complete, torn = lines[:-1], lines[-1]
    if not complete:
        if torn.strip():  # one line and no newline: a header torn mid-write, or another file
            _header(path, torn)
            raise PersistenceError(f"checkpoint {path}: the header line is incomplete")
        return None, {}
    # the header is checked before anything is changed: a file that is not a checkpoint is
    # refused as it is, never truncated
    header = _header(path, complete[0])
    if torn.strip():
        # the writer was killed mid-line: drop the partial record so appends stay valid
        path.write_bytes(b"\n".join(complete) + b"\n")
    stored = header["config"]
    if config is not None:
        check_same_study(path, config, stored)
    token = study_token(stored)
    done = {}
    for i, line in enumerate(complete[1:], start=2):
        if not line.strip():
            continue
        where = f"checkpoint {path}, line {i}"
        rec = json_loads(line, what=where)
        if not isinstance(rec, dict) or any(k not in rec for k in _INTEGRITY):
            raise PersistenceError(f"{where}: a record without the study token, seed key and "
                                   f"checksum; this file was not written by this symmle study")
        content = {k: v for k, v in rec.items() if k not in _INTEGRITY}
        if rec["checksum"] != _checksum(content):
            raise PersistenceError(f"{where}: the checksum does not match the record (edited or "
                                   f"corrupted); delete the checkpoint to start again")
        if rec["study"] != token:
            raise PersistenceError(f"{where}: the record belongs to another study (its token "
                                   f"differs from the header's); delete the checkpoint or pass "
                                   f"another path")
        content = check_record(content, P, where)
        if rec["seed_key"] != _seed_key(stored, content):
            raise PersistenceError(f"{where}: the record's seed key does not match its task "
                                   f"(n = {content['n']}, rep = {content['rep']})")
        done[(content["n"], content["rep"])] = content
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


def check_same_study(path: Path, config: dict, stored: dict) -> None:
    mismatch = [k for k in config if k not in _SEED_KEYS and config[k] != stored.get(k)]
    seeded = config["entropy"] is not None
    if seeded and tuple(config[k] for k in _SEED_KEYS) != tuple(stored.get(k) for k in _SEED_KEYS):
        mismatch.append("rng")
    if mismatch:
        raise PersistenceError(
            f"checkpoint {path} was written by a different study (differs in "
            f"{', '.join(mismatch)}); delete it or pass another checkpoint path")


def start_checkpoint(path: Path, config: dict) -> dict:
    """Write the header line unless the file already holds one (created exclusively: of two
    first runs, one writes the header and the other reads it); returns the header's config."""
    header = {"kind": CHECKPOINT_KIND, "schema": SCHEMA_VERSION, "config": config}
    text = (json_dumps(header) + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if path.stat().st_size:
            return _header(path, path.read_bytes().split(b"\n", 1)[0])["config"]
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # an empty file: ours to start
    with os.fdopen(fd, "wb") as fh:
        fh.write(text)
    return config


def append_record(fh, rec: dict, config: dict) -> None:
    """Append one finished task to an open checkpoint file, flushed (NaN written as null), with
    the study token, its seed key and a checksum."""
    content = jsonable(rec)
    stamped = dict(content, study=study_token(config), seed_key=_seed_key(config, rec),
                   checksum=_checksum(content))
    fh.write(json_dumps(stamped) + "\n")
    fh.flush()
