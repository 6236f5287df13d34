"""The training state of R replicas and the pure, jitted functions over it.

State (every leaf has a leading replica axis R; R = 1 for a single run):

    {"step":      int32 [R]           updates applied so far (the same for all replicas),
     "key":       uint32 [R, 2]       key data of the replica's root key, jax.random.key(seed),
     "params":    {"model": variables of the model, "readout": {"kernel", "bias"}},
     "opt_state": the optax state, holding each replica's learning rate, clip value, weight decay}

Keys: from a replica's root key ``k = key(seed)``, the model is initialised from
``fold_in(k, 0)``, the batch of step s is drawn from ``fold_in(fold_in(k, 1), s)``
and evaluation batch i from ``fold_in(fold_in(k, 2), i)``. A replica with seed s
therefore sees exactly the keys of a single run with ``train.seed = s``.

Replicas run in one compiled program, either vectorised (``jax.vmap``) or mapped
(``lax.map`` with ``train.replica_batch_size`` replicas per iteration), chosen by
``train.replica_execution`` (`execution`). Several steps run per call as one
``lax.scan`` (`Trainer.train_chunk`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from seqgrad import tasks
from seqgrad.train import config as config_lib
from seqgrad.train import distributed
from seqgrad.train import flossing as flossing_lib
from seqgrad.train import optim as optim_lib
from seqgrad.train import hparams

INIT, DATA, EVAL, SNAPSHOT = 0, 1, 2, 3  # fold_in tags of the root key


def execution(config, num_devices: int) -> str:
    """``"vmap"`` or ``"map"``: the replica execution for this backend.

    ``auto``: on a single CPU device a ``lax.map`` over replicas, each running its
    chunk of steps as a single run would (measured 0.99x of 16 sequential runs, where
    ``vmap`` was 0.84x: XLA's CPU batched matmuls are slow; ``benchmarks/bench_replicas.py``);
    ``vmap`` on accelerators and whenever replicas are laid out over several devices.
    """
    choice = config.train.replica_execution
    if choice != "auto":
        return choice
    return "map" if jax.default_backend() == "cpu" and num_devices == 1 else "vmap"


def replicated(fn: Callable, how: str, batch_size: int) -> Callable:
    """``fn`` applied over the leading replica axis of all its arguments."""
    if how == "vmap":
        return jax.vmap(fn)

    def mapped(*args):
        return jax.lax.map(lambda a: fn(*a), args, batch_size=batch_size if batch_size > 1 else None)

    return mapped


class Trainer:
    """Everything a run computes, built from a validated config.

    Attributes:
      task, model, tx: the task, the model (``model.options`` as configured) and the optax chain.
      replicas: one dict per replica, ``{"seed": s, <hparam>: value}`` (`config.replicas`).
    """

    def __init__(self, config, mesh=None):
        self.config = config
        self.task: tasks.Task = config_lib.make_task(config)
        self.model = config_lib.make_model(config)
        self.tx = optim_lib.make_optimizer(config.optim, config.train.steps)
        self.replicas = hparams.replicas(config)
        self.flossing = flossing_lib.Flossing.from_config(config, self.model, self.task)  # None: off
        self.mesh = mesh
        num_devices = 1 if mesh is None else mesh.devices.size
        # One replica: vmap over an axis of size 1 is the plain computation.
        self.how = execution(config, num_devices) if len(self.replicas) > 1 else "vmap"
        self.map_batch = config.train.replica_batch_size
        self._state_sharding = self._batch_sharding = None
        if mesh is not None:
            self._state_sharding = distributed.state_sharding(mesh)
            self._batch_sharding = distributed.batch_sharding(mesh)
        self._chunk = jax.jit(
            self._train_chunk, static_argnums=1, donate_argnums=0, out_shardings=self._out(2)
        )
        self._eval = jax.jit(self._evaluate)

    # ------------------------------------------------------------------ helpers

    def _out(self, n):
        if self._state_sharding is None:
            return None
        if n == 2:  # (state [R, ...], metrics [S, R])
            return self._state_sharding, distributed.metrics_sharding(self.mesh)
        return (self._state_sharding,) * n if n > 1 else self._state_sharding

    def _replicate(self, fn):
        return replicated(fn, self.how, self.map_batch)

    def _replica_values(self, key: str, default: float) -> np.ndarray:
        return np.asarray([r.get(key, default) for r in self.replicas], np.float32)

    def apply(self, params, x):
        """Model and readout: ``x [B, T, D] -> y [B, T, O]``."""
        return tasks.readout(params["readout"], self.model.apply(params["model"], x))

    # ------------------------------------------------------------------ init

    def hyperparams(self) -> dict[str, np.ndarray]:
        """Each replica's injected hyper-parameters, ``{name: [R]}``."""
        c = self.config
        return {
            "learning_rate": self._replica_values("optim.learning_rate", c.optim.learning_rate),
            "clip_value": self._replica_values("optim.clip_value", c.optim.clip_value),
            "weight_decay": self._replica_values("optim.weight_decay", c.optim.weight_decay),
        }

    def set_hyperparams(self, state):
        """``state`` with the configured hyper-parameters, e.g. after restoring a run whose
        config was changed on purpose (``train.allow_config_change``); unchanged otherwise."""

        def replace(opt_state, hp):
            return jax.vmap(lambda o, h: optim_lib.with_hyperparams(o, **h))(opt_state, hp)

        opt_state = jax.jit(replace, out_shardings=self._out(1))(state["opt_state"], self.hyperparams())
        return {**state, "opt_state": opt_state}

    def init(self):
        """The initial state of all replicas, laid out on the mesh."""
        c = self.config
        seeds = np.asarray([r["seed"] for r in self.replicas], np.uint32)
        hp = self.hyperparams()
        # forget_bias only changes the initial parameters: one init per distinct value.
        biases = [r.get("model.options.forget_bias") for r in self.replicas]
        distinct = sorted({b for b in biases if b is not None})
        group = np.asarray([distinct.index(b) if b is not None else 0 for b in biases], np.int32)
        init_models = [config_lib.make_model(c, forget_bias=b) for b in distinct] or [self.model]

        def init_all(seeds, group, hp):
            def one(seed, group, hp):
                root = jax.random.key(seed)
                k_model, k_readout = jax.random.split(jax.random.fold_in(root, INIT))
                x = jnp.zeros((1, self.task.seq_len, self.task.input_dim), jnp.float32)
                variants = [m.init(k_model, x) for m in init_models]
                model_params = jax.tree.map(lambda *v: jnp.stack(v)[group], *variants)
                if self.flossing is not None:  # flossing before training
                    model_params = self.flossing.pretrain(model_params, jax.random.fold_in(root, flossing_lib.FLOSS))
                params = {
                    "model": model_params,
                    "readout": tasks.init_readout(k_readout, c.model.hidden_size, self.task.output_dim),
                }
                opt_state = optim_lib.with_hyperparams(self.tx.init(params), **hp)
                return {
                    "step": jnp.zeros((), jnp.int32),
                    "key": jax.random.key_data(root),
                    "params": params,
                    "opt_state": opt_state,
                }

            return jax.vmap(one)(seeds, group, hp)

        return jax.jit(init_all, out_shardings=self._out(1))(seeds, group, hp)

    def abstract_state(self):
        """Shapes, dtypes and shardings of the state, without computing it."""
        state = jax.eval_shape(self.init)
        if self._state_sharding is not None:
            state = jax.tree.map(
                lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=self._state_sharding), state
            )
        return state

    # ------------------------------------------------------------------ training

    def update(self, state, batch):
        """One optimizer step of one replica: ``(state, batch) -> (state, metrics)``.

        ``metrics`` (scalars) are read from what the update did (`optim.applied`):
        loss, grad_norm (pre-clip ‖g‖₂), clipped (0/1), learning_rate (applied: 0 for a
        skipped update), nonfinite (0/1: loss or gradient not finite, or the update skipped).
        """
        inputs, targets, mask = batch
        params, opt_state = state["params"], state["opt_state"]

        def loss_fn(p):
            return self.task.loss(self.apply(p, inputs), targets, mask)

        if self.flossing is None:
            loss, grads = jax.value_and_grad(loss_fn)(params)
            extra = {}
        else:  # + weight·Σλ² every train.flossing.every steps (seqgrad.train.flossing)
            (loss, extra), grads = self.flossing.value_and_grad(loss_fn, params, inputs, state["step"])
        updates, opt_state = self.tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        done = optim_lib.applied(opt_state)
        metrics = {
            "loss": loss,
            "grad_norm": done["grad_norm"],
            "clipped": done["clipped"],
            "nonfinite": done["skipped"] | ~(jnp.isfinite(loss) & jnp.isfinite(done["grad_norm"])),
            "learning_rate": done["learning_rate"],
            **extra,
        }
        new = {"step": state["step"] + 1, "key": state["key"], "params": params, "opt_state": opt_state}
        return new, metrics

    def batch(self, key_data, step):
        """The training batch of one replica at ``step``: a pure function of (seed, step)."""
        key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(key_data), DATA), step)
        return self.task.batch(key, self.config.train.batch_size)

    def batches(self, state):
        """The training batches ``[R, B, ...]`` of the current step of every replica."""
        batch = jax.vmap(self.batch)(state["key"], state["step"])
        if self._batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, self._batch_sharding)
        return batch

    def _train_chunk(self, state, length: int):
        if self.how == "vmap":
            # One scan over steps of the vectorised step: batches laid out [R, B, ...] on the mesh.
            def body(state, _):
                return jax.vmap(self.update)(state, self.batches(state))

            return jax.lax.scan(body, state, None, length=length)

        # map: each replica runs its whole chunk as a single run would, one after the other
        # (``replica_batch_size`` at a time), inside the one program.
        def one(state):
            def body(s, _):
                return self.update(s, self.batch(s["key"], s["step"]))

            return jax.lax.scan(body, state, None, length=length)

        state, metrics = replicated(one, "map", self.map_batch)(state)
        return state, jax.tree.map(lambda m: jnp.swapaxes(m, 0, 1), metrics)

    def train_chunk(self, state, length: int):
        """``length`` steps in one call: ``(state, metrics)`` with metrics ``[length, R]``.

        The input state's buffers are donated.
        """
        return self._chunk(state, length)

    # ------------------------------------------------------------------ evaluation

    def _evaluate(self, params, keys):
        c, task = self.config, self.task
        num = 1 if task.eval_is_fixed else c.eval.num_batches

        def one(params, key_data):
            key = jax.random.fold_in(jax.random.wrap_key_data(key_data), EVAL)

            def batch_metrics(i):
                inputs, targets, mask = task.eval_batch(jax.random.fold_in(key, i), c.eval.batch_size)
                return task.metrics(self.apply(params, inputs), targets, mask)

            return jax.tree.map(lambda m: jnp.mean(m, axis=0), jax.lax.map(batch_metrics, jnp.arange(num)))

        return self._replicate(one)(params, keys)

    def evaluate(self, state) -> dict[str, jax.Array]:
        """Metrics on fresh evaluation batches (held-out data): ``{"loss": [R], <metric>: [R]}``."""
        return self._eval(state["params"], state["key"])

    # ------------------------------------------------------------------ gradient-flow snapshot

    @functools.cached_property
    def _snapshot(self):
        from seqgrad.train.snapshot import make_snapshot  # the diagnostics are only needed here

        return make_snapshot(self.model, self.task, SNAPSHOT, mesh=self.mesh, batch_size=self.map_batch)

    def snapshot(self, state) -> jax.Array:
        """``[R, T]``: ‖∂h_{T-1}/∂h_{T-1-d}‖₂ for d = 0 … T-1 at the current parameters,
        computed on the devices that hold each replica (`seqgrad.train.snapshot`)."""
        return self._snapshot(state["params"], state["key"])
