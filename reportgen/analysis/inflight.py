"""Bounds the tensor bytes the thread pools hold at once, so that peak memory follows the largest
tensor rather than the sum of the largest few (two 262 MB embeddings mapped together, say)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from ..types import TensorRecord

FLOOR = 256 * 2**20  # below this, tensors are small enough to pair up freely


class ByteGate:
    """A counting semaphore in bytes; a job larger than the limit waits until it runs alone."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int) -> Iterator[None]:
        n = min(nbytes, self.limit)
        with self._cond:
            self._cond.wait_for(lambda: self.used + n <= self.limit)
            self.used += n
        try:
            yield
        finally:
            with self._cond:
                self.used -= n
                self._cond.notify_all()


def working_bytes(record: TensorRecord) -> int:
    return record.size * 4  # the analyses work on a float32 copy, whatever the stored dtype


def gate_for(records: Sequence[TensorRecord]) -> ByteGate:
    """In flight at once: the largest tensor, or several smaller ones up to its size (or FLOOR)."""
    return ByteGate(max([FLOOR, *map(working_bytes, records)]))
