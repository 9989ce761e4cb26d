"""The URL of a link preview is found in time linear in the text, and a huge one is refused."""

from __future__ import annotations

import time
from collections.abc import Callable

from wagate.engines.link_preview import MAX_URL_CHARS, first_url

N = 16_384  # and 4N = 65,536: the size of a long WhatsApp text


def _best_of(repeats: int, call: Callable[[], object]) -> float:
    # The minimum of several runs of a few calls: what the code costs, without the noise of
    # the other processes on the machine.
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(3):
            call()
        best = min(best, time.perf_counter() - started)
    return best


def _pathological(n: int) -> list[str]:
    return [
        "https://a.example/" + ")" * n,  # every bracket trimmed, each one an unmatched close
        "https://a.example/" + ".,;:!?" * (n // 6),
        "see https://a.example/" + "x" * n,
    ]


def test_trimming_scales_linearly() -> None:
    for small, large in zip(_pathological(N), _pathological(4 * N), strict=True):
        t_small = _best_of(5, lambda text=small: first_url(text))  # type: ignore[misc]
        t_large = _best_of(5, lambda text=large: first_url(text))  # type: ignore[misc]
        # Linear work grows 4x from n to 4n, quadratic 16x; 8x leaves room for timer noise.
        assert t_large < 8 * t_small, (small[:30], t_small, t_large)


def test_trimming_keeps_its_rules() -> None:
    assert first_url("https://a.example/" + ")" * 4 * N) == "https://a.example/"
    assert first_url("go to https://a.example/x" + "." * 4 * N) == "https://a.example/x"
    assert first_url("https://en.wikipedia.org/wiki/Fish_(food))).") == (
        "https://en.wikipedia.org/wiki/Fish_(food)"
    )
    assert first_url("(http://a.example/b)") == "http://a.example/b"
    assert first_url("https://") is None


def test_url_length_is_capped() -> None:
    longest = "https://a.example/" + "x" * (MAX_URL_CHARS - len("https://a.example/"))
    assert first_url(longest + " tail") == longest
    assert first_url("see " + longest + "x") is None
    assert first_url("https://a.example/" + "x" * 4 * N) is None
