"""`seqgrad.jsonio`: one NaN rule (JSON null, reasons beside), atomic writes, tolerant readers."""

from __future__ import annotations

import json
import math
import os

import jax.numpy as jnp
import numpy as np
import pytest

from seqgrad import jsonio


def test_nonfinite_numbers_become_null_everywhere_and_arrays_become_lists():
    obj = {"a": math.nan, "b": (np.float32(2.5), -math.inf), "c": np.array([1.0, np.inf]), "d": jnp.array(3),
           "e": {"f": [np.int64(4), None, True, "x"]}}
    out = jsonio.jsonable(obj)
    assert out == {"a": None, "b": [2.5, None], "c": [1.0, None], "d": 3, "e": {"f": [4, None, True, "x"]}}
    json.dumps(out, allow_nan=False)  # strict JSON


def test_reasons_name_every_nonfinite_value_by_its_dotted_path():
    row = {"loss": np.float32("nan"), "eval": {"mse": math.inf}, "replicas": {"loss": [1.0, -math.inf]}, "ok": 1.0}
    out = jsonio.with_reasons(row)
    assert out["nonfinite_values"] == {"loss": "nan", "eval.mse": "inf", "replicas.loss.1": "-inf"}
    assert out["loss"] is None and out["eval"]["mse"] is None and out["ok"] == 1.0
    assert "nonfinite_values" not in jsonio.with_reasons({"ok": 1.0})


def test_write_json_is_atomic_and_strict(tmp_path, monkeypatch):
    path = str(tmp_path / "sub" / "r.json")
    jsonio.write_json(path, {"x": math.nan, "y": np.arange(3)})
    assert json.loads(open(path).read()) == {"x": None, "y": [0, 1, 2]}

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        jsonio.write_json(path, {"x": 2})
    assert json.loads(open(path).read())["x"] is None  # the old file is intact
    assert os.listdir(tmp_path / "sub") == ["r.json"]  # no temporary file left


def test_readers_tolerate_absent_and_torn_files(tmp_path):
    assert jsonio.read_json(str(tmp_path / "none.json")) is None
    (tmp_path / "torn.json").write_text('{"a": ')
    assert jsonio.read_json(str(tmp_path / "torn.json")) is None
    (tmp_path / "m.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"st')
    assert jsonio.read_jsonl(str(tmp_path / "m.jsonl")) == [{"step": 1}, {"step": 2}]
    assert jsonio.dumps_line({"v": math.inf}) == '{"v": null}'
