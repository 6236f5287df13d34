"""The one JSON layer of seqgrad: every JSON file the project writes goes through here.

* `jsonable(obj)`: a plain-Python copy of ``obj`` that `json.dumps(..., allow_nan=False)`
  accepts. NumPy / JAX scalars and arrays become Python numbers and lists, tuples
  become lists, and every non-finite float (NaN, +inf, -inf) becomes JSON ``null``:
  strict JSON has no NaN, and one rule for every file means a reader tests
  ``value is None`` only.
* `nonfinite_reasons(obj)`: where a null must be explained (a metrics row, a result),
  ``{"dotted.path": "nan" | "inf" | "-inf"}`` for every non-finite number in ``obj``
  (list items as ``path.i``); writers store it next to the values under the key
  `REASONS` (``"nonfinite_values"``), and `with_reasons(obj)` does both.
* `write_json(path, obj)`: atomic: a temporary file in the same directory, fsync,
  then `os.replace`, so a reader (or a run killed mid-write) never sees a partial file.
  The file gets the mode an ordinary ``open(path, "w")`` would (0666 less the umask),
  not `tempfile.mkstemp`'s 0600: workdirs are shared between users and hosts.
* `write_text(path, text)`: the same atomic write for a text file (summaries).
* `dumps_line(obj)`: one compact JSON line (JSONL rows), sanitised the same way.
* `read_json(path)`, `read_jsonl(path)`: the tolerant readers (absent or torn -> None; the
  rows that are JSON objects, a torn or garbage line skipped with a warning naming it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["REASONS", "jsonable", "nonfinite_reasons", "with_reasons", "write_json", "write_text", "dumps_line",
           "read_json", "read_jsonl"]

REASONS = "nonfinite_values"  # key of {"dotted.path": "nan" | "inf" | "-inf"} beside the nulls


def _reason(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data; NaN and ±inf anywhere become ``None`` (JSON null)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy / jax scalars and arrays
        return jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return jsonable(obj.item())
    if hasattr(obj, "to_dict"):  # ml_collections.ConfigDict
        return jsonable(obj.to_dict())
    return str(obj)


def nonfinite_reasons(obj: Any, prefix: str = "") -> dict[str, str]:
    """``{"dotted.path": "nan" | "inf" | "-inf"}`` for every non-finite number inside ``obj``."""
    if hasattr(obj, "tolist") and not isinstance(obj, (list, tuple, Mapping)):
        obj = obj.tolist()
    if isinstance(obj, Mapping):
        items = [(str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(obj)]
    elif isinstance(obj, float) and not math.isfinite(obj):
        return {prefix: _reason(obj)}
    else:
        return {}
    out: dict[str, str] = {}
    for key, value in items:
        out.update(nonfinite_reasons(value, f"{prefix}.{key}" if prefix else key))
    return out


def with_reasons(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``jsonable(obj)`` plus, when some number was non-finite, ``obj[REASONS]`` naming each one."""
    reasons = nonfinite_reasons(obj)
    out = jsonable(obj)
    if reasons:
        out[REASONS] = reasons
    return out


def dumps_line(obj: Any) -> str:
    """One compact JSON line (no newline) of ``jsonable(obj)``."""
    return json.dumps(jsonable(obj), allow_nan=False)


def _atomic(path: str, write) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (read from /proc where it can be, without changing it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def write_json(path: str, obj: Any, *, indent: int = 2) -> None:
    """Writes ``jsonable(obj)`` to ``path`` atomically (temporary file + `os.replace`)."""
    data = json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n"
    _atomic(path, lambda f: f.write(data))


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically."""
    _atomic(path, lambda f: f.write(text))


def read_json(path: str) -> Any | None:
    """The parsed file, or None when it is absent or not (yet) valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_jsonl(path: str, bad: list[int] | None = None) -> list[dict]:
    """The rows of a JSONL file that are JSON objects.

    A torn or garbage line (a run killed mid-write, a disk error, an edit) is skipped
    with one warning naming the file and its line numbers, and the rows after it are
    kept; their 1-based line numbers are appended to ``bad`` when it is given."""
    if not os.path.exists(path):
        return []
    rows, skipped = [], []
    with open(path, errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                skipped.append(number)
    if skipped:
        log.warning("%s: line(s) %s are not JSON objects (truncated or garbage): skipped", path,
                    ", ".join(map(str, skipped)))
        if bad is not None:
            bad.extend(skipped)
    return rows
