"""The artifact store: keys cover the full config, hits never rebuild, interrupted writes are never trusted."""

import json
import subprocess
import sys
import textwrap

import pytest

from raml_utils.cache import RECIPE_VERSIONS, Store, atomic_dir, config_hash, write_json_atomic


def test_hash_depends_on_kind_config_and_recipe_version(monkeypatch):
    base = config_hash("model", {"lr": 1e-3, "steps": 10})
    assert base == config_hash("model", {"steps": 10, "lr": 1e-3})  # key order does not matter
    assert base != config_hash("model", {"lr": 1e-3, "steps": 11})
    assert base != config_hash("samples", {"lr": 1e-3, "steps": 10})
    monkeypatch.setitem(RECIPE_VERSIONS, "model", RECIPE_VERSIONS["model"] + 1)
    assert base != config_hash("model", {"lr": 1e-3, "steps": 10})


def test_hash_depends_on_library_versions(monkeypatch):
    import raml_utils.cache as cache

    base = config_hash("model", {"a": 1})
    monkeypatch.setattr(cache, "library_versions", lambda: {"torch": "0.0", "transformers": "0", "trl": "0"})
    assert config_hash("model", {"a": 1}) != base


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="kind='weights' is not an artifact kind; allowed: model, samples"):
        config_hash("weights", {})


def test_get_or_make_builds_once_then_hits(tmp_path):
    store, calls = Store(tmp_path), []

    def make(tmp):
        calls.append(tmp)
        (tmp / "x.txt").write_text("made")

    first = store.get_or_make("samples", {"q": 1}, make)
    second = store.get_or_make("samples", {"q": 1}, make)
    assert first == second and len(calls) == 1
    assert (first / "x.txt").read_text() == "made"
    assert json.loads((first / "artifact.json").read_text())["config"] == {"q": 1}


def test_failed_build_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path)

    def make(tmp):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.get_or_make("samples", {"q": 2}, make)
    assert not store.has("samples", {"q": 2})
    assert list((tmp_path / "samples").iterdir()) == []


def test_a_killed_process_leaves_no_artifact_a_rerun_would_trust(tmp_path):
    # The process dies (no exception handlers run) in the middle of writing an artifact.
    script = textwrap.dedent(f"""
        import os
        from raml_utils.cache import Store
        def make(tmp):
            (tmp / "weights.bin").write_bytes(b"half")
            os._exit(9)
        Store({str(tmp_path)!r}).get_or_make("model", {{"job": 1}}, make)
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    store = Store(tmp_path)
    assert not store.has("model", {"job": 1})  # the temp dir is not the artifact
    path = store.get_or_make("model", {"job": 1}, lambda tmp: (tmp / "weights.bin").write_bytes(b"full"))
    assert (path / "weights.bin").read_bytes() == b"full"


def test_atomic_dir_and_json(tmp_path):
    with atomic_dir(tmp_path / "a") as tmp:
        (tmp / "f").write_text("1")
        assert not (tmp_path / "a").exists()
    assert (tmp_path / "a" / "f").read_text() == "1"
    write_json_atomic(tmp_path / "m.json", {"b": (1, 2)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
