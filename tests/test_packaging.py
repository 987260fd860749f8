"""pyproject.toml as the build backend reads it: metadata in the forms current setuptools accepts without warnings."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_expression_and_the_backend_supports_it() -> None:
    """``license = { text = ... }`` is deprecated (PEP 639; setuptools warned on every install): the licence is an
    SPDX expression string, which setuptools reads from version 77 on."""
    doc = tomllib.loads(PYPROJECT.read_text())
    assert doc["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in doc["project"].get("classifiers", []))  # PEP 639: not both
    (setuptools,) = [r for r in doc["build-system"]["requires"] if re.match(r"setuptools\b", r)]
    minimum = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools.replace(" ", ""))
    assert minimum is not None and int(minimum.group(1)) >= 77
