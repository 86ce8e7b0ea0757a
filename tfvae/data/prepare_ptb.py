"""Fetches Mikolov's Penn Treebank files (METHODS.md D1) into a data directory.

    python -m tfvae.data.prepare_ptb --data_dir DIR [--tarball simple-examples.tgz]

downloads the "simple-examples" tarball of Mikolov's RNNLM toolkit (`PTB_URL`),
takes `simple-examples/data/ptb.{train,valid,test}.txt` out of it, checks each
against the md5 in `PTB_MD5` (the widely published sums, as in the project's
MD5SUMS) and only then writes `DIR/ptb/ptb.{train,valid,test}.txt`. With
`--tarball` a copy fetched elsewhere is used and nothing is downloaded. Files
already present with the right md5 are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request

from absl import logging

from tfvae.data.errors import DATA_DIR_ENV
from tfvae.data.errors import DataError

PTB_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
PTB_MD5 = {
  "ptb.train.txt": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
  "ptb.valid.txt": "aa0affc06ff7c36e977d7cd49e3839bf",
  "ptb.test.txt": "8b80168b89c18661a38ef683c0dc3721",
}
_MEMBER_DIR = "simple-examples/data"
_TIMEOUT_S = 60


def md5_of(data: bytes) -> str:
  return hashlib.md5(data).hexdigest()


def _file_md5(path: str) -> str:
  with open(path, "rb") as f:
    return md5_of(f.read())


def extract_ptb(tarball: str, data_dir: str, *, md5s: dict[str, str] | None = None) -> list[str]:
  """Writes the verified PTB files of `tarball` to `data_dir/ptb/`.

  Every file is read and checked before any is written, so a bad tarball leaves
  the data directory untouched.

  Returns:
    The paths written (or found already correct).
  Raises:
    DataError: the tarball is unreadable, lacks a file, or a file's md5 differs.
  """
  md5s = PTB_MD5 if md5s is None else md5s
  try:
    with tarfile.open(tarball, "r:*") as archive:
      contents = _verified_members(archive, tarball, md5s)
  except (OSError, tarfile.TarError) as e:
    raise DataError(f"Cannot read PTB tarball {tarball!r}: {e}.") from e
  out_dir = os.path.join(data_dir, "ptb")
  os.makedirs(out_dir, exist_ok=True)
  written = []
  for name, data in contents.items():
    path = os.path.join(out_dir, name)
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
    written.append(path)
    logging.info("wrote %s (%d bytes, md5 ok)", path, len(data))
  return written


def _verified_members(archive: tarfile.TarFile, tarball: str, md5s: dict[str, str]) -> dict:
  """The bytes of each PTB file in the archive, after checking its md5."""
  contents = {}
  members = {os.path.normpath(m.name): m for m in archive.getmembers()}
  for name, expected in md5s.items():
    member = members.get(f"{_MEMBER_DIR}/{name}")
    if member is None or not member.isfile():
      raise DataError(
        f"PTB tarball {tarball!r} has no file {_MEMBER_DIR}/{name}; is it "
        f"Mikolov's simple-examples.tgz ({PTB_URL})?"
      )
    data = archive.extractfile(member).read()
    actual = md5_of(data)
    if actual != expected:
      raise DataError(
        f"{_MEMBER_DIR}/{name} in {tarball!r} has md5 {actual}, expected "
        f"{expected}; the download is corrupt or a different version."
      )
    contents[name] = data
  return contents


def ptb_present(data_dir: str, md5s: dict[str, str] | None = None) -> bool:
  """True when all PTB files are already in `data_dir/ptb/` with the right md5."""
  md5s = PTB_MD5 if md5s is None else md5s
  paths = {n: os.path.join(data_dir, "ptb", n) for n in md5s}
  return all(os.path.isfile(p) and _file_md5(p) == md5s[n] for n, p in paths.items())


def download(url: str, dest: str) -> str:
  """Downloads `url` to the file `dest` (no retries; raises DataError on failure)."""
  logging.info("downloading %s", url)
  try:
    with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(dest, "wb") as f:
      shutil.copyfileobj(response, f)
  except OSError as e:
    raise DataError(
      f"Downloading {url} failed ({e}). Fetch it by other means and pass --tarball PATH."
    ) from e
  return dest


def prepare(data_dir: str, *, tarball: str | None = None, url: str = PTB_URL) -> list[str]:
  """Makes `data_dir/ptb/ptb.{train,valid,test}.txt` exist and verified."""
  if ptb_present(data_dir):
    logging.info("PTB already present and verified in %s", data_dir)
    return [os.path.join(data_dir, "ptb", n) for n in PTB_MD5]
  if tarball is not None:
    return extract_ptb(tarball, data_dir)
  with tempfile.TemporaryDirectory() as tmp:
    return extract_ptb(download(url, os.path.join(tmp, "simple-examples.tgz")), data_dir)


def argument_parser() -> argparse.ArgumentParser:
  """The command line of `python -m tfvae.data.prepare_ptb`."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument(
    "--data_dir",
    default=os.environ.get(DATA_DIR_ENV),
    help=f"data root; PTB goes to DATA_DIR/ptb/ (default: ${DATA_DIR_ENV})",
  )
  parser.add_argument("--tarball", help="use this simple-examples.tgz instead of downloading")
  parser.add_argument("--url", default=PTB_URL, help="where to download the tarball from")
  return parser


def main(argv: list[str] | None = None) -> int:
  parser = argument_parser()
  args = parser.parse_args(argv)
  if not args.data_dir:
    parser.error(f"give --data_dir or set {DATA_DIR_ENV}")
  logging.set_verbosity(logging.INFO)
  try:
    paths = prepare(args.data_dir, tarball=args.tarball, url=args.url)
  except DataError as e:
    logging.error("%s", e)
    return 1
  logging.info("PTB ready: %s", ", ".join(paths))
  return 0


if __name__ == "__main__":
  sys.exit(main())
