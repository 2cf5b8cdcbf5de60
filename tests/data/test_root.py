from pathlib import Path

import pytest

from gcnkit.data.root import (
    is_writable,
    resolve_cache_root,
    resolve_root,
    writable_dir,
)


def test_argument_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GCNKIT_DATA", str(tmp_path / "env"))
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_env_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GCNKIT_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    assert resolve_root() == tmp_path / "env"


def test_default_is_cwd_datasets(monkeypatch, tmp_path):
    monkeypatch.delenv("GCNKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_root() == tmp_path / "datasets"
    monkeypatch.setenv("GCNKIT_DATA", "")  # empty counts as unset
    assert resolve_root() == tmp_path / "datasets"


def test_relative_and_user_paths_become_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_root("x/y") == tmp_path / "x" / "y"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_root("~/d") == tmp_path / "home" / "d"


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GCNKIT_CACHE", str(tmp_path / "c"))
    assert resolve_cache_root() == tmp_path / "c"
    monkeypatch.delenv("GCNKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_root() == tmp_path / "xdg" / "gcnkit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resolve_cache_root() == Path("~/.cache/gcnkit").expanduser()


def test_read_only_detection_uses_mode_bits(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    assert is_writable(ro) and is_writable(ro / "not" / "yet")
    ro.chmod(0o555)
    try:  # read-only even when the tests run as root
        assert not is_writable(ro)
        assert not is_writable(ro / "sub" / "processed")
    finally:
        ro.chmod(0o755)


def test_writable_dir_falls_back_to_cache(monkeypatch, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setenv("GCNKIT_CACHE", str(tmp_path / "cache"))
    assert writable_dir(ro / "p", "sub/p") == ro / "p"
    ro.chmod(0o555)
    try:
        assert writable_dir(ro / "p", "sub/p") == tmp_path / "cache/sub/p"
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache").chmod(0o555)
        with pytest.raises(RuntimeError, match="GCNKIT_CACHE"):
            writable_dir(ro / "p", "sub/p")
    finally:
        ro.chmod(0o755)
        if (tmp_path / "cache").exists():
            (tmp_path / "cache").chmod(0o755)


def test_an_empty_root_argument_counts_as_none(monkeypatch, tmp_path):
    # --root "" (an unset shell variable) must not silently mean the current folder
    monkeypatch.setenv("GCNKIT_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    assert resolve_root("") == tmp_path / "env"
    monkeypatch.delenv("GCNKIT_DATA")
    assert resolve_root("") == tmp_path / "datasets"


def test_a_path_below_a_file_is_not_writable(tmp_path):
    # even an executable, writable file: nothing can be created below it
    f = tmp_path / "tool"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o755)
    assert not is_writable(f / "processed")
    assert not is_writable(f)


def test_a_folder_without_search_permission_is_not_writable(tmp_path, monkeypatch):
    # a folder of mode 0o666 for a user other than root: writable bits, but no file can be created
    # in it without search (x) permission; os.access stands in for that user (root passes it)
    import os

    monkeypatch.setattr(os, "access", lambda path, mode: not mode & os.X_OK)
    assert not is_writable(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    assert is_writable(tmp_path)
