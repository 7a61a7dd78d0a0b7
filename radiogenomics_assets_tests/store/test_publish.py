"""Staging and content-addressed publishing in the file store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from radiogenomics_assets.store.files import FileStore
from radiogenomics_assets.store.publish import (
    digest_of_files,
    stage_file,
    stage_folder,
    staging_file,
    staging_folder,
)


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_file_publishes_under_its_sha256_and_prunes_only_after(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with staging_file(store, "raw", "labels") as staging:
        staging.write_bytes(b"a,b\n1,2\n")
        first = stage_file(store, staging, ".csv", origin="/home/me/labels.csv")
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert first.relpath == f"raw/labels/{digest}.csv" and first.origin == "/home/me/labels.csv"
    assert not first.final.exists()  # nothing visible before the publish
    first.publish()
    assert first.final.read_bytes() == b"a,b\n1,2\n" and not staging.exists()

    with staging_file(store, "raw", "labels") as staging:
        staging.write_bytes(b"a,b\n1,3\n")
        second = stage_file(store, staging, ".csv")
    second.publish()
    assert _visible(first.final.parent) == sorted([first.final.name, second.final.name])
    assert second.prune_superseded() == [first.final]
    assert _visible(first.final.parent) == [second.final.name]


def test_publishing_content_already_there_keeps_the_published_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    staged = []
    for _ in range(2):
        with staging_file(store, "raw", "labels") as staging:
            staging.write_bytes(b"same")
            staged.append(stage_file(store, staging, ".csv"))
        if len(staged) == 1:
            staged[0].publish()
            inode = staged[0].final.stat().st_ino
    staged[1].publish()
    assert staged[1].final.stat().st_ino == inode
    assert sorted(p.name for p in staged[0].final.parent.iterdir()) == [staged[0].final.name]


def test_a_failed_fetch_leaves_no_staging_and_no_new_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(RuntimeError, match="parse failed"), staging_file(store, "raw", "x") as s:
        s.write_bytes(b"half")
        raise RuntimeError("parse failed")
    assert not store.path("raw", "x").exists()

    with pytest.raises(RuntimeError), staging_folder(store, "raw", "ct", "P1", "1.2") as folder:
        (folder / "a.dcm").write_bytes(b"x")
        raise RuntimeError("verification failed")
    assert list(store.path("raw", "ct", "P1").iterdir()) == []


def test_leftovers_of_a_killed_run_are_cleared_by_the_next_staging(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    folder = store.path("raw", "labels")
    folder.mkdir(parents=True)
    for name in (".staging-dead", ".tmp-1-.staging-dead", ".fetch-2-.staging-dead", "kept.csv"):
        (folder / name).write_bytes(b"x")
    with staging_file(store, "raw", "labels") as staging:
        assert sorted(p.name for p in folder.iterdir()) == ["kept.csv"]
        staging.write_bytes(b"new")


def test_a_series_folder_is_named_by_its_files_names_and_contents(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with staging_folder(store, "raw", "ct", "P1", "1.2") as folder:
        (folder / "a.dcm").write_bytes(b"A")
        (folder / "b.dcm").write_bytes(b"B")
        sha256s = {name: hashlib.sha256(data).hexdigest() for name, data in [("a.dcm", b"A")]}
        with pytest.raises(ValueError, match="expected"):
            stage_folder(store, folder, sha256s)
        sha256s["b.dcm"] = hashlib.sha256(b"B").hexdigest()
        staged = stage_folder(store, folder, sha256s, origin="local series 1.2")
    assert staged.final.name == digest_of_files(sha256s)[:16]
    swapped = {"a.dcm": sha256s["b.dcm"], "b.dcm": sha256s["a.dcm"]}
    assert digest_of_files(swapped) != digest_of_files(sha256s)
    staged.publish()
    assert sorted(p.name for p in staged.final.iterdir()) == ["a.dcm", "b.dcm"]
    assert staged.bytes == 2 and staged.relpath == f"raw/ct/P1/1.2/{staged.final.name}"
