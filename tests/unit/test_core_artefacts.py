"""``core.artefacts``: atomic safetensors + meta.json folders, name validation, overwrite, fingerprint
check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import core.artefacts as A
from core.errors import InputError, StoreError
from core.steer.vectors import ANY, load_vector


def _write(root: Path, name: str = "thing", value: float = 1.0, **kw) -> Path:
    return A.write_artefact(
        root,
        name,
        {"w": np.full(3, value, np.float32)},
        {"kind": "probe_set", "model_fingerprint": "fpA", "model_name": "model-A"},
        **kw,
    )


def test_round_trip_writes_only_the_two_files(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    assert folder == tmp_path / "thing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]  # no temp folder left
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "weights.safetensors"]
    tensors, meta = A.read_artefact(folder)
    assert np.allclose(tensors["w"], 1.0) and meta["model_fingerprint"] == "fpA"
    assert meta["format_version"] == A.FORMAT_VERSION and meta["created_at"] > 0


def _boom(*args, **kwargs):
    raise RuntimeError("disk on fire")


def test_failed_write_leaves_no_temp_and_keeps_the_old_artefact(tmp_path: Path, monkeypatch) -> None:
    _write(tmp_path, value=1.0)
    monkeypatch.setattr("core.fsio.safetensors_save", _boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _write(tmp_path, value=2.0, overwrite=True)
    with pytest.raises(RuntimeError):
        _write(tmp_path, "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]
    assert np.allclose(A.read_artefact(tmp_path / "thing")[0]["w"], 1.0)


def test_os_error_becomes_a_store_error_without_temp(tmp_path: Path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.fsio._write_all", full)
    with pytest.raises(StoreError, match="no space left .*MB free.*REASONSCOPE_HOME"):
        _write(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_is_refused_unless_asked(tmp_path: Path) -> None:
    _write(tmp_path, value=1.0)
    with pytest.raises(InputError, match="already exists"):
        _write(tmp_path, value=2.0)
    _write(tmp_path, value=2.0, overwrite=True)
    assert np.allclose(A.read_artefact(tmp_path / "thing")[0]["w"], 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]


@pytest.mark.parametrize(
    "name",
    ["..", ".", "../escape", "a/b", "/abs/path", "/", "a\x00b", "", ".hidden", "x" * 101, "sp ace", "a\\b"],
)
def test_bad_names_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="not allowed"):
        _write(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_good_names_and_symlink_escape(tmp_path: Path) -> None:
    for name in ("probe-1", "v1.2_final", "x" * 100, "-dash"):
        assert A.check_name(name) == name
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(InputError, match="outside"):
        _write(root, "link", overwrite=True)


def test_fingerprint_mismatch_names_both_models_and_the_fix(tmp_path: Path) -> None:
    _write(A.kind_dir("probe_set", tmp_path))
    folder, _, meta = A.load_artefact("thing", "probe_set", root=tmp_path, fingerprint="fpA")
    assert folder.name == "thing" and meta["model_name"] == "model-A"
    A.load_artefact("thing", "probe_set", root=tmp_path)  # no fingerprint given: no check
    with pytest.raises(
        A.ArtefactModelMismatch,
        match=r"Probe 'thing' was made with model 'model-A' \(fingerprint fpA\).*'model-B' "
        r"\(fingerprint fpB\)\. Switch to the model it was made with",
    ):
        A.load_artefact(
            "thing", "probe_set", root=tmp_path, fingerprint="fpB", model_name="model-B", what="Probe"
        )


def test_unknown_or_invalid_names_are_not_found(tmp_path: Path) -> None:
    for name in ("missing", "../thing", "a\x00b"):
        with pytest.raises(InputError, match="No saved probe set named"):
            A.locate(name, "probe_set", tmp_path)


def test_tensor_file_is_atomic(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "sub" / "v.safetensors"
    A.write_tensor_file(path, {"x": np.ones(2, np.float32)}, metadata={"k": "v"})
    monkeypatch.setattr("core.fsio.safetensors_save", _boom)
    with pytest.raises(RuntimeError):
        A.write_tensor_file(path, {"x": np.zeros(2, np.float32)})
    assert [p.name for p in path.parent.iterdir()] == ["v.safetensors"]


def test_a_vector_saved_by_the_old_code_still_loads(tmp_path: Path) -> None:
    """The on-disk format is unchanged: weights.safetensors (layer{i} / vector tensors) + meta.json."""
    folder = tmp_path / "steering_vectors" / "old-vec"
    folder.mkdir(parents=True)
    save_file(
        {"layer3": np.ones(4, np.float32), "vector": np.full(4, 2.0, np.float32)},
        str(folder / "weights.safetensors"),
    )
    (folder / "meta.json").write_text(
        json.dumps(
            {
                "format_version": 1,
                "created_at": 1.0,
                "kind": "steering_vector",
                "method": "diff_means",
                "model_fingerprint": "fpA",
                "model_name": "m",
                "default_layer": 3,
                "vector_name": "refusal",
                "summary": "diff_means · layers [3]",
            }
        )
    )
    sv = load_vector("old-vec", fingerprint="fpA", root=tmp_path)
    assert sv.name == "refusal" and sv.default_layer == 3 and sv.source == "diff_means"
    assert sorted(sv.directions) == [ANY, 3] and np.allclose(sv.at(ANY), 2.0)
    assert [a.name for a in A.list_artefacts(tmp_path, "steering_vector")] == ["old-vec"]
