"""Progress on stderr: a live counter on a terminal, one line per phase in logs and CI."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Progress:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()

    def _write(self, text: str) -> None:
        if self.enabled:
            self.stream.write(text)
            self.stream.flush()

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Announce a phase and, when it ends, how long it took."""
        start = time.perf_counter()
        self._write(f"reportgen: {label}...\n" if not self.live else f"reportgen: {label}...")
        try:
            yield
        except BaseException:
            self._write("\n" if self.live else "")  # not "done": the caller reports what happened
            raise
        took = time.perf_counter() - start
        self._write(f"\r\033[Kreportgen: {label} ({took:.1f} s)\n" if self.live
                    else f"reportgen: {label}: done in {took:.1f} s\n" if took >= 1 else "")

    def step(self, i: int, n: int, what: str) -> None:
        """Per-item progress; only redrawn in place on a terminal (logs get no flood)."""
        if self.live:
            self._write(f"\r\033[K  [{i}/{n}] {what[:70]}")

    def note(self, text: str) -> None:
        self._write(f"reportgen: {text}\n")
