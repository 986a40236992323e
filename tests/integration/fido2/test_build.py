# SPDX-License-Identifier: MIT
"""The software authenticator's transport is in the test builds only, and
libfido2 is linked only into the programs that talk to a key."""
import os
import pathlib
import subprocess

import pytest

BUILD = pathlib.Path(__file__).resolve().parents[3] / os.environ.get("O", "build")

# what tests/fido2/soft_transport.c leaves in a binary that links it
MARKERS = ("soft_manifest", "soft_register", "soft_open")
STRINGS = (b"/run/cloudseal-test-fido2", b"CLOUDSEAL_TEST_FIDO2_DIR", b"software authenticator")


def symbols(path):
    return subprocess.run(["nm", "-a", str(path)], capture_output=True, text=True, check=True).stdout


def needed(path):
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


@pytest.mark.parametrize("prog", ["cloudseal", "cloudseal-helper"])
def test_production_binaries_have_no_soft_transport(build_dir, prog):
    test_build = BUILD / "test-fido2" / prog
    assert test_build.exists(), "run 'make integration-tools'"
    # the markers are real: the test build has them
    assert all(m in symbols(test_build) for m in MARKERS)
    assert all(s in test_build.read_bytes() for s in STRINGS)
    prod = BUILD / prog
    assert not any(m in symbols(prod) for m in MARKERS)
    data = prod.read_bytes()
    assert not any(s in data for s in STRINGS)


@pytest.mark.parametrize("part", ["pam_cloudseal.so", "libnss_cloudseal.so.2", "cloudseal-agent"])
def test_modules_and_agent_do_not_link_libfido2(build_dir, part):
    assert not any(n.startswith("libfido2") for n in needed(BUILD / part))


def test_soft_transport_links_the_real_libfido2(build_dir):
    assert any(n.startswith("libfido2") for n in needed(BUILD / "tests" / "fido2-tool"))
