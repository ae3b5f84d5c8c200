"""requirements/*.lock against pyproject.toml: every dependency pinned, hashed, and allowed.

Offline and fast, so it runs in every `make test`; `make lock-check` re-resolves in full.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Installed first by version, outside the lock: the CPU build on this machine kind's disk.
UNLOCKED = {"torch"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, hashes) of each pinned package of ``lock``."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            pins[current] = (match[2], [])
        elif current and line.strip().startswith("--hash=sha256:"):
            pins[current][1].append(line.strip().removesuffix("\\").strip())
    return pins


def _requirements(*, dev: bool) -> list[Requirement]:
    deps = list(PYPROJECT["project"]["dependencies"])
    if dev:
        deps += PYPROJECT["project"]["optional-dependencies"]["dev"]
    return [Requirement(dep) for dep in deps]


@pytest.mark.parametrize(("lock", "dev"), [("app.lock", False), ("dev.lock", True)])
def test_every_pyproject_dependency_is_pinned_within_its_range(lock, dev):
    # given
    pins = _pins(lock)
    # when
    drift = [
        f"{req}: {pins.get(canonicalize_name(req.name), ('not in the lock',))[0]}"
        for req in _requirements(dev=dev)
        if canonicalize_name(req.name) not in UNLOCKED
        and (
            canonicalize_name(req.name) not in pins
            or not req.specifier.contains(pins[canonicalize_name(req.name)][0], prereleases=True)
        )
    ]
    # then
    assert drift == [], f"pyproject.toml and requirements/{lock} differ; run `make lock`"


@pytest.mark.parametrize("lock", ["app.lock", "dev.lock"])
def test_every_pin_has_a_hash_and_torch_stays_out(lock):
    # when
    pins = _pins(lock)
    # then
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []
    assert UNLOCKED & set(pins) == set()
    assert [name for name in pins if name.startswith("nvidia-")] == []


def test_the_dev_lock_keeps_the_runtime_pins():
    # given
    app, dev = _pins("app.lock"), _pins("dev.lock")
    # then
    assert {name: dev[name][0] for name in app} == {name: pin[0] for name, pin in app.items()}


@pytest.mark.parametrize(("lock", "dev"), [("app.lock", False), ("dev.lock", True)])
def test_the_packages_of_requested_extras_are_pinned(lock, dev):
    # given: e.g. psycopg[binary,pool] needs psycopg-binary and psycopg-pool in the lock; read
    # from the installed package's metadata (installed from this lock)
    pins = _pins(lock)
    needed = {
        (str(req), canonicalize_name(extra_req.name))
        for req in _requirements(dev=dev)
        if req.extras and canonicalize_name(req.name) not in UNLOCKED
        for line in metadata.requires(req.name) or []
        for extra_req in [Requirement(line)]
        if extra_req.marker is not None
        and any(extra_req.marker.evaluate({"extra": extra}) for extra in req.extras)
    }
    # then
    assert sorted(f"{req} needs {name}" for req, name in needed if name not in pins) == []
