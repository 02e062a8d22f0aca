"""Property tests of the loaders of user-written files: the menu, the pipeline, the filling
scheme, the NanoAOD branch mapping and the production manifest. Each random document either
loads or raises :class:`L1TInputError`; nothing else (no TypeError, KeyError, RecursionError).

Documents are drawn three ways: random YAML/JSON values; random text; and, closest to what a
user writes, a valid shipped file with one value somewhere replaced by a random one.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l1t.core.errors import L1TInputError
from l1t.datasets.formats import DEFAULT_MAPPING, load_mapping
from l1t.trigger.menu import DEFAULT_MENU, parse_menu
from l1t.trigger.stream.filling import parse_filling_scheme
from l1t.trigger.stream.pipeline.config import PRESETS, parse_pipeline

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
keys = st.text(max_size=10) | st.integers(-5, 5) | st.booleans() | st.none()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(keys, inner, max_size=4), max_leaves=20)


def _paths(doc, prefix=()):
    """Every path to a value in a nested dict/list document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replaced(doc, path, value):
    if not path:
        return value
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    out[path[0]] = _replaced(doc[path[0]], path[1:], value)
    return out


def _plain(text: str):
    return yaml.safe_load(text)


@st.composite
def mutated(draw, base_text: str):
    """A valid document with one value (or key's value) replaced by a random one, as YAML."""
    base = _plain(base_text)
    path = draw(st.sampled_from(list(_paths(base))))
    return yaml.safe_dump(_replaced(base, path, draw(values)), sort_keys=False)


def yaml_documents(base_text: str):
    dumped = values.map(lambda v: yaml.safe_dump(v))
    return mutated(base_text) | dumped | st.text(max_size=60)


def _loads_or_input_error(load, text: str) -> None:
    try:
        load(text)
    except L1TInputError:
        pass


MENU_TEXT = DEFAULT_MENU.read_text()
PIPELINE_TEXT = PRESETS["phase2"].read_text()
MAPPING_TEXT = Path(DEFAULT_MAPPING).read_text()


@SETTINGS
@given(yaml_documents(MENU_TEXT))
def test_menu_loader(text):
    _loads_or_input_error(lambda t: parse_menu(t, str(DEFAULT_MENU)), text)


@SETTINGS
@given(yaml_documents(PIPELINE_TEXT))
def test_pipeline_loader(text):
    _loads_or_input_error(lambda t: parse_pipeline(t, str(PRESETS["phase2"])), text)


@SETTINGS
@given(st.text(max_size=80) | st.lists(st.integers(-5, 4000), max_size=6).map(
    lambda xs: "\n".join(f"{a}-{b}" for a, b in zip(xs, xs[1:]))))
def test_filling_scheme_loader(text):
    _loads_or_input_error(lambda t: parse_filling_scheme(t, "scheme.txt"), text)


@SETTINGS
@given(yaml_documents(MAPPING_TEXT))
def test_mapping_loader(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("mapping") / "mapping.yaml"
    path.write_text(text)
    _loads_or_input_error(load_mapping, path)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_manifest_loader(production, tmp_path_factory, data):
    """Random JSON, and the real manifest with one value replaced, in a copy of a production."""
    from l1t.datasets.inputs import expand_inputs

    base = json.loads((production / "manifest.json").read_text())
    doc = data.draw(st.one_of(values, st.builds(
        _replaced, st.just(base), st.sampled_from(list(_paths(base))), values)))
    d = tmp_path_factory.mktemp("prod") / "p"
    shutil.copytree(production, d)
    (d / "manifest.json").write_text(json.dumps(doc, allow_nan=True))
    try:
        files = expand_inputs([d])
    except L1TInputError:
        return
    assert all(f.parent == d and f.is_file() for f in files)


@SETTINGS
@given(values)
def test_json_reader(tmp_path_factory, doc):
    from l1t.core.files import read_json

    path = tmp_path_factory.mktemp("json") / "x.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    text = path.read_text()
    try:
        back = read_json(path)
    except L1TInputError:
        assert "NaN" in text or "Infinity" in text     # JSON has no such numbers
        return
    assert back == json.loads(text)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    from l1t.datasets.production import produce

    root = tmp_path_factory.mktemp("base")
    produce("minbias", 10, root / "zb", pileup=1, seed=2, chunk_size=5, pool_size=20,
            progress=False, cache_dir=root / ".cache")
    return root / "zb"
