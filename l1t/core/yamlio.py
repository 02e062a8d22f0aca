"""YAML read with the line of every key, for error messages that point into the file.

Shared by the menu (``trigger/menu.py``) and the pipeline (``trigger/stream/pipeline/``) readers:
mappings come back as :class:`_Map` (a ``dict`` with ``.line`` and ``.lines[key]``), duplicate
keys are refused, and bad YAML becomes :class:`~l1t.core.errors.L1TInputError` with its line.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from l1t.core.errors import L1TInputError


class _Map(dict):
    """A YAML mapping that remembers the line of each key (1-based) and its own line."""

    line: int = 0
    lines: dict


class _Loader(yaml.SafeLoader):
    source = "yaml"

    def construct_mapping(self, node, deep=False):
        out = _Map()
        out.line = node.start_mark.line + 1
        out.lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in out:
                raise L1TInputError(self.source, f"line {line}: duplicate key {key!r} (first on "
                                    f"line {out.lines[key]})", str(key))
            out[key] = self.construct_object(value_node, deep=True)
            out.lines[key] = line
        return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def parse_yaml(text: str, source: str):
    """Parse ``text`` (mappings as :class:`_Map`); bad YAML → ``L1TInputError(source, line)``."""
    loader_cls = type("_SourceLoader", (_Loader,), {"source": source})
    try:
        return yaml.load(text, Loader=loader_cls)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise L1TInputError(source, f"{where}bad YAML ({getattr(err, 'problem', err)})") from None


def load_yaml(path: str | Path, what: str):
    """Read and parse a YAML file (:func:`parse_yaml`); an unreadable file is an
    ``L1TInputError`` saying it cannot read the ``what`` (menu, pipeline)."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise L1TInputError(path, f"cannot read {what} ({reason})") from None
    return parse_yaml(text, str(path))


def line_of(mapping, key=None) -> int:
    """The line of ``key`` in ``mapping`` (the mapping's own line without a key; 0 if unknown)."""
    lines = getattr(mapping, "lines", {})
    if key is not None and key in lines:
        return lines[key]
    return getattr(mapping, "line", 0)
