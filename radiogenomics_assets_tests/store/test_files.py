from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from radiogenomics_assets.store.files import FileStore, UnsafePathError


def test_write_records_path_size_and_sha256(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    stored = store.write_bytes(b"hello", "raw", "R01-001", "a.dcm")
    assert stored.path == tmp_path.resolve() / "raw" / "R01-001" / "a.dcm"
    assert stored.relpath == "raw/R01-001/a.dcm"
    assert stored.bytes == 5
    assert stored.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert store.describe("raw", "R01-001", "a.dcm") == stored


@pytest.mark.parametrize("part", ["..", ".", "a/b", "", ".hidden", "R01;DROP", "x y", "-rf"])
def test_unsafe_components_are_refused(tmp_path: Path, part: str) -> None:
    with pytest.raises(UnsafePathError, match="unsafe file-store path component"):
        FileStore(tmp_path).path("raw", part)


def test_failed_write_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.write_bytes(b"old", "f.bin")
    with pytest.raises(RuntimeError), store.atomic_path("f.bin") as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert store.path("f.bin").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_path_keeps_the_extension_for_format_sniffing_writers(tmp_path: Path) -> None:
    with FileStore(tmp_path).atomic_path("v.nii.gz") as temp:
        assert temp.name.endswith(".nii.gz")
        temp.write_bytes(b"x")


def test_the_temporary_file_of_a_killed_write_goes_with_the_next_write(tmp_path: Path) -> None:
    """A run killed mid-write leaves its hidden temporary file; the rerun's write of the same
    name removes it, and leaves another name's alone."""
    store = FileStore(tmp_path)
    folder = tmp_path / "p1"
    folder.mkdir()
    killed = folder / f".tmp-{'0123abcd' * 4}-ct.nii.gz"
    others = [folder / f".tmp-{'4567ef01' * 4}-{name}" for name in ("mask.nii.gz", "x-ct.nii.gz")]
    for path in (killed, *others):
        path.write_bytes(b"half")

    with store.atomic_path("p1", "ct.nii.gz") as temp:
        temp.write_bytes(b"whole")

    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(p.name for p in others), "ct.nii.gz"]
    )


def test_atomic_directory_publishes_only_complete_folders(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(RuntimeError), store.atomic_directory("series") as folder:
        (folder / "1.dcm").write_bytes(b"a")
        raise RuntimeError("connection dropped")
    assert not store.path("series").exists()
    assert list(tmp_path.iterdir()) == []
    with store.atomic_directory("series") as folder:
        (folder / "1.dcm").write_bytes(b"a")
    with store.atomic_directory("series") as folder:
        (folder / "2.dcm").write_bytes(b"b")
    assert sorted(p.name for p in store.path("series").iterdir()) == ["2.dcm"]
    assert [p.name for p in tmp_path.iterdir()] == ["series"]
