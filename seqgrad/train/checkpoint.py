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
* a complete-looking step that fails to restore (truncated data, garbage
  manifest or metadata) is moved once an older step has restored successfully
  (when none restores, nothing is moved: the config probably changed).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


def abstract(state: Any) -> Any:
    """`jax.ShapeDtypeStruct` leaves (with their shardings) describing ``state``."""
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), state
    )


class Checkpointer:
    """An orbax `CheckpointManager` over ``directory`` keeping the last ``keep`` steps."""

    def __init__(self, directory: str, keep: int):
        self.directory = os.path.abspath(directory)
        if jax.process_index() == 0:
            for step in incomplete_steps(self.directory):
                self._move_aside(step, "is an empty or partial step directory")
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, ascending."""
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: Any) -> None:
        """Starts an asynchronous save of ``state`` (the state after ``step`` updates)."""
        if step in self.manager.all_steps():
            return
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)

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
                log.warning("checkpoint %d in %s cannot be restored (%s); trying an older one", step, self.directory, e)
                errors.append(f"step {step}: {e}")
                damaged.append(step)
                continue
            if damaged and jax.process_index() == 0:
                for bad in damaged:
                    self._move_aside(bad, f"cannot be restored (resuming from step {step})")
                self.manager.reload()
            return step, restored
        if errors:
            raise ValueError(
                f"no checkpoint in {self.directory} can be restored into the state of this config "
                f"(did the model, task or optimizer change?):\n" + "\n".join(errors)
            )
        return None

    def _move_aside(self, step: int, why: str) -> None:
        corrupt = os.path.join(os.path.dirname(self.directory), "corrupt")
        os.makedirs(corrupt, exist_ok=True)
        target = os.path.join(corrupt, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        shutil.move(os.path.join(self.directory, str(step)), target)
        log.warning("checkpoint %d in %s %s: moved to %s", step, self.directory, why, target)

    def wait(self) -> None:
        """Blocks until every started save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


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
