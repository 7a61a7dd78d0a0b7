"""The download cap holds across processes, frees a dead holder's slot and rejects a bad limit."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from radiogenomics_assets.sources.download_slots import download_slot


def _hold_slot(slots_dir: str, limit: int, seconds: float, ready) -> None:
    with download_slot(Path(slots_dir), limit, what="child", log=lambda _line: None):
        ready.set()
        time.sleep(seconds)


def test_a_slot_held_by_another_process_makes_this_one_wait(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=_hold_slot, args=(str(tmp_path), 1, 1.0, ready))
    child.start()
    try:
        assert ready.wait(60), "the child never took its slot"
        lines: list[str] = []
        started = time.monotonic()
        with download_slot(tmp_path, 1, what="series 1.2.3", log=lines.append, poll_s=0.05):
            waited = time.monotonic() - started
    finally:
        child.join(60)
    assert waited > 0.2
    assert lines[0] == "series 1.2.3: waiting, 1 series download(s) already in flight"
    assert lines[1].startswith("series 1.2.3: download slot free after")


def test_a_second_slot_is_taken_without_waiting(tmp_path: Path) -> None:
    lines: list[str] = []
    with (
        download_slot(tmp_path, 2, what="a", log=lines.append) as first,
        download_slot(tmp_path, 2, what="b", log=lines.append) as second,
    ):
        assert {first, second} == {0, 1}
    assert lines == []


def test_a_killed_holder_releases_its_slot(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=_hold_slot, args=(str(tmp_path), 1, 600.0, ready))
    child.start()
    assert ready.wait(60), "the child never took its slot"
    child.kill()
    child.join(60)
    with download_slot(tmp_path, 1, what="after", log=lambda _line: None) as slot:
        assert slot == 0


def test_a_limit_below_one_is_refused(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="download limit must be >= 1, got 0"),
        download_slot(tmp_path, 0, what="x", log=print),
    ):
        pass
