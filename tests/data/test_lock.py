"""folder_lock: an exclusive advisory lock on a folder, or none where the folder cannot be written."""
import pytest

from gcnkit.data.lock import LOCK_NAME, FolderBusy, folder_lock


def test_the_lock_makes_missing_parent_folders_and_is_held(tmp_path):
    # a processed cache several folders below an existing one: the lock is taken, not skipped
    folder = tmp_path / "planetoid" / "Cora" / "processed"
    with folder_lock(folder) as held:
        assert held is True
        assert (folder / LOCK_NAME).is_file()
        with pytest.raises(FolderBusy, match="in use by another process"):
            with folder_lock(folder, wait=False):
                pass


def test_a_folder_that_cannot_be_made_runs_the_block_without_a_lock(tmp_path):
    # (chmod a-w does not stop root, so a folder below a file stands for an unwritable one)
    (tmp_path / "file").write_text("not a folder")
    ran = []
    with folder_lock(tmp_path / "file" / "sub") as held:
        ran.append(held)
    assert ran == [False]


def test_the_lock_is_released_after_the_block_even_on_an_error(tmp_path):
    with pytest.raises(KeyError):
        with folder_lock(tmp_path):
            raise KeyError("boom")
    with folder_lock(tmp_path, wait=False) as held:  # free again
        assert held is True


def test_a_read_only_folder_gets_no_lock_file_even_for_root(tmp_path):
    # root's open() succeeds in a chmod a-w folder: the lock file was written into a read-only cache
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with folder_lock(folder) as held:
            assert held is False
        assert not (folder / LOCK_NAME).exists()
    finally:
        folder.chmod(0o755)
