"""``ooc report OUT/ -o report.html`` (ooc_sdk/audit/report.py): one self-contained HTML page with
the plan, the memory timeline, the energy and wear audits and their plots. The page is checked
as text (sections, no external resource, escaped text, PNG data URIs that decode) and in
headless Chromium: it loads without a console message and its screenshot shows the plots.

Chromium comes from scripts/install-toolchains.sh (Debian's ``chromium``). In CI (CI=true) a
missing browser fails the test; elsewhere it is skipped with the reason."""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from ooc_sdk.audit.report import PNG_MAGIC, SECTIONS, collect, render_html
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.cli import main
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import write_atomic
from ooc_sdk.image.keys import generate, read_key_file, write_key_file
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_model

IMG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
PLOTS = 3  # memory, energy, wear (a fused build adds its fusion timeline)
# matplotlib's tab:blue and tab:green: on the page only inside the plots (the CSS has neither)
PLOT_COLOURS = ((0x1F, 0x77, 0xB4), (0x2C, 0xA0, 0x2C))


@pytest.fixture(scope="module")
def kws_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """kws at 64 KiB and its report, written by the CLI."""
    root = tmp_path_factory.mktemp("report")
    device = generate(bytes.fromhex("00c0ffee" * 4), 32)
    key = root / "dev.key"
    write_key_file(key, device)
    path = shared_model("kws_ref_model.tflite")
    out = root / "kws"
    build(
        load_model(path),
        path.read_bytes(),
        out,
        device,
        BuildRequest(
            PlanRequest(budget=64 * 1024, flash=load_flash("w25q128jv"), mcu=load_mcu("cortex-m4"))
        ),
    )
    page = root / "report.html"
    code = main(["report", str(out), "--device-key", str(key), "-o", str(page)])
    assert code == 0
    return {"root": root, "out": out, "key": key, "page": page, "html": page.read_text()}


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its chunks' CRCs (a truncated or corrupted
    file fails here)."""
    assert png.startswith(PNG_MAGIC)
    pos, size, ended = 8, (0, 0), False
    while pos < len(png):
        n = int.from_bytes(png[pos : pos + 4], "big")
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        crc = int.from_bytes(png[pos + 8 + n : pos + 12 + n], "big")
        assert len(body) == n and zlib.crc32(kind + body) == crc, f"bad PNG chunk {kind!r}"
        if kind == b"IHDR":
            size = (int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big"))
        ended = kind == b"IEND"
        pos += 12 + n
    assert ended, "the PNG has no IEND chunk"
    return size


def test_page_is_self_contained_with_its_sections_and_plots(kws_report: dict[str, Any]) -> None:
    page = kws_report["html"]
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not EXTERNAL.search(page), "the page refers to something outside itself"
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page
    for key in SECTIONS:
        assert f'<section id="{key}">' in page
    pngs = [base64.b64decode(m, validate=True) for m in IMG.findall(page)]
    assert len(pngs) == page.count("<img") == PLOTS
    for png in pngs:
        w, h = _png_size(png)
        assert w >= 400 and h >= 100
    # the facts a sign-off needs, from build.json, plan.json and the audits
    for text in (
        "kws_ref_model",
        "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae",  # model sha256
        "64.0 KiB (65,536 B)",
        "w25q128jv",
        "cortex-m4",
        "security counter",
        "latency ratio (out-of-core / in SRAM)",
        "flash bytes read per inference",
        "25,648",  # the plan's flash bytes per inference
        "Per layer (uJ per inference)",
        "prediction and measurement agree",
        "null: unlimited by wear",  # kws never programs nor erases: no lifetime
        "cortex-m4.energy_per_cycle_pj",
        "endurance_cycles used (wear)",
        "QEMU",  # an assumption of the energy audit
    ):
        assert text in page, text
    # the wear audit's own statement when the lifetime is null
    from ooc_sdk.audit.wear import NO_WEAR

    assert NO_WEAR.replace("'", "&#x27;").replace('"', "&quot;") in page
    info = (kws_report["out"] / "build.json").read_text()
    assert re.search(r'"build_id": "([0-9a-f]+)"', info).group(1) in page  # type: ignore[union-attr]
    # written atomically: no temporary file left beside it
    assert sorted(p.name for p in kws_report["root"].iterdir()) == ["dev.key", "kws", "report.html"]


def test_text_is_escaped(kws_report: dict[str, Any]) -> None:
    device = read_key_file(kws_report["key"])
    data = collect(kws_report["out"], device, inferences=1)
    evil = copy.deepcopy(data)
    evil["info"]["model"]["name"] = '<script>alert("x")</script>'
    evil["energy"]["assumptions"].append("a < b & c > d")
    page = render_html(evil)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "a &lt; b &amp; c &gt; d" in page


def test_errors_before_running(kws_report: dict[str, Any], tmp_path: Path) -> None:
    out = kws_report["out"]
    with pytest.raises(InvalidArgumentError, match="`device`"):
        collect(out, None)
    with pytest.raises(InvalidArgumentError, match="no directory"):
        write_atomic(tmp_path / "nowhere" / "r.html", "x")
    code = main(["report", str(out), "--device-key", str(kws_report["key"]),
                 "-o", str(tmp_path / "nowhere" / "r.html")])  # fmt: skip
    assert code != 0 and not (tmp_path / "nowhere").exists()


# -- headless Chromium -----------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    reason = "headless Chromium is not installed (scripts/install-toolchains.sh installs it)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _headless(browser: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={page.parent / '.chromium-profile'}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _page_messages(stderr: str, page: Path) -> list[str]:
    """Chromium's log lines about the page: its console (the page has no script, so any
    message is an error: an uncaught exception, a resource that failed) and errors naming it.
    Chromium's own start-up noise (D-Bus, GPU, sandbox) names no page and is left out."""
    uri = page.as_uri()
    return [
        line
        for line in stderr.splitlines()
        if ":CONSOLE" in line
        or "Uncaught" in line
        or (("ERROR:" in line or "FATAL:" in line) and (uri in line or page.name in line))
    ]


