"""`seqgrad.report.progress.run_all`: results in input order, every job reported, the first failure raised."""

from __future__ import annotations

import io
import threading
import time

import pytest

from seqgrad.report import progress


@pytest.mark.parametrize("workers", [1, 3])
def test_run_all_keeps_the_order_and_reports_every_job(workers):
    stream = io.StringIO()
    seen = set()

    def job(i):
        time.sleep(0.01 * (5 - i))  # later items finish first
        seen.add(threading.current_thread().name)
        return i * i

    assert progress.run_all(range(5), job, workers=workers, desc="jobs", stream=stream) == [0, 1, 4, 9, 16]
    text = stream.getvalue()
    assert text.count(" done in ") == 5 and "jobs [5/5]" in text
    assert (len(seen) > 1) == (workers > 1)  # threads only when asked for


def test_run_all_raises_the_first_failure_and_cancels_the_rest():
    started = []

    def job(i):
        started.append(i)
        if i == 0:
            raise ValueError("entry 0 is bad")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError, match="entry 0 is bad"):
        progress.run_all(range(50), job, workers=2, desc="jobs", stream=io.StringIO())
    time.sleep(0.2)
    assert len(started) < 50  # pending jobs were cancelled
