"""The installed environment exposes one package, ``l1t``; its parts are not top-level names."""
from __future__ import annotations

import json
import subprocess
import sys

PARTS = ("datasets", "models", "firmware", "trigger", "validation")


def test_only_l1t_is_importable_outside_the_source_tree(tmp_path):
    probe = (
        "import importlib.util, json\n"
        f"parts = {PARTS!r}\n"
        "top = {p: importlib.util.find_spec(p) is not None for p in parts}\n"
        "sub = {p: importlib.util.find_spec('l1t.' + p).origin for p in parts}\n"
        "print(json.dumps({'top': top, 'sub': sub}))\n")
    # -I: no current directory, PYTHONPATH or user site on sys.path: only what is installed.
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["top"] == {p: False for p in PARTS}
    for part, origin in found["sub"].items():
        assert origin.endswith(f"{part}/__init__.py"), (part, origin)
