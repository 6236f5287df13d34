"""Orbax checkpoints of a run: params, optimizer state, step and PRNG key data.

A checkpoint at step N holds the state *after* N updates, and its ``"step"``
leaf says N. Saves are asynchronous and atomic (orbax writes a temporary
directory and renames it when complete), so a process killed at any moment,
also during a write, leaves every earlier checkpoint whole; the next run removes
the partial one. `latest` does not trust the directory listing alone: it
restores the newest step and falls back to older ones if that fails, and checks
that the restored step counter names the same step.
"""

from __future__ import annotations

import logging
import os
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
        errors = []
        for step in reversed(self.steps()):
            try:
                return step, self.restore(step, target)
            except Exception as e:  # a damaged or partial checkpoint: try the one before
                log.warning("checkpoint %d in %s cannot be restored (%s); trying an older one", step, self.directory, e)
                errors.append(f"step {step}: {e}")
        if errors:
            raise ValueError(
                f"no checkpoint in {self.directory} can be restored into the state of this config "
                f"(did the model, task or optimizer change?):\n" + "\n".join(errors)
            )
        return None

    def wait(self) -> None:
        """Blocks until every started save is on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
