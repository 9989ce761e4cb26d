"""HTTP byte ranges (RFC 9110 section 14) of a served file: one range, or the whole file."""

from __future__ import annotations

import re

from wagate.errors import RangeNotSatisfiable

ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive span a Range header asks of a file of `size` bytes; None for the whole file.

    A header this server does not take (another unit, several ranges, bad syntax) is ignored,
    as RFC 9110 allows: the whole file is the answer. A range that starts past the end is
    RangeNotSatisfiable (416)."""
    if header is None:
        return None
    match = ONE_RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # invalid syntax: ignored
    if start >= size:
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"the range asked is outside the file ({size} bytes)",
        headers={"Content-Range": f"bytes */{size}"},
    )
