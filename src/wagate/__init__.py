"""wagate: a self-hosted WhatsApp HTTP API gateway."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _installed_version() -> str:
    # pyproject.toml holds the one version; installed, the package metadata carries it.
    try:
        return version("wagate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _installed_version()
