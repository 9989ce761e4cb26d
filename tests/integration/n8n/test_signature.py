"""The trigger's signature check (the built package's code, run by Node.js) against the
gateway's own signer: what the gateway signs passes, anything else does not."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from wagate.webhooks.signing import signature, signature_header

pytestmark = [pytest.mark.n8n]

SECRET = "the-workflow-secret"
BODY = b'{"id":"evt_1","event":"message_received","data":{"text":"ol\\u00e1"}}'
CHECK = """
const { verifySignature } = require(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const answers = cases.map(([secret, header, body]) =>
  verifySignature(secret, header, Buffer.from(body, 'latin1')));
process.stdout.write(JSON.stringify(answers));
"""


def verify(built: Path, cases: list[tuple[str, str, bytes]]) -> list[bool]:
    node = shutil.which("node")
    assert node is not None, "node is needed (scripts/setup.sh --test installs it)"
    module = built / "dist" / "nodes" / "Wagate" / "GenericFunctions.js"
    given = json.dumps([[s, h, b.decode("latin1")] for s, h, b in cases])
    done = subprocess.run(
        [node, "-e", CHECK, str(module)], input=given, capture_output=True, text=True, check=True
    )
    answers: list[bool] = json.loads(done.stdout)
    return answers


def test_trigger_accepts_only_what_the_gateway_signed(n8n_package: Path) -> None:
    now = int(time.time())
    good = signature_header(SECRET, BODY, now)
    old = now - 301
    cases = [
        (SECRET, good, BODY),
        (SECRET, good.replace(",", " , "), BODY),  # spaces around the fields
        (SECRET, f"t={now},v1={'0' * 64},v1={signature(SECRET, now, BODY)}", BODY),  # rotation
        ("another-secret", good, BODY),
        (SECRET, good, BODY.replace(b"ol", b"oi")),
        (SECRET, f"t={old},v1={signature(SECRET, old, BODY)}", BODY),  # replayed too late
        (SECRET, f"v1={signature(SECRET, now, BODY)}", BODY),  # no timestamp
        (SECRET, f"t={now}", BODY),
        (SECRET, f"t={now},v1=zz", BODY),
        (SECRET, "", BODY),
    ]
    assert verify(n8n_package.parent, cases) == [True] * 3 + [False] * 7
