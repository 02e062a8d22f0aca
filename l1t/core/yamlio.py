"""YAML read with the line of every key, for error messages that point into the file.

Shared by the menu (``trigger/menu.py``) and the pipeline (``trigger/stream/pipeline/``) readers:
mappings come back as :class:`_Map` (a ``dict`` with ``.line`` and ``.lines[key]``), and bad YAML
becomes :class:`~l1t.core.errors.L1TInputError` with its line. Refused as well: duplicate keys,
keys that are mappings or lists, nesting deeper than :data:`MAX_DEPTH`, and aliases (``*name``,
``<<: *name``): an l1t configuration is written out in full, and refusing aliases rules out
documents that expand exponentially. Only YAML's safe tags are known (no ``!!python``).
"""
from __future__ import annotations

from pathlib import Path

import yaml

from l1t.core.errors import L1TInputError
from l1t.core.files import read_text

#: Deepest nesting of mappings and lists accepted (a menu needs about 8).
MAX_DEPTH = 64


class _Map(dict):
    """A YAML mapping that remembers the line of each key (1-based) and its own line."""

    line: int = 0
    lines: dict


class _Loader(yaml.SafeLoader):
    source = "yaml"
    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise L1TInputError(self.source, f"line {mark.line + 1}: YAML aliases (*name) are "
                                "not supported; write the value out")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise L1TInputError(self.source, f"line {mark.line + 1}: nested deeper than "
                                    f"{MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        out = _Map()
        out.line = node.start_mark.line + 1
        out.lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise L1TInputError(self.source, f"line {line}: a key must be a name or a number, "
                                    "not a mapping or list")
            key = self.construct_object(key_node, deep=True)
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
    """Read and parse a YAML file (:func:`parse_yaml`); a missing, unreadable or non-UTF-8 file
    is an ``L1TInputError`` saying it cannot read the ``what`` (menu, pipeline)."""
    return parse_yaml(read_text(path, what), str(path))


def line_of(mapping, key=None) -> int:
    """The line of ``key`` in ``mapping`` (the mapping's own line without a key; 0 if unknown)."""
    lines = getattr(mapping, "lines", {})
    if key is not None and key in lines:
        return lines[key]
    return getattr(mapping, "line", 0)
