"""The test lock: SHA-256 of every test image and label, and the guard built on it.

``factory split`` (or an import that keeps a source's own test split) writes the lock into
``factory.json``. :func:`factory.dataset.core.load_dataset` verifies it on every load, so
a changed, added or removed test file is an error until the user re-splits. The
:class:`TestGuard` refuses any synthetic source, background or patch whose image is a test
image or a near duplicate of one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory.dataset.hashing import NEAR_DUPLICATE_BITS, hamming, phash, phash_from_hex, phash_hex
from factory.errors import FactoryError
from factory.io import list_images, read_image, sha256_file

RESPLIT_HINT = "re-split with `factory split` to lock the test set anew"


def _test_files(root: Path) -> list[Path]:
    files = list_images(root / "images" / "test")
    label_dir = root / "labels" / "test"
    if label_dir.is_dir():
        files += sorted(label_dir.glob("*.txt"))
    mask_dir = root / "masks" / "test"
    if mask_dir.is_dir():
        files += sorted(mask_dir.glob("*.png"))
    return files


def compute_test_lock(root: Path) -> dict:
    """The lock of the test split currently on disk under ``root``."""
    files = _test_files(root)
    if not list_images(root / "images" / "test"):
        raise FactoryError(f"{root}: cannot lock an empty test split")
    return {
        "files": {str(p.relative_to(root)): sha256_file(p) for p in files},
        "phash": {
            str(p.relative_to(root)): phash_hex(phash(read_image(p)))
            for p in list_images(root / "images" / "test")
        },
    }


def verify_test_lock(dataset) -> None:
    """Raise :class:`FactoryError` naming the first test file that changed since locking."""
    root: Path = dataset.root
    lock = dataset.test_lock
    expected: dict[str, str] = lock["files"]
    present = {str(p.relative_to(root)) for p in _test_files(root)}
    for relpath, digest in expected.items():
        path = root / relpath
        if relpath not in present:
            raise FactoryError(f"{path}: locked test file is missing; {RESPLIT_HINT}")
        if sha256_file(path) != digest:
            raise FactoryError(f"{path}: locked test file changed since the split; {RESPLIT_HINT}")
    extra = sorted(present - set(expected))
    if extra:
        raise FactoryError(
            f"{root / extra[0]}: file added to the locked test split; {RESPLIT_HINT}"
        )


class TestGuard:
    """Refuses pixels that come from the test split (exactly or as a near duplicate)."""

    __test__ = False  # not a pytest class

    def __init__(
        self, digests: set[str], hashes: list[int], *, max_bits: int = NEAR_DUPLICATE_BITS
    ):
        self.digests = digests
        self.hashes = np.array(hashes, dtype=np.uint64)
        self.max_bits = max_bits

    @classmethod
    def from_dataset(cls, dataset) -> TestGuard:
        lock = dataset.test_lock
        if not lock:
            raise FactoryError(
                f"{dataset.root}: dataset has no test lock; run `factory split` first so that "
                "the test set is frozen before anything is generated"
            )
        digests = {d for rel, d in lock["files"].items() if rel.startswith("images/")}
        hashes = [phash_from_hex(h) for h in lock.get("phash", {}).values()]
        return cls(digests, hashes)

    def nearest_bits(self, image: np.ndarray) -> int:
        if self.hashes.size == 0:
            return 64
        value = phash(image)
        return min(hamming(value, int(h)) for h in self.hashes)

    def check_file(self, path: Path, role: str) -> None:
        if sha256_file(path) in self.digests:
            raise FactoryError(f"{path}: refused as {role}: it is a locked test image")
        self.check_image(read_image(path), f"{path}", role)

    def check_image(self, image: np.ndarray, name: str, role: str) -> None:
        bits = self.nearest_bits(image)
        if bits <= self.max_bits:
            raise FactoryError(
                f"{name}: refused as {role}: near duplicate of a locked test image "
                f"({bits} of 64 hash bits differ)"
            )
