"""Orbax checkpoints of a run: params, optimizer state, step and PRNG key data.

A checkpoint at step N holds the state *after* N updates, and its ``"step"``
leaf says N. Saves are asynchronous and atomic (orbax writes a temporary
directory and renames it when complete), so a process killed at any moment,
also during a write, leaves every earlier checkpoint whole; the next run removes
the partial one. `latest` does not trust the directory listing alone: it
restores the newest step and falls back to older ones if that fails, and checks
that the restored step counter names the same step.

Damaged steps are moved out of the way, into ``<workdir>/corrupt/`` (the folder
beside ``checkpoints/``), with a warning in the log, so later runs neither trip
over them nor retrain their steps again:

* a step directory that is empty or partial (no ``_CHECKPOINT_METADATA`` or no
  item metadata: orbax only renames a step into place once it is complete, so
  such a directory holds nothing restorable) is moved before orbax opens the
  directory, since orbax cannot restore *any* step while one of them is empty;
* a step whose files no longer match its checksum manifest, or whose
  ``_CHECKPOINT_METADATA`` is not JSON, is moved before orbax opens the directory
  (silent corruption: same size, other bytes, which orbax would restore as is);
* a complete-looking step that fails to restore (truncated data, garbage
  manifest or metadata) is moved once an older step has restored successfully
  (when none restores, nothing is moved: the config probably changed).

Integrity: once a save has committed, ``MANIFEST`` (``sha256.json``) is written into
its step directory: the SHA-256 of every other file of the step. A step is
*verified* when its manifest exists and matches; `verified_steps` lists them, and
every message naming "the last good checkpoint" names a verified one. A step
without a manifest (a process killed between orbax's commit and the manifest, or a
checkpoint of an older seqgrad) is verified by restoring it, and gets its manifest
then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from seqgrad import jsonio
from seqgrad.train.errors import raised_in_orbax

log = logging.getLogger(__name__)

MANIFEST = "sha256.json"  # {"sha256": {"relative/path": hex digest}} of every other file of a step
_SHORT = 240  # characters of an orbax / TensorStore error kept in a message (their specs run to 60 lines)


def short_error(exc: BaseException) -> str:
    """The first line of ``exc`` (at most ``_SHORT`` characters): orbax and TensorStore
    errors embed multi-line JSON specs that say nothing more to the user."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def abstract(state: Any) -> Any:
    """`jax.ShapeDtypeStruct` leaves (with their shardings) describing ``state``."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), state
    )


class Checkpointer:
    """An orbax `CheckpointManager` over ``directory`` keeping the last ``keep`` steps."""

    def __init__(self, directory: str, keep: int):
        self.directory = os.path.abspath(directory)
        self._unsealed: set[int] = set()  # steps saved here whose manifest is not written yet
        if jax.process_index() == 0:
            for step in incomplete_steps(self.directory):
                self._move_aside(step, "is an empty or partial step directory")
            for step in complete_steps(self.directory):
                problem = damage(os.path.join(self.directory, str(step)))
                if problem:
                    self._move_aside(step, problem)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, ascending."""
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def verified_steps(self) -> list[int]:
        """Steps whose files match their manifest, ascending (waits for pending saves)."""
        self.wait()
        return verified_steps(self.directory)

    def save(self, step: int, state: Any) -> None:
        """Starts an asynchronous save of ``state`` (the state after ``step`` updates).

        The previous save is finished first (orbax would wait for it anyway) so that
        its manifest is written."""
        if step in self.manager.all_steps():
            return
        self.wait()
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self._unsealed.add(step)

    def restore(self, step: int, target: Any) -> Any:
        """The state saved at ``step``, laid out like ``target`` (abstract or concrete)."""
        restored = self.manager.restore(step, args=ocp.args.StandardRestore(abstract(target)))
        saved_step = np.asarray(jax.device_get(restored["step"])).reshape(-1)
        if not np.all(saved_step == step):
            raise ValueError(f"checkpoint {step} holds step counter {saved_step}, not {step}")
        return restored

    def latest(self, target: Any) -> tuple[int, Any] | None:
        """``(step, state)`` of the newest checkpoint that restores, or None if there is none.

        Raises:
          ValueError: there are checkpoints but none restores into ``target`` (e.g. the
            optimizer changed, so the saved state has another structure).
        """
        errors, damaged = [], []
        for step in reversed(self.steps()):
            try:
                restored = self.restore(step, target)
            except Exception as e:  # a damaged or partial checkpoint: try the one before
                why = short_error(e)
                quiet_abandoned_reads()
                log.warning("checkpoint %d in %s cannot be restored (%s); trying an older one", step, self.directory, why)
                errors.append(f"step {step}: {why}")
                damaged.append(step)
                continue
            if jax.process_index() == 0:
                for bad in damaged:
                    self._move_aside(bad, f"cannot be restored (resuming from step {step})")
                if damaged:
                    self.manager.reload()
                _write_manifest(os.path.join(self.directory, str(step)), only_if_missing=True)
            return step, restored
        if errors:
            raise ValueError(
                f"no checkpoint in {self.directory} can be restored into the state of this config (did the "
                f"model, task or optimizer change?); {len(errors)} tried, the newest: {errors[0]}"
            )
        return None

    def _move_aside(self, step: int, why: str) -> None:
        corrupt = os.path.join(os.path.dirname(self.directory), "corrupt")
        os.makedirs(corrupt, exist_ok=True)
        target = os.path.join(corrupt, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        shutil.move(os.path.join(self.directory, str(step)), target)
        log.warning("checkpoint %d in %s %s: moved to %s", step, self.directory, why, target)

    def wait(self) -> None:
        """Blocks until every started save is on disk, then writes the manifests of new steps."""
        self.manager.wait_until_finished()
        if jax.process_index() == 0:
            # Only steps this object saved: one that predates it and has no manifest is
            # verified by restoring it first (`latest`).
            for step in sorted(self._unsealed):
                path = os.path.join(self.directory, str(step))
                if os.path.isdir(path) and _is_complete(path):
                    _write_manifest(path, only_if_missing=True)
            self._unsealed.clear()

    def close(self) -> None:
        self.wait()
        self.manager.close()


def quiet_abandoned_reads() -> None:
    """Silences the leftovers of an orbax restore that failed, once its error is reported.

    When one read of a restore fails, orbax abandons the others: TensorStore futures
    whose errors nobody retrieves (asyncio logs each with a traceback and a 60-line
    TensorStore spec) and coroutines that are never awaited (a ``RuntimeWarning`` at
    exit). When they appear depends on garbage collection. Called after the failure
    was caught; records of asyncio about any other exception are kept."""
    warnings.filterwarnings("ignore", message=r"coroutine '[\w.<>]+' was never awaited", category=RuntimeWarning)
    asyncio_log = logging.getLogger("asyncio")
    if _abandoned_read_record not in asyncio_log.filters:
        asyncio_log.addFilter(_abandoned_read_record)


def _abandoned_read_record(record: logging.LogRecord) -> bool:
    """False for asyncio's "exception was never retrieved" of an orbax / TensorStore read."""
    error = record.exc_info[1] if record.exc_info else None
    if error is None or "never retrieved" not in str(record.msg):
        return True
    return not ("tensorstore" in str(error).lower() or raised_in_orbax(error.__traceback__))


def _is_complete(path: str) -> bool:
    if not os.path.isfile(os.path.join(path, "_CHECKPOINT_METADATA")):
        return False
    items = [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
    return bool(items) and all(os.path.isfile(os.path.join(path, d, "_METADATA")) for d in items)


def _step_dirs(directory: str) -> list[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(directory, n)))


def incomplete_steps(directory: str) -> list[int]:
    """Step directories of ``directory`` that orbax never finished (empty or partial)."""
    return [s for s in _step_dirs(directory) if not _is_complete(os.path.join(directory, str(s)))]


def complete_steps(directory: str) -> list[int]:
    """Steps whose directory is complete on disk (files only: safe from any thread)."""
    return [s for s in _step_dirs(directory) if _is_complete(os.path.join(directory, str(s)))]


# --------------------------------------------------------------------------- integrity


def _files(path: str) -> list[str]:
    """Paths (relative to ``path``) of every file of a step directory but the manifest."""
    out = []
    for root, _, names in os.walk(path):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), path)
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(path: str, *, only_if_missing: bool = False) -> None:
    """Writes ``path/MANIFEST`` (the SHA-256 of every other file of the step)."""
    target = os.path.join(path, MANIFEST)
    if only_if_missing and os.path.exists(target):
        return
    jsonio.write_json(target, {"sha256": {rel: _sha256(os.path.join(path, rel)) for rel in _files(path)}})


