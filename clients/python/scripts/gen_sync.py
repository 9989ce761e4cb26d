"""Writes WagateClient's route methods from AsyncWagateClient's, so the two never drift.

The section between `# begin routes` and `# end routes` of src/wagate_client/_sync.py is
rewritten from the same section of _async.py with `async`/`await` taken out.
Usage: python scripts/gen_sync.py [--check]   (--check: exit 1 when _sync.py is stale)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "wagate_client"
BEGIN, END = "    # begin routes\n", "    # end routes\n"


def section(text: str) -> tuple[str, str, str]:
    head, _, rest = text.partition(BEGIN)
    body, _, tail = rest.partition(END)
    if END not in rest:
        raise SystemExit("route markers missing")
    return head, body, tail


def to_sync(body: str) -> str:
    body = re.sub(r"\basync def ", "def ", body)
    body = re.sub(r"\bawait ", "", body)
    return body


def ruff() -> str:
    # The ruff next to this Python (a venv's), else the one on PATH.
    local = Path(sys.executable).parent / "ruff"
    found = str(local) if local.exists() else shutil.which("ruff")
    if found is None:
        raise SystemExit("ruff is needed to format the generated code")
    return found


def render() -> str:
    _, async_body, _ = section((PACKAGE / "_async.py").read_text())
    head, _, tail = section((PACKAGE / "_sync.py").read_text())
    text = head + BEGIN + to_sync(async_body) + END + tail
    # Formatted, since taking `await` out can make a wrapped call fit on one line.
    result = subprocess.run(  # noqa: S603 - our own ruff, fixed arguments
        [ruff(), "format", "--stdin-filename", str(PACKAGE / "_sync.py"), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main() -> int:
    target = PACKAGE / "_sync.py"
    fresh = render()
    if "--check" in sys.argv:
        if target.read_text() != fresh:
            print("_sync.py is stale: run scripts/gen_sync.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
