"""Token generation and hashing. Tokens are 256-bit random, so a plain SHA-256 is a safe hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ADMIN_PREFIX = "wga_"
INSTANCE_PREFIX = "wgi_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), expected_hash)