def _pixels(png: Path) -> tuple[int, set[tuple[int, int, int]], dict[tuple[int, int, int], int]]:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
    counts = {c: n for n, c in colours}
    return rgb.width * rgb.height, set(counts), counts


def test_page_in_headless_chromium(kws_report: dict[str, Any], tmp_path: Path) -> None:
    browser = _chromium()
    # the console check is not vacuous: a page with a failing script is caught
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("broken page")</script>\n')
    run = _headless(browser, bad, f"--screenshot={tmp_path / 'bad.png'}", "--window-size=400,300")
    assert any("broken page" in m for m in _page_messages(run.stderr, bad)), run.stderr[-2000:]

    page = tmp_path / "report.html"
    shutil.copyfile(kws_report["page"], page)
    shot = tmp_path / "shot.png"
    run = _headless(browser, page, f"--screenshot={shot}", "--window-size=1200,3000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert _page_messages(run.stderr, page) == []
    assert shot.is_file() and _png_size(shot.read_bytes()) == (1200, 3000)
    total, colours, counts = _pixels(shot)
    assert len(colours) > 50, f"the screenshot looks blank: {len(colours)} colours"
    white = counts.get((255, 255, 255), 0)
    assert white < 0.95 * total, f"the screenshot is {white / total:.0%} white"
    # the memory and energy plots are on screen: their matplotlib colours cover real area
    for colour in PLOT_COLOURS:
        assert counts.get(colour, 0) > 2000, f"no plot colour {colour} in the screenshot"

    # the parsed DOM: every section and every plot, as Chromium read them
    dom = _headless(browser, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(IMG.findall(dom.stdout)) == PLOTS
    for key in SECTIONS:
        assert f'<section id="{key}">' in dom.stdout
