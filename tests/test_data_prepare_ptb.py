"""Tests for tfvae.data.prepare_ptb: extraction and md5 verification (no download)."""

import hashlib
import io
import os
import pathlib
import tarfile

import pytest

from tfvae.data import DataError
from tfvae.data import prepare_ptb

CONTENT = {
  "ptb.train.txt": b" the cat sat \n a dog <unk> \n",
  "ptb.valid.txt": b" the dog \n",
  "ptb.test.txt": b" a cat \n",
}
_SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
DATA_DIR = os.environ.get("TFVAE_DATA_DIR") or (str(_SHARED) if _SHARED.is_dir() else None)
needs_data = pytest.mark.skipif(DATA_DIR is None, reason="no TFVAE_DATA_DIR and no shared data")

MD5 = {name: hashlib.md5(data).hexdigest() for name, data in CONTENT.items()}


def _tarball(path, content=CONTENT, prefix="./simple-examples/data/"):
  with tarfile.open(path, "w:gz") as tar:
    for name, data in content.items():
      info = tarfile.TarInfo(prefix + name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
    extra = tarfile.TarInfo("./simple-examples/README")
    tar.addfile(extra, io.BytesIO(b""))
  return str(path)


def test_extracts_and_verifies(tmp_path):
  tarball = _tarball(tmp_path / "simple-examples.tgz")
  written = prepare_ptb.extract_ptb(tarball, str(tmp_path / "data"), md5s=MD5)
  assert sorted(os.path.basename(p) for p in written) == sorted(CONTENT)
  for name, data in CONTENT.items():
    assert (tmp_path / "data" / "ptb" / name).read_bytes() == data
  assert prepare_ptb.ptb_present(str(tmp_path / "data"), MD5)
  assert not prepare_ptb.ptb_present(str(tmp_path / "data"))  # real md5s differ


def test_bad_md5_writes_nothing(tmp_path):
  tarball = _tarball(tmp_path / "t.tgz", {**CONTENT, "ptb.test.txt": b"tampered\n"})
  with pytest.raises(DataError, match="md5"):
    prepare_ptb.extract_ptb(tarball, str(tmp_path / "data"), md5s=MD5)
  assert not (tmp_path / "data" / "ptb").exists()


def test_missing_member_and_bad_archive(tmp_path):
  partial = {k: v for k, v in CONTENT.items() if k != "ptb.valid.txt"}
  with pytest.raises(DataError, match="ptb.valid.txt"):
    prepare_ptb.extract_ptb(_tarball(tmp_path / "p.tgz", partial), str(tmp_path), md5s=MD5)
  junk = tmp_path / "junk.tgz"
  junk.write_bytes(b"this is not a tarball")
  with pytest.raises(DataError, match="Cannot read"):
    prepare_ptb.extract_ptb(str(junk), str(tmp_path), md5s=MD5)


def test_main_with_local_tarball(tmp_path, monkeypatch):
  monkeypatch.setattr(prepare_ptb, "PTB_MD5", MD5)

  def no_download(url, dest):
    raise AssertionError("must not download when --tarball is given")

  monkeypatch.setattr(prepare_ptb, "download", no_download)
  tarball = _tarball(tmp_path / "s.tgz")
  out = tmp_path / "root"
  assert prepare_ptb.main(["--data_dir", str(out), "--tarball", tarball]) == 0
  assert (out / "ptb" / "ptb.valid.txt").read_bytes() == CONTENT["ptb.valid.txt"]
  # already present and verified: no tarball needed, nothing downloaded
  assert prepare_ptb.main(["--data_dir", str(out)]) == 0
  bad = _tarball(tmp_path / "bad.tgz", {**CONTENT, "ptb.train.txt": b"x\n"})
  assert prepare_ptb.main(["--data_dir", str(tmp_path / "other"), "--tarball", bad]) == 1


@needs_data
def test_md5s_match_the_real_corpus_files():
  for name, md5 in prepare_ptb.PTB_MD5.items():
    path = pathlib.Path(DATA_DIR) / "ptb" / name
    assert hashlib.md5(path.read_bytes()).hexdigest() == md5, path
  assert prepare_ptb.PTB_URL.endswith("simple-examples.tgz")
