"""``ooc report OUT/ -o report.html`` (ooc_sdk/audit/report.py): one self-contained HTML page that
opens with the verdicts (ooc_sdk/audit/verdicts.py), then the plots, then the detailed tables
folded. The page is checked as text (sections, no external resource, escaped text, PNG data URIs
that decode), the verdicts on their inputs (pass, fail, not checked), and in headless Chromium
(tests/chromium.py, over the DevTools protocol): it loads without a console message, every
verdict lies within the first 1200 x 900 pixels, and its screenshots show the verdicts' colours
and the plots.

Chromium comes from scripts/install-toolchains.sh (Debian's ``chromium``). In CI (CI=true) a
missing browser fails the test; elsewhere it is skipped with the reason."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from ooc_sdk.audit.exact import skipped
from ooc_sdk.audit.report import DETAILS, PNG_MAGIC, SECTIONS, collect, render_html
from ooc_sdk.audit.verdicts import FAIL, NOT_CHECKED, PASS, Limits, judge, rate_text
from ooc_sdk.audit.wear import propose_scratch
from ooc_sdk.build import BuildRequest, build
from ooc_sdk.cli import main
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.fileio import write_atomic
from ooc_sdk.image.keys import generate, read_key_file, write_key_file
from ooc_sdk.model import load_model
from ooc_sdk.plan.request import PlanRequest
from ooc_sdk.targets import load_flash, load_mcu

sys.path.insert(0, str(Path(__file__).parent))
from chromium import Chromium, find_chromium

from conftest import shared_model

IMG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
PLOTS = 3  # memory, energy, wear (a fused build adds its fusion timeline)
# matplotlib's tab:blue and tab:green: on the page only inside the plots (the CSS has neither)
PLOT_COLOURS = ((0x1F, 0x77, 0xB4), (0x2C, 0xA0, 0x2C))
# the status cells' backgrounds (ooc_sdk/audit/verdicts.py CSS)
STATUS_COLOURS = {
    PASS: (0x1B, 0x7F, 0x33),
    FAIL: (0xB3, 0x26, 0x1E),
    NOT_CHECKED: (0x66, 0x66, 0x66),
}
KEYS = ["budget", "exact", "latency", "energy", "lifetime"]
FIRST_SCREEN = (1200, 900)


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


@pytest.fixture(scope="module")
def kws_data(kws_report: dict[str, Any]) -> dict[str, Any]:
    """What the page of kws shows (:func:`collect`, one inference on the host emulator), with
    the CLI's default lifetime target."""
    device = read_key_file(kws_report["key"])
    return collect(kws_report["out"], device, inferences=1, limits=Limits(target_years=10))


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
    for key in DETAILS:  # folded
        assert f'<details id="{key}">' in page
    # in this order: the verdicts, the plots, the folded tables
    order = [page.index('<section id="verdicts">'), page.index('<section id="plots">')]
    order += [page.index(f'<details id="{key}">') for key in DETAILS]
    assert order == sorted(order) and page.index("<img") > order[0]
    assert page.index('<section id="plots">') < page.index("<img") < order[2]
    assert re.findall(r'data-verdict="(\w+)"', page) == KEYS
    pngs = [base64.b64decode(m, validate=True) for m in IMG.findall(page)]
    assert len(pngs) == page.count("<img") == PLOTS
    for png in pngs:
        w, h = _png_size(png)
        assert w >= 400 and h >= 100
    # the facts a sign-off needs, from build.json, plan.json and the audits
    for text in (
        # the verdicts, with the CLI's defaults: kws at 64 KiB passes all but energy, which has
        # no limit by default
        '\u2714 PASS</td><td><span class="title">Fits the SRAM budget',
        "25,600 of 65,536 B (39.1%)",
        '\u2714 PASS</td><td><span class="title">Bit-exact against tflite-micro',
        "22 of 22 runs identical",
        '\u2714 PASS</td><td><span class="title">Latency ratio',
        "Fits the 1 s between inferences at 1/s (--rate)",
        '\u2013 NOT CHECKED</td><td><span class="title">Energy per inference',
        "No energy budget given; to check: ooc report --max-energy-uj N",
        "unlimited by wear",
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


def test_text_is_escaped(kws_data: dict[str, Any]) -> None:
    evil = copy.deepcopy(kws_data)
    evil["info"]["model"]["name"] = '<script>alert("x")</script>'
    evil["energy"]["assumptions"].append("a < b & c > d")
    evil["exact"] = {"checked": False, "reason": "<img src=x onerror=alert(1)>", "how": "x"}
    page = render_html(evil)
    assert "<img src=x" not in page and "Not compared: &lt;img src=x onerror=alert(1)&gt;" in page
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
    for bad in (["--target-years", "0"], ["--max-latency-ratio", "-1"], ["--max-energy-uj", "x"]):
        page = tmp_path / "r.html"
        code = main(["report", str(out), "--device-key", str(kws_report["key"]), "-o", str(page),
                     *bad])  # fmt: skip
        assert code == 2 and not page.exists(), bad


# -- the verdicts on their inputs ------------------------------------------------------------------


def _verdicts(d: dict[str, Any]) -> dict[str, Any]:
    return {v.key: v for v in judge(d)}


def _spilling(d: dict[str, Any], target: float | None) -> dict[str, Any]:
    """``d`` with the wear of ResNet-8 spilling at 12 KiB into 16 scratch sectors (3.67 erases
    per inference: 5.05 days at 1/s), on a chip with 4,063 sectors outside the image."""
    d = copy.deepcopy(d)
    w = d["wear"]
    w["lifetime_years"] = 16 * 100_000 / (11 / 3) / (365.25 * 86400)
    w["lifetime_years_without_wear_leveling"] = w["lifetime_years"] / 16
    w["layout"].update(scratch_sectors=16, sector_bytes=4096, free_sectors=4047)
    w["endurance_cycles"] = 100_000
    if target is not None:
        w["target"] = propose_scratch(11 / 3, w["rate_per_s"], 100_000, target, sector_bytes=4096,
                                      current_sectors=16, available_sectors=4063)  # fmt: skip
    d["limits"]["target_years"] = target
    return d


def test_verdicts_pass_fail_and_not_checked(kws_data: dict[str, Any]) -> None:
    v = _verdicts(kws_data)
    assert [x.key for x in judge(kws_data)] == KEYS
    assert {k: x.status for k, x in v.items()} == {
        "budget": PASS, "exact": PASS, "latency": PASS, "energy": NOT_CHECKED, "lifetime": PASS,
    }  # fmt: skip
    assert v["exact"].value == "3 of 3 runs identical"  # the M4 out of core and in SRAM, 1 host
    assert "host NOR emulator (seed 0)" in v["exact"].detail

    # the lifetime: below, above and without a target; the scratch size or rate that meets it
    rn8 = _spilling(kws_data, 10)
    life = _verdicts(rn8)["lifetime"]
    assert (life.status, life.value) == (FAIL, "5.05 days at 1/s")
    assert "at most 4.98/h with the build's scratch" in life.detail  # 1/s x 5.05 days / 10 years
    assert "no scratch size on this chip at 1/s (11,572 sectors needed, 4,063 outside" in (
        life.detail
    )
    assert "Endurance 100,000 cycles" in life.detail and "16 scratch sectors (64.0 KiB)" in (
        life.detail
    )
    near = _spilling(kws_data, 0.01)  # 3.65 days: 12 sectors would do, the build has 16
    assert _verdicts(near)["lifetime"].status == PASS
    slow = _spilling(kws_data, 1.0)  # a year at 1/s: 1,158 sectors fit on the chip
    slow_v = _verdicts(slow)["lifetime"]
    assert slow_v.status == FAIL
    assert "1,158 scratch sectors at 1/s (ooc build --scratch 4632KiB), or at most" in (
        slow_v.detail
    )
    assert _verdicts(_spilling(kws_data, None))["lifetime"].status == NOT_CHECKED
    assert "ooc report --target-years Y" in _verdicts(_spilling(kws_data, None))["lifetime"].detail

    # the latency against the time between inferences, and a ratio limit
    fast = copy.deepcopy(kws_data)
    latency = float(kws_data["energy"]["time_s"]["latency"])  # kws: about 150 ms
    fast["wear"]["rate_per_s"] = 2.0 / latency  # half the latency between inferences
    lat = _verdicts(fast)["latency"]
    assert lat.status == FAIL and f"at most {rate_text(1.0 / latency)}." in lat.detail
    assert f"at {rate_text(2.0 / latency)} (--rate)" in lat.detail
    capped = copy.deepcopy(kws_data)
    capped["limits"]["max_latency_ratio"] = 1.1
    assert _verdicts(capped)["latency"].status == FAIL
    capped["limits"]["max_latency_ratio"] = 1.5
    assert _verdicts(capped)["latency"].status == PASS

    # the energy against a budget
    e = kws_data["energy"]["energy_uj_per_inference"]["total"]
    for limit, status in ((e * 1.01, PASS), (e * 0.99, FAIL)):
        budgeted = copy.deepcopy(kws_data)
        budgeted["limits"]["max_energy_uj"] = limit
        assert _verdicts(budgeted)["energy"].status == status

    # bit-exactness: a differing output, the oracle missing, the comparison skipped
    differ = copy.deepcopy(kws_data)
    differ["exact"]["mismatches"] = ["host NOR emulator, seed 0"]
    assert _verdicts(differ)["exact"].status == FAIL
    missing = copy.deepcopy(kws_data)
    missing["exact"] = {"checked": False, "reason": "tflite-micro is not installed: pip install "
                        "'ooc-sdk[golden]'", "how": "install it"}  # fmt: skip
    assert _verdicts(missing)["exact"].status == NOT_CHECKED
    assert "not installed" in _verdicts(missing)["exact"].detail
    missing["exact"] = skipped("skipped (--no-golden)", "run ooc report without --no-golden")
    assert _verdicts(missing)["exact"].value == "not compared"

    # the budget: a run that used more than the plan, no budget at all
    over = copy.deepcopy(kws_data)
    over["energy"]["run"]["sram_high_water_bytes"] = over["plan"]["sram_bytes"] + 1
    over_v = _verdicts(over)["budget"]
    assert over_v.status == FAIL
    assert over_v.detail.startswith(
        "The Cortex-M4 run used 25,601 B, more than the plan's 25,600 B"
    )
    unbounded = copy.deepcopy(kws_data)
    unbounded["plan"]["budget_bytes"] = None
    nb = _verdicts(unbounded)["budget"]
    assert nb.status == PASS and "the build was given no budget" in nb.detail


def _worst(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with every verdict failing and its longest sentence."""
    d = _spilling(d, 10)
    d["wear"]["rate_per_s"] = 10.0
    d["limits"].update(max_latency_ratio=1.0, max_energy_uj=1.0)
    d["energy"]["run"]["sram_high_water_bytes"] = d["plan"]["sram_bytes"] + 1
    d["plan"]["sram_bytes"] = d["plan"]["budget_bytes"] = 70_000  # over the MCU's 64 KiB
    d["exact"].update(runs=22, mismatches=[f"host NOR emulator, seed {i}" for i in range(20)])
    return d


# -- headless Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    exe = find_chromium()
    if exe is None:
        reason = "headless Chromium is not installed (scripts/install-toolchains.sh installs it)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)
    with Chromium(exe, tmp_path_factory.mktemp("chromium")) as b:
        yield b


# every verdict row's box and text, and the viewport it was laid out in
_MEASURE = """JSON.stringify({
  width: document.documentElement.clientWidth, height: document.documentElement.clientHeight,
  scrollWidth: document.documentElement.scrollWidth,
  rows: [...document.querySelectorAll("tr[data-verdict]")].map(r => {
    const b = r.getBoundingClientRect();
    return {key: r.dataset.verdict, cls: r.className, text: r.innerText,
            box: [b.left, b.top, b.right, b.bottom]};
  })
})"""


def _first_screen(b: Chromium, page: Path, shot: Path) -> dict[str, tuple[int, int, int]]:
    """Open ``page`` at 1200 x 900, check that every verdict lies within it, save the
    screenshot; the screenshot's pixel counts by colour."""
    b.open(page.as_uri(), *FIRST_SCREEN)
    assert b.errors == []
    m = json.loads(b.evaluate(_MEASURE))
    assert m["width"] <= FIRST_SCREEN[0] and m["height"] == FIRST_SCREEN[1]
    assert m["scrollWidth"] <= FIRST_SCREEN[0], "the page scrolls sideways"
    assert [r["key"] for r in m["rows"]] == KEYS
    for r in m["rows"]:
        left, top, right, bottom = r["box"]
        assert right > left and bottom > top, r
        assert min(left, top) >= 0 and right <= m["width"] and bottom <= m["height"], (
            f"the {r['key']} verdict lies outside the first {FIRST_SCREEN} pixels: {r['box']}"
        )
        status = r["cls"].split()[-1].replace("-", " ")
        assert status in (PASS, FAIL, NOT_CHECKED)
        assert status.upper() in r["text"], r  # the status as a word, not colour alone
    png = b.screenshot(shot)
    assert _png_size(png) == FIRST_SCREEN
    return _pixels(shot)[2]


def test_first_screen_shows_the_verdicts(
    browser: Chromium, kws_report: dict[str, Any], kws_data: dict[str, Any], tmp_path: Path
) -> None:
    counts = _first_screen(browser, kws_report["page"], tmp_path / "first-screen.png")
    # the status cells are drawn: green for the passes, grey for the energy not checked
    assert counts.get(STATUS_COLOURS[PASS], 0) > 4000
    assert counts.get(STATUS_COLOURS[NOT_CHECKED], 0) > 1000
    # every verdict failing, with its longest sentence, still fits the first screen
    worst = tmp_path / "worst.html"
    worst.write_text(render_html(_worst(kws_data)))
    statuses = {v.key: v.status for v in judge(_worst(kws_data))}
    assert set(statuses.values()) == {FAIL}, statuses
    counts = _first_screen(browser, worst, tmp_path / "worst.png")
    assert counts.get(STATUS_COLOURS[FAIL], 0) > 5000


def _pixels(png: Path) -> tuple[int, set[tuple[int, int, int]], dict[tuple[int, int, int], int]]:
    from PIL import Image

    with Image.open(png) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 24) or []
    counts = {c: n for n, c in colours}
    return rgb.width * rgb.height, set(counts), counts


def test_page_in_headless_chromium(
    browser: Chromium, kws_report: dict[str, Any], tmp_path: Path
) -> None:
    # the error check is not vacuous: a page with a failing script is caught
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><script>throw new Error("broken page")</script>\n')
    browser.open(bad.as_uri(), 400, 300)
    assert any("broken page" in m for m in browser.errors), browser.errors

    page = kws_report["page"]
    browser.open(page.as_uri(), 1200, 3000)
    assert browser.errors == []
    shot = tmp_path / "shot.png"
    assert _png_size(browser.screenshot(shot)) == (1200, 3000)
    total, colours, counts = _pixels(shot)
    assert len(colours) > 50, f"the screenshot looks blank: {len(colours)} colours"
    white = counts.get((255, 255, 255), 0)
    assert white < 0.95 * total, f"the screenshot is {white / total:.0%} white"
    # the memory and energy plots are on screen: their matplotlib colours cover real area
    for colour in PLOT_COLOURS:
        assert counts.get(colour, 0) > 2000, f"no plot colour {colour} in the screenshot"

    # the DOM as Chromium parsed it: every section, every folded detail, every plot decoded
    dom = json.loads(
        browser.evaluate(
            'JSON.stringify({sections: [...document.querySelectorAll("section")].map(s => s.id),'
            ' details: [...document.querySelectorAll("details")].map(d => [d.id, d.open]),'
            " images: [...document.images].map(i => [i.complete, i.naturalWidth])})"
        )
    )
    assert dom["sections"] == list(SECTIONS)
    assert dom["details"] == [[key, False] for key in DETAILS]  # folded
    assert len(dom["images"]) == PLOTS
    assert all(done and width >= 400 for done, width in dom["images"]), dom["images"]
