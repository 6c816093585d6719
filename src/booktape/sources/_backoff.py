"""Capped, jittered exponential back-off for reconnect attempts."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``initial * factor**n``, capped at ``cap``, each shortened by up to ``jitter``.

    Jitter spreads the retries of several recorders that lost the same
    terminal, so they do not hammer it in lock-step when it comes back.
    """

    def __init__(self, initial_s: float = 0.1, cap_s: float = 5.0, factor: float = 2.0,
                 jitter: float = 0.5, rng: random.Random | None = None) -> None:
        if initial_s <= 0 or cap_s < initial_s or factor < 1 or not 0 <= jitter < 1:
            raise ValueError(
                f"bad back-off: initial {initial_s}, cap {cap_s}, factor {factor}, "
                f"jitter {jitter} (need 0 < initial <= cap, factor >= 1, 0 <= jitter < 1)")
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.factor = factor
        self.jitter = jitter
        self._rng = rng or random.Random()
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt, in seconds."""
        d = min(self.cap_s, self.initial_s * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        return d * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempts = 0
