"""The header cache: a rescan reads only changed files, and never answers differently.

Each test copies the small demo cohort's DICOM tree, then scans it with a cache folder, counting
the headers actually read (the real reader, wrapped).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from radiogenomics_assets.sources import dicom_tree
from radiogenomics_assets.sources.header_cache import HeaderCache
from radiogenomics_assets.sources.local import LocalSource


@pytest.fixture
def tree(tmp_path: Path, small_cohort) -> Path:
    root = tmp_path / "dicom"
    shutil.copytree(small_cohort.dicom_root, root)
    return root


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the files whose header a scan reads."""
    names: list[str] = []
    real = dicom_tree.inspect_dicom_file

    def counted(path, *, name=None, check_pixels=True):
        names.append(name)
        return real(path, name=name, check_pixels=check_pixels)

    monkeypatch.setattr(dicom_tree, "inspect_dicom_file", counted)
    return names


def _source(root: Path, cache: Path | None) -> LocalSource:
    return LocalSource(root, root / "none.csv", root / "none.txt", header_cache=cache)


def _manifest(source: LocalSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    listed = source.imaging_manifest(lambda _line: None)
    refused = pd.DataFrame([vars(r) for r in listed.rejections])
    return listed.frame, refused


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_a_rescan_reads_no_header_and_lists_the_same(tree, tmp_path, reads) -> None:
    (tree / "notes.txt").write_text("not DICOM")  # a refusal is kept too
    uncached = _manifest(_source(tree, None))
    reads.clear()
    cached = _source(tree, tmp_path / "cache")

    first = _manifest(cached)
    assert len(reads) == len(_files(tree))
    reads.clear()
    second = _manifest(cached)

    assert reads == []
    for listed in (first, second):
        pd.testing.assert_frame_equal(listed[0], uncached[0])
        pd.testing.assert_frame_equal(listed[1], uncached[1])


def test_a_rewritten_file_is_read_again(tree, tmp_path, reads) -> None:
    source = _source(tree, tmp_path / "cache")
    _manifest(source)
    seg = next(p for p in _files(tree) if pydicom.dcmread(p).Modality == "SEG")
    dataset = pydicom.dcmread(seg)
    dataset.SeriesDescription = "corrected segmentation"
    dataset.save_as(seg)
    reads.clear()

    frame, _ = _manifest(source)

    assert reads == [seg.relative_to(tree).as_posix()]
    described = frame.set_index("series_uid")["series_description"]
    assert described[dataset.SeriesInstanceUID] == "corrected segmentation"


def test_a_file_replaced_with_the_same_size_and_time_is_read_again(tree, tmp_path, reads) -> None:
    source = _source(tree, tmp_path / "cache")
    _manifest(source)
    first, second = [p for p in _files(tree) if p.suffix == ".dcm"][:2]
    stat = first.stat()
    replacement = first.with_suffix(".new")
    shutil.copyfile(first, replacement)  # same bytes, new inode
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, first)
    reads.clear()

    _manifest(source)

    assert reads == [first.relative_to(tree).as_posix()]
    assert second.relative_to(tree).as_posix() not in reads


def test_a_patient_scan_shares_the_cache_of_the_whole_tree(tree, tmp_path, reads) -> None:
    source = _source(tree, tmp_path / "cache")
    _manifest(source)
    patient = sorted(p.name for p in tree.iterdir() if p.is_dir())[0]
    reads.clear()

    rows = source.patient_series(patient, lambda _line: None)

    assert reads == []
    assert set(rows["patient_id"]) == {patient}


def test_files_gone_from_the_tree_leave_the_cache(tree, tmp_path) -> None:
    cache = HeaderCache(tmp_path / "cache")
    source = _source(tree, tmp_path / "cache")
    _manifest(source)
    gone = sorted(p for p in tree.iterdir() if p.is_dir())[0]
    shutil.rmtree(gone)

    _manifest(source)

    with closing(sqlite3.connect(cache.path)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM headers")]
    assert names and not any(name.startswith(f"{gone.name}/") for name in names)
    assert len(names) == len(_files(tree))


def test_a_cache_that_is_not_a_database_is_rebuilt(tree, tmp_path, reads) -> None:
    folder = tmp_path / "cache"
    source = _source(tree, folder)
    expected = _manifest(source)
    (cache_file,) = folder.glob("headers-*.sqlite")
    cache_file.write_bytes(b"\x00garbage" * 100)

    listed = _manifest(source)

    pd.testing.assert_frame_equal(listed[0], expected[0])
    reads.clear()
    _manifest(source)
    assert reads == []


def test_a_cache_of_another_reader_is_removed_not_read(tree, tmp_path, reads) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    other = folder / "headers-0000000000000000.sqlite"
    other.write_bytes(b"an older reader's outcomes")

    _manifest(_source(tree, folder))

    assert not other.exists()
    assert len(reads) == len(_files(tree))
