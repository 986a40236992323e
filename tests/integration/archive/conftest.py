# SPDX-License-Identifier: MIT
"""Fixtures for the message-archive tests: workstations (a Maildir and a
state directory each) sharing one enrolled account and one repository.

Every workstation is a cloudseal.conf of its own whose [archive] section
points into tmp_path; storage, the keybag cache and the KDF settings are the
shared ones of the base fixture, so `cloudseal enroll` once serves all.
"""
import os
import pathlib
import subprocess

import pytest

import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from archive_helpers import BUILD, PASSWORD, Workstation, run  # noqa: E402


@pytest.fixture
def account(cs_config, tmp_path, build_dir):
    """An enrolled account; returns a factory of workstations."""
    path, _write = cs_config
    env = {"CLOUDSEAL_CONFIG": str(path)}
    run([str(BUILD / "cloudseal"), "enroll", "--password-stdin"], input=PASSWORD + "\n", env=env)

    made = {}

    def workstation(name):
        if name not in made:
            made[name] = Workstation(tmp_path, name, path)
        return made[name]

    yield workstation
    run([str(BUILD / "cloudseal"), "lock"], env=env, check=False)