def damage(path: str) -> str:
    """Why the step directory ``path`` cannot be trusted, or "" (files only, no orbax).

    Checks that ``_CHECKPOINT_METADATA`` is a JSON object and, when the step has a
    manifest, that every file it lists exists with the same SHA-256 and no file was added."""
    try:
        with open(os.path.join(path, "_CHECKPOINT_METADATA")) as f:
            if not isinstance(json.load(f), dict):
                raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return f"has an unreadable _CHECKPOINT_METADATA ({short_error(e)})"
    target = os.path.join(path, MANIFEST)
    if not os.path.exists(target):
        return ""
    try:
        with open(target) as f:
            expected = json.load(f)["sha256"]
        if not isinstance(expected, dict):
            raise ValueError("no file table")
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"has an unreadable checksum manifest {MANIFEST} ({short_error(e)})"
    present = _files(path)
    missing = sorted(set(expected) - set(present))
    if missing:
        return f"fails its checksum manifest: {missing[0]} is missing"
    for rel in present:
        if rel not in expected:
            return f"fails its checksum manifest: {rel} is not in it"
        if _sha256(os.path.join(path, rel)) != expected[rel]:
            return f"fails its checksum manifest: the SHA-256 of {rel} changed (silent corruption)"
    return ""


def verified_steps(directory: str) -> list[int]:
    """Complete steps of ``directory`` with a manifest their files match (files only)."""
    return [
        s for s in complete_steps(directory)
        if os.path.exists(os.path.join(directory, str(s), MANIFEST)) and not damage(os.path.join(directory, str(s)))
    ]
