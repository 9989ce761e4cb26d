"""The user docs' curl examples use one set of names, so that examples from any page paste one
after another: the gateway as `$GW`, the admin token as `$ADMIN_TOKEN`, an instance token as
`$TOKEN`, the instance `shop`, the recipient `+5511987654321`, `$CORRELATION_ID` and
`$MESSAGE_ID`. The README's quick start and docs/api.md state them."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "SECURITY.md",
    ROOT / "clients" / "python" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
VARIABLES = {"GW", "ADMIN_TOKEN", "TOKEN", "CORRELATION_ID", "MESSAGE_ID"}
TOKENS = {"$ADMIN_TOKEN", "$TOKEN"}
INSTANCE = "shop"
RECIPIENT = "+5511987654321"

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
CURL = re.compile(r"(?:^|[\s;|&(])curl\s")
# Anything written as an address: a scheme, a bare host, or a shell variable followed by a path.
URL = re.compile(r"^(?:https?://|localhost\b|127\.0\.0\.1\b|\$\{?\w+\}?/|/v1/)")
VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)")
CREDENTIAL = re.compile(r"^(?:authorization:\s*bearer|x-api-key:)\s*(.*)$", re.I)
INSTANCE_PATH = re.compile(r"(?:/v1/instances/|[?&]instance=)([^/?&]+)")
RECIPIENT_JSON = re.compile(r'"to"\s*:\s*"([^"]*)"')
RECIPIENT_FORM = re.compile(r"^to=(.*)$")


def shell_commands(text: str) -> Iterator[tuple[int, str]]:
    """Each command of the fenced blocks with its first line: backslash continuations and
    quotes that run over a line end are joined, as the shell would."""
    for block in FENCE.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        command, start = "", 0
        for offset, line in enumerate(block.group(1).splitlines()):
            if not command:
                start = first_line + offset
            if line.endswith("\\"):
                command += line[:-1] + " "
                continue
            command += line
            try:
                shlex.split(command, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                command += "\n"
                continue
            yield start, command
            command = ""


def curl_problems(command: str) -> list[str]:  # noqa: C901
    """What in one curl command breaks the docs' names (empty: nothing)."""
    words = shlex.split(command, comments=True)
    problems = []
    if re.search(r"'\$\{?GW", command):
        problems.append("$GW inside single quotes is not expanded")
    urls = [word for word in words if URL.match(word)]
    if not any(url.startswith("$GW/") for url in urls):
        problems.append("no URL starting with $GW/")
    for url in urls:
        if not url.startswith("$GW/"):
            problems.append(f"URL {url!r} does not start with $GW/")
        for name in INSTANCE_PATH.findall(url):
            if name != INSTANCE:
                problems.append(f"instance {name!r} instead of {INSTANCE!r}")
    for word in words:
        credential = CREDENTIAL.match(word.strip())
        if credential and credential.group(1) not in TOKENS:
            problems.append(f"token {credential.group(1)!r} is not $ADMIN_TOKEN or $TOKEN")
        recipients = RECIPIENT_JSON.findall(word)
        form = RECIPIENT_FORM.match(word)
        if form:
            recipients.append(form.group(1))
        problems += [
            f"recipient {to!r} instead of {RECIPIENT}" for to in recipients if to != RECIPIENT
        ]
        if word in {"$GW/v1/instances", "$GW/v1/instances/"}:
            names = re.findall(r'"name"\s*:\s*"([^"]*)"', " ".join(words))
            problems += [
                f"creates {name!r} instead of {INSTANCE!r}" for name in names if name != INSTANCE
            ]
    unknown = sorted(set(VARIABLE.findall(" ".join(words))) - VARIABLES)
    problems += [f"variable ${name} is not one of the docs' names" for name in unknown]
    return problems


def doc_curls() -> list[tuple[str, int, str]]:
    return [
        (str(path.relative_to(ROOT)), line, command)
        for path in DOCS
        for line, command in shell_commands(path.read_text(encoding="utf-8"))
        if CURL.search(command)
    ]


def test_every_curl_example_uses_the_docs_names() -> None:
    curls = doc_curls()
    # The extraction itself must keep working: the docs hold dozens of curl examples.
    assert len(curls) > 40
    found = [
        f"{doc}:{line}: {problem}"
        for doc, line, command in curls
        for problem in curl_problems(command)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('curl -s localhost:8080/v1/instances -H "Authorization: Bearer $T"', "$T"),
        ("curl -s http://127.0.0.1:8080/healthz", "does not start with $GW/"),
        ('curl -s $WAGATE/v1/instances/shop -H "Authorization: Bearer $TOKEN"', "$WAGATE"),
        ("curl -s '$GW/v1/instances/shop/qr' -H 'X-Api-Key: $TOKEN'", "single quotes"),
        ('curl -s $GW/v1/instances/demo/connect -H "Authorization: Bearer $TOKEN"', "'demo'"),
        ('curl -s $GW/v1/cluster -H "Authorization: Bearer $ADMIN"', "$ADMIN"),
        (
            """curl -s $GW/v1/instances/shop/send/text -H "Authorization: Bearer $TOKEN" """
            """-d '{"to": "5511999999999", "text": "hi"}'""",
            "recipient",
        ),
        ("curl -s $GW/v1/instances/shop/send/audio -F to=551100 -F file=@a.ogg", "recipient"),
        (
            """curl -s -X POST $GW/v1/instances -H "Authorization: Bearer $ADMIN_TOKEN" """
            """-d '{"name": "sales"}'""",
            "'sales'",
        ),
    ],
)
def test_the_check_finds_other_names(command: str, expected: str) -> None:
    assert any(expected in problem for problem in curl_problems(command))


def test_the_check_accepts_the_docs_names() -> None:
    command = (
        """export CORRELATION_ID=$(curl -s -X POST "$GW/v1/instances/shop/send/text?async=true" """
        """-H "Authorization: Bearer $TOKEN" -d '{"to": "+5511987654321", "text": "hi"}' """
        """| python3 -c 'import json, sys; print(json.load(sys.stdin)["correlation_id"])')"""
    )
    assert curl_problems(command) == []


def test_a_quote_over_a_line_end_is_one_command() -> None:
    text = '```sh\ncurl -s $GW/v1 -d "{\\"a\\": 1,\n  \\"b\\": 2}"\ncurl -s $GW/healthz\n```\n'
    assert [line for line, _ in shell_commands(text)] == [2, 4]


@pytest.mark.parametrize("doc", ["README.md", "docs/api.md"])
def test_the_names_are_stated(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert "GW=http://127.0.0.1:8080" in text
    for name in [*sorted(VARIABLES - {"GW"}), INSTANCE, RECIPIENT]:
        assert f"`{name}`" in text, name
