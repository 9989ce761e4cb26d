"""The signature header, checked against an HMAC computed here from its definition."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wagate.webhooks.signing import signature_header, verify

BODY = b'{"id":"evt_1","event":"message_received","instance":"a","data":{"text":"\xc3\xa9"}}'


def test_header_matches_the_documented_formula() -> None:
    header = signature_header("topsecret", BODY, timestamp=1_700_000_000)
    expected = hmac.new(b"topsecret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_good_and_refuses_tampering() -> None:
    header = signature_header("k", BODY, timestamp=1000)
    assert verify("k", header, BODY, now=1000)
    assert not verify("other", header, BODY, now=1000)
    assert not verify("k", header, BODY + b" ", now=1000)
    assert not verify("k", header.replace("t=1000", "t=1001"), BODY, now=1000)


def test_verify_refuses_old_and_malformed_headers() -> None:
    header = signature_header("k", BODY, timestamp=1000)
    assert verify("k", header, BODY, now=1000 + 300)
    assert not verify("k", header, BODY, now=1000 + 301)
    for bad in ["", "t=abc,v1=00", "v1=00", "t=1000", "garbage"]:
        assert not verify("k", bad, BODY, now=1000)


def test_any_of_several_v1_values_may_match() -> None:
    good = signature_header("new", BODY, timestamp=5).split("v1=")[1]
    assert verify("new", f"t=5,v1={'0' * 64},v1={good}", BODY, now=5)


def _documented_verifier() -> Callable[..., bool]:
    """The verification example of docs/webhooks.md, run as written."""
    text = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (code,) = [block for block in blocks if "def verify_wagate_signature" in block]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    verifier: Callable[..., bool] = namespace["verify_wagate_signature"]
    return verifier


def test_the_documented_example_verifies_what_the_gateway_signs() -> None:
    verify_doc = _documented_verifier()
    header = signature_header("doc-secret", BODY)
    assert verify_doc("doc-secret", header, BODY)
    assert not verify_doc("other", header, BODY)
    assert not verify_doc("doc-secret", header, BODY + b"x")
    old = signature_header("doc-secret", BODY, timestamp=int(time.time()) - 301)
    assert not verify_doc("doc-secret", old, BODY)
    for bad in ["", "garbage", "t=,v1=", "v1=abc", "t=12x,v1=00"]:
        assert not verify_doc("doc-secret", bad, BODY)
