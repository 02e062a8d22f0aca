"""The HTML report of a run: one section per kind of file the run wrote, none empty, every image
inlined and decodable; rendered in headless Chromium (slow, ``make test-full``)."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from l1t.validation.report import write_report

SECTIONS = ["samples", "rates", "turn-ons", "anomaly", "muon", "firmware", "latency", "profile"]


def _sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)" class="report-section">(.*?)</section>', html,
                           re.S))


@pytest.fixture(scope="module")
def page(small_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = write_report(small_run, out)
    return result, out.read_text()


def test_one_section_per_kind_of_file_none_empty(page):
    result, html = page
    assert result.sections == SECTIONS
    secs = _sections(html)
    assert list(secs) == SECTIONS
    for key, body in secs.items():
        assert re.search(r"<td>|<pre>|<img ", body), key      # something in every section
    assert "L1_SingleMu22" in secs["rates"] and "L1_SingleMu22" in secs["turn-ons"]
    assert "bit-exact" in secs["firmware"] and "emulator" in secs["firmware"]
    assert "latency budget" in secs["latency"] and "split of vae" in secs["profile"]
    assert "harder" in secs["anomaly"] and "AUC" in secs["anomaly"] and "<img " in secs["anomaly"]


def test_every_image_is_inlined_and_decodes(page):
    from PIL import Image

    result, html = page
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) == result.images >= 13
    assert not re.search(r'(src|href)="(https?:|file:|//)', html)     # nothing from outside
    for src in srcs:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        img.load()
        assert img.size[0] > 50 and img.size[1] > 50


def test_a_section_appears_only_when_its_file_exists(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns(".cache", "chunk-*"))
    shutil.rmtree(run / "stream")
    shutil.rmtree(run / "profile")
    (run / "notes.json").write_text(json.dumps({"format": "someone-else", "x": 1}))
    r = write_report(run, tmp_path / "r.html")
    assert "latency" not in r.sections and "profile" not in r.sections and "rates" in r.sections
    # a LAr performance file (as lar_performance writes it): its table and its plots
    from matplotlib.figure import Figure

    from l1t.validation.lar_performance import PERFORMANCE_CONTRACT, LArPerformance, Row

    lar = run / "lar-performance"
    lar.mkdir()
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot(np.arange(5))
    fig.savefig(lar / "resolution.png")
    row = Row("1-5 GeV", 1.0, 5.0, 384, {"OF": -1.08, "rnn": 0.01}, {"OF": 2.82, "rnn": 80.5})
    PERFORMANCE_CONTRACT.write(lar / "performance.json", LArPerformance(
        {"rnn": "rnn"}, 200.0, 128, [row], [row], [row], [row], [row]).to_dict())
    r = write_report(run, tmp_path / "r.html")
    assert r.sections.index("lar") == r.sections.index("muon") + 1
    body = _sections((tmp_path / "r.html").read_text())["lar"]
    assert "384" in body and "80.50" in body and "-1.08 / 2.82" in body
    assert body.count("<img ") == 1


def test_report_command(small_run, tmp_path, capsys):
    from l1t.cli import main

    out = tmp_path / "report.html"
    assert main(["report", str(small_run), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out and out.read_text().startswith("<!DOCTYPE html>")
    empty = tmp_path / "empty"
    empty.mkdir()
    for run in (empty, tmp_path / "none"):
        assert main(["report", str(run), "--out", str(tmp_path / "bad.html")]) == 2
        assert "error" in capsys.readouterr().err
    assert not (tmp_path / "bad.html").exists()


# --------------------------------------------------------------------------- a real browser

CHECK = """<script>
window.addEventListener('load', () => {
  // after 'load' every image has loaded: a PNG that failed to decode has no natural size
  const imgs = [...document.images];
  const out = {
    images: imgs.length,
    broken: imgs.filter(im => !im.complete || !im.naturalWidth || !im.naturalHeight)
               .map(im => im.alt),
    sections: [...document.querySelectorAll('section')].map(s => s.id),
    empty: [...document.querySelectorAll('section')]
             .filter(s => !s.querySelector('td, pre, img') || !s.innerText.trim()).map(s => s.id),
  };
  const pre = document.createElement('pre');
  pre.id = 'l1t-browser-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (make test-full "
                    "installs the Debian package with apt-get)")
def test_the_report_renders_in_headless_chromium(page, tmp_path):
    _, html = page
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", CHECK + "</body>"))
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", probe.as_uri()],
                          capture_output=True, text=True, timeout=180)
    found = re.search(r'<pre id="l1t-browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["sections"] == SECTIONS
    assert result["images"] >= 13 and result["broken"] == [] and result["empty"] == []
    # the check itself sees a broken image
    bad = tmp_path / "bad.html"
    bad.write_text(probe.read_text().replace("data:image/png;base64,iVBOR",
                                             "data:image/png;base64,AAAAA", 1))
    proc = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", bad.as_uri()], capture_output=True, text=True,
                          timeout=180)
    found = re.search(r'<pre id="l1t-browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert len(json.loads(found.group(1).replace("&quot;", '"'))["broken"]) == 1
