# SPDX-License-Identifier: MIT
"""The layers of HACKING.md ("Which folder may include which") hold: each
C file includes project headers only from its own folder or a lower layer,
and never by a path that climbs out of lib/ (`../../nss/...`)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[3]

# folder -> layer; a file may include from a layer <= its own (same layer
# only from its own folder, so that e.g. lib/repo and lib/fleet stay apart)
LAYER = {
    "lib/basic": 0,
    "lib/util": 1,
    "lib/crypto": 2, "lib/config": 2,
    "lib/storage": 3,
    "lib/repo": 4, "lib/archive": 4, "lib/fleet": 4,
    "lib/account": 5, "lib/agent": 5,
    "helper/cli": 6, "helper/priv": 6, "helper/agent": 6,
}
# the modules run inside other programs: lib/basic and their own folder only
MODULES = {"pam", "nss"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    for top in ("lib", "helper", "pam", "nss"):
        for p in sorted((ROOT / top).rglob("*.[ch]")):
            yield p


def violations(path, root=ROOT):
    folder = str(path.parent.relative_to(root))
    for inc in INCLUDE.findall(path.read_text()):
        if ".." in pathlib.PurePosixPath(inc).parts:
            yield f"{inc} (climbs out of its folder; move the shared header to lib/basic)"
            continue
        if "/" not in inc:          # same folder
            continue
        target = "lib/" + inc.split("/")[0]
        if folder in MODULES:
            if target != "lib/basic":
                yield f"{inc} (a module may include lib/basic only)"
            continue
        mine, theirs = LAYER.get(folder), LAYER.get(target)
        if mine is None or theirs is None:
            yield f"{inc} (folder not in the layer table of HACKING.md)"
        elif theirs > mine or (theirs == mine and target != folder and mine in (4, 5)):
            yield f"{inc} ({target} is not below {folder})"


def test_every_include_goes_down_the_layers():
    bad = [f"{p.relative_to(ROOT)}: {v}" for p in sources() for v in violations(p)]
    assert not bad, "\n".join(bad)


def test_the_checker_notices_a_climbing_include(tmp_path):
    """The rule can fail: a lib/crypto file including a lib/repo header, a
    path out of lib/, and lib/repo including its sibling lib/fleet."""
    fake = tmp_path / "lib/crypto/x.c"
    sibling = tmp_path / "lib/repo/x.c"
    for p in (fake, sibling):
        p.parent.mkdir(parents=True)
    fake.write_text('#include "repo/repo.h"\n#include "../../nss/x.h"\n#include "util/log.h"\n')
    sibling.write_text('#include "fleet/fleet.h"\n')
    assert len(list(violations(fake, tmp_path))) == 2
    assert len(list(violations(sibling, tmp_path))) == 1
