"""download_file / ensure_files: verified, atomic downloads (served here from file:// URLs)."""
import hashlib

import pytest

from gcnkit.data.checksum import ChecksumError
from gcnkit.data.download import download_file, ensure_files


def _served(tmp_path, name="ind.x.graph", payload=b"graph bytes" * 100):
    src = tmp_path / "server" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(payload)
    return src.as_uri(), hashlib.sha256(payload).hexdigest(), payload


def test_a_digest_is_compared_without_regard_to_case(tmp_path):
    # digests copied from a sha256sum listing or a web page may be upper-case
    url, digest, payload = _served(tmp_path)
    out = download_file(url, tmp_path / "raw" / "f", sha256=digest.upper())
    assert out.read_bytes() == payload
    with pytest.raises(ChecksumError, match="Checksum mismatch"):
        download_file(url, tmp_path / "raw" / "g", sha256="0" * 64)
    assert not (tmp_path / "raw" / "g").exists()


def test_a_mirror_with_the_wrong_bytes_is_skipped_for_the_next(tmp_path):
    good_url, digest, payload = _served(tmp_path, "good")
    bad_url, _, _ = _served(tmp_path, "bad", b"something else")
    raw = tmp_path / "raw"
    ensure_files(raw, {"f": [bad_url, good_url]}, {"f": digest}, dataset="test")
    assert (raw / "f").read_bytes() == payload
    with pytest.raises(ChecksumError, match="Checksum mismatch"):
        ensure_files(tmp_path / "raw2", {"f": [bad_url]}, {"f": digest}, dataset="test")
    assert not (tmp_path / "raw2").exists()  # no empty folder left behind
