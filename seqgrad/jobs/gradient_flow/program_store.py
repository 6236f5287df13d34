"""Traced programs kept on disk between runs of the main job: a rerun neither traces nor lowers them.

JAX's persistent compilation cache (``config.compilation_cache_dir``) lets a rerun skip XLA's
compilation, but its key is the lowered program, so a rerun still traces and lowers every
program to find it: on the 2-core CPU that was 23 s of the main job's 85 s warm analysis. A
`ProgramStore` keeps each entry's programs as `jax.export` modules (serialized StableHLO), keyed
by what fixes them *before* tracing:

* the environment (`environment`): every source file of the ``seqgrad`` package, the versions of
  Python, jax, jaxlib, flax and numpy, the backend, its devices and platform version, JAX's
  configuration values and ``XLA_FLAGS``;
* the job's config but for the keys only the summaries, the claims and the report read
  (`READ_AFTER_MEASURING`: a rerun with other plots or claim thresholds reuses the programs), and
  the programs' description (`describe`: the entry's name,
  architecture, options, site, initialisation, method and its model's ``repr``; from
  `compilation`: which programs and their arguments' shapes and dtypes).

A rerun deserializes the modules and lowers only the call of each (`lowered`), then compiles
through the persistent cache as before: the executables are XLA's own, looked up by the lowered
program. The first run lowers the same calls of the freshly exported modules, so the programs
compiled, and their results, are the same in both runs.

Change any part of the key and the key changes, so a stored module is never taken for another
program. Entries whose programs depend on anything else are not stored (`storable`): a trained
run (its weights are constants of its parameter program), a cell or module named by an import
string and a model whose class is defined outside ``seqgrad`` (their source is not in the key). A file that cannot be read is set aside
(``.unreadable``) with one warning and the programs traced again; programs that cannot be exported
are lowered as usual and not stored. Files are written atomically (a temporary file renamed into
place), so runs sharing a directory never read half a file. They are NumPy ``.npz`` archives of
bytes, read without pickle. They live in ``<compilation cache>/programs/``; a run of the main job
keeps about 4 MB there.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import tempfile
import threading
from collections.abc import Callable

import flax
import jax
import jaxlib
import numpy as np
from jax import export

_LOG = logging.getLogger(__name__)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # seqgrad/

Made = dict  # {name: (jitted function, abstract arguments)}

# Config keys that no traced program reads (the summaries, claims and report read them, or they say where
# files go and how many threads compile): left out of the key. tests/test_program_store.py lowers programs
# under other values of all of them and checks that the programs are the same.
READ_AFTER_MEASURING = ("plots", "claims", "regime", "shape", "horizon_threshold", "decay_min_distance",
                        "underflow_margin_decades", "fixed_distances", "float64_recheck", "workers",
                        "compilation_cache_dir", "timing")


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """sha256 over the relative path and bytes of every ``.py`` file of the seqgrad package."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, _PACKAGE).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()


def environment() -> dict:
    """What every stored program depends on besides its own description (see the module docstring)."""
    devices = jax.devices()
    return {
        "source": _source_digest(),
        "versions": [platform.python_version(), jax.__version__, jaxlib.__version__, flax.__version__, np.__version__],
        "backend": [jax.default_backend(), devices[0].client.platform_version, devices[0].device_kind, len(devices)],
        "jax_config": sorted((k, repr(v)) for k, v in jax.config.values.items()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def storable(entry) -> bool:
    """Whether ``entry``'s programs are fixed by the key: no trained run, and one of seqgrad's own
    architectures: not a cell or module named by an import string (``"nnx:pkg.mod:Cell"``, ``"flax:..."``,
    ``"eqx:..."``, ``"pkg.mod:Name"``, wrapped by seqgrad but defined elsewhere) and a model class of seqgrad."""
    return (getattr(entry, "trained", None) is None and ":" not in entry.arch
            and type(entry.model).__module__.startswith("seqgrad."))


def describe(entry) -> list:
    """The fields of an `entries.Entry` that its programs depend on, as text."""
    return [entry.name, entry.arch, sorted((k, repr(v)) for k, v in dict(entry.options).items()), entry.site,
            entry.init, entry.modules, entry.method, repr(entry.model)]


def _call_lowered(exported: export.Exported) -> jax.stages.Lowered:
    """The lowered call of an exported module on its own abstract arguments."""
    args, kwargs = jax.tree.unflatten(exported.in_tree, [jax.ShapeDtypeStruct(a.shape, a.dtype)
                                                          for a in exported.in_avals])
    return jax.jit(exported.call).lower(*args, **kwargs)


class ProgramStore:
    """Exported programs on disk under ``directory``, keyed by `key`; thread-safe. ``loaded`` and
    ``stored`` count the bundles read and written."""

    def __init__(self, directory: str, config):
        self.directory = directory
        kept = {k: v for k, v in config.to_dict().items() if k not in READ_AFTER_MEASURING}
        self._config = json.dumps(kept, sort_keys=True, default=repr)
        self._lock = threading.Lock()
        self.loaded = self.stored = 0

    def key(self, description) -> str:
        """sha256 of the `environment`, the config (but `READ_AFTER_MEASURING`) and ``description`` (a JSON-able
        list)."""
        text = json.dumps([environment(), self._config, description], sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, description) -> str:
        key = self.key(description)
        return os.path.join(self.directory, key[:2], key + ".npz")

    def lowered(self, description, make: Callable[[], Made]) -> dict[str, jax.stages.Lowered]:
        """``{name: lowered program}``: the modules stored under ``description``, else those of ``make()``
        (``{name: (jitted function, abstract arguments)}``) exported, stored, and lowered the same way."""
        path = self.path(description)
        exported = self._load(path)
        if exported is None:
            made = make()
            try:
                exported = {name: export.export(fn)(*args) for name, (fn, args) in made.items()}
                blobs = {name: exp.serialize() for name, exp in exported.items()}
            except Exception:  # noqa: BLE001 — a program JAX cannot export: lowered as usual, not stored
                return {name: fn.lower(*args) for name, (fn, args) in made.items()}
            self._save(path, blobs)
        return {name: _call_lowered(exp) for name, exp in exported.items()}

    def _load(self, path: str) -> dict[str, export.Exported] | None:
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                exported = {name: export.deserialize(bytearray(archive[name].tobytes())) for name in archive.files}
        except Exception as err:  # noqa: BLE001 — damaged or from elsewhere: set aside, traced again
            os.replace(path, path + ".unreadable")
            _LOG.warning("stored programs %s could not be read (%s); tracing them again", path, type(err).__name__)
            return None
        with self._lock:
            self.loaded += 1
        return exported

    def _save(self, path: str, blobs: dict[str, bytes]) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{name: np.frombuffer(blob, np.uint8) for name, blob in blobs.items()})
            os.replace(tmp, path)
        except OSError as err:  # a full or read-only disk: the run goes on, nothing stored
            if os.path.exists(tmp):
                os.remove(tmp)
            _LOG.warning("programs not stored in %s (%s)", path, err)
            return
        with self._lock:
            self.stored += 1
