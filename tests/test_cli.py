"""The command line: every command's --help, JSON output, one-line errors with status 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest

from conftest import shared_model
from ooc_sdk.cli import cli, main, options
from ooc_sdk.errors import InvalidArgumentError
from ooc_sdk.model import load_model
from ooc_sdk.plan.budget import plan_in_core
from ooc_sdk.plan.fusion.graph import output_bytes
from ooc_sdk.plan.fusion.model import FusionError
from ooc_sdk.plan.fusion.search import plan_fusion
from ooc_sdk.plan.schedule import RUNTIME_STATE_BYTES, STACK_BOUND_BYTES
from ooc_sdk.run.qemu import fused_ram_bytes
from ooc_sdk.units import format_size

# Every command (group path) the CLI has. A new command without an entry here fails
# test_every_command_is_listed, so its --help and errors get tested.
COMMANDS = [
    "inspect",
    "zoo",
    "golden",
    "codegen",
    "run",
    "keygen",
    "pack",
    "signing-key",
    "verify",
    "dumpinfo",
    "plan",
    "build",
    "device",
    "device list",
    "device show",
    "device export",
    "device audit",
    "device import",
    "registry",
    "registry migrate",
    "provision",
    "provision master-key",
    "provision run",
    "audit",
    "audit energy",
    "audit wear",
    "report",
    "approx",
]


def _all_commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        names.append(path)
        if isinstance(cmd, click.Group):
            names.extend(_all_commands(cmd, path + " "))
    return names


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_command_is_listed() -> None:
    assert sorted(_all_commands(cli)) == sorted(COMMANDS)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, *command.split(), "--help")
    assert code == 0 and err == ""
    assert "Usage: ooc" in out
    assert len(out.splitlines()) > 5


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """The SDK's version, then the C runtime's (ooc.h), the tables' and the image format's."""
    from ooc_sdk import __version__
    from ooc_sdk.formats.image import FORMAT_VERSION
    from ooc_sdk.formats.tables import MODEL_VERSION

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.splitlines() == [
        f"ooc, version {__version__}",
        f"C runtime 0.1, model tables version {MODEL_VERSION}, image format version {FORMAT_VERSION}",
    ]


def test_runtime_dir(capsys: pytest.CaptureFixture[str]) -> None:
    """In a checkout (an editable install) the runtime is the checkout's c_runtime/; the wheel's
    own is tests/test_wheel.py's."""
    from conftest import ROOT
    from ooc_sdk import runtime_dir

    code, out, err = run(capsys, "--runtime-dir")
    assert code == 0 and err == ""
    assert Path(out.strip()) == runtime_dir() == ROOT / "c_runtime"
    assert (runtime_dir() / "cmake" / "oocConfig.cmake").is_file()


def test_inspect_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "inspect", str(shared_model("vww_96_int8.tflite")))
    assert code == 0 and err == ""
    assert "DEPTHWISE_CONV_2D" in out
    assert "7,489,664" in out and "peak activation" in out


def test_inspect_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--json", str(shared_model("kws_ref_model.tflite")))
    assert code == 0
    data = json.loads(out)
    assert {"macs", "weight_bytes", "layers", "peak_activation_bytes"} <= set(data)
    assert data["macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["weight_bytes"] == sum(layer["weight_bytes"] for layer in data["layers"])
    assert data["peak_activation_bytes"] == max(
        layer["act_in_bytes"] + layer["act_out_bytes"] for layer in data["layers"]
    )
    assert len(data["layers"]) == 13


def test_zoo_then_golden(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    code, out, _ = run(
        capsys, "zoo", "resnet8", "--width", "4", "--resolution", "16", "-o", str(model), "--json"
    )
    assert code == 0
    info = json.loads(out)
    assert info["weight_bytes"] > 0 and model.stat().st_size == info["file_bytes"]
    npy = tmp_path / "out.npy"
    code, out, _ = run(
        capsys, "golden", str(model), "--seed", "0x3", "--output", str(npy), "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["arena_bytes"] > 0
    assert np.load(npy).shape == tuple(data["outputs"][0]["shape"]) == (1, 10)
    x = tmp_path / "in.npy"
    np.save(x, np.zeros((1, 16, 16, 3), np.int8))
    code, out, _ = run(capsys, "golden", str(model), "-i", str(x))
    assert code == 0 and "output 0: int8[1, 10]" in out


def test_run_matches_golden(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = str(shared_model("kws_ref_model.tflite"))
    code, out, _ = run(
        capsys, "run", model, "--seed", "5", "--json", "-o", str(tmp_path / "ours.npy")
    )
    assert code == 0
    ours = json.loads(out)
    assert ours["arena_bytes"] == 16000 and ours["invoke_seconds"] > 0
    code, out, _ = run(capsys, "golden", model, "--seed", "5", "--json")
    assert code == 0 and json.loads(out)["outputs"] == ours["outputs"]
    assert np.load(tmp_path / "ours.npy").shape == (1, 12)


def test_codegen_writes_a_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "codegen", str(shared_model("kws_ref_model.tflite")), "-o", str(tmp_path), "--json"
    )
    assert code == 0
    info = json.loads(out)
    assert info["arena_bytes"] == 16000 and Path(info["model_c"]).exists()
    assert (tmp_path / "ooc_runtime" / "include" / "ooc" / "ooc.h").exists()


def test_zoo_weights_option(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(
        capsys, "zoo", "ds-cnn", "--weights", "64KiB", "-o", str(tmp_path / "a.tflite"), "--json"
    )
    assert code == 0 and json.loads(out)["weight_bytes"] >= 65536


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["inspect", "{kws}"], "SVDF"),
        (["inspect", "{kws}"], "ooc supports ADD, ARG_MAX, ARG_MIN, AVERAGE_POOL_2D"),
        (["inspect", "{trunc}"], "truncated"),
        (["inspect", "{random}"], "not a TFLite model"),
        (["inspect", "{missing}"], "does not exist"),
        (["inspect"], "Missing argument"),
        (["zoo", "nope", "-o", "{tmp}/x.tflite"], "unknown architecture"),
        (["zoo", "ds-cnn", "-o", "{tmp}/x.tflite", "--weights", "12XB"], "unknown size unit"),
        (["zoo", "ds-cnn", "-o", "{tmp}/x.tflite", "--seed", "abc"], "not an integer"),
        (["zoo", "autoencoder", "-o", "{tmp}/x.tflite", "--resolution", "32"], "no --resolution"),
        (["zoo", "ds-cnn", "-o", "{tmp}/no/such/dir/x.tflite"], "cannot write"),
        (["golden", "{kws}"], "SVDF"),
        (["golden", "{vww}", "-i", "{random}"], "not a .npy"),
        (["frobnicate"], "No such command"),
        (["run", "{kws}"], "SVDF"),
        (["run", "{vww}", "-i", "{wrong}"], "must be int8 [1, 96, 96, 3]"),
        (["run", "{vww}", "--repeat", "0"], "--repeat"),
        (["codegen", "{kws}", "-o", "{tmp}/gen"], "SVDF"),
        (["codegen", "{vww}", "-o", "{file}"], "is a file"),
        (["keygen", "-o", "{key}"], "exists; pass --force"),
        (["keygen", "-o", "{tmp}/k2.key", "--uid", "zz"], "not hex"),
        (["pack", "{vww}", "--device-key", "{random}", "-o", "{tmp}/img"], "chmod 600"),
        (["pack", "{kws}", "--device-key", "{key}", "-o", "{tmp}/img"], "SVDF"),
        (
            ["pack", "{vww}", "--device-key", "{key}", "-o", "{tmp}/img", "--flash", "nope"],
            "unknown flash profile",
        ),
        (
            ["pack", "{vww}", "--device-key", "{key}", "-o", "{tmp}/i", "--scratch", "1000"],
            "erase sector",
        ),
        (
            ["pack", "{vww}", "--device-key", "{key}", "-o", "{tmp}/i", "--chunk-size", "16"],
            "chunk size",
        ),
        (["verify", "{random}", "--device-key", "{key}"], "not an ooc image"),
        (["verify", "{tmp}", "--device-key", "{key}"], "does not exist"),
        (["dumpinfo", "{random}"], "not an ooc image"),
        (["plan", "{vww}", "--sram", "16KiB", "--no-fuse"], "needs at least"),
        (["plan", "{vww}", "--sram", "4KiB"], "set by operator"),
        (["plan", "{vww}", "--mcu", "nope"], "unknown MCU profile"),
        (["plan", "{kws}"], "SVDF"),
        (
            ["build", "{vww}", "--sram", "8KiB", "--device-key", "{key}", "-o", "{tmp}/b"],
            "smallest fused schedule found needs",  # per layer, then fused: neither fits
        ),
        (
            [
                "build",
                "{vww}",
                "--sram",
                "24KiB",
                "--no-fuse",
                "--device-key",
                "{key}",
                "-o",
                "{tmp}/b",
            ],
            "needs at least",
        ),
        (["build", "{vww}", "--device-key", "{random}", "-o", "{tmp}/b"], "chmod 600"),
        (["run", "{tmp}"], "not an ooc build directory"),
        (["run", "{tmp}", "--device-key", "{key}"], "not an ooc build directory"),
        (["run", "{vww}", "--device-key", "{key}"], "apply to a build directory"),
        (["run", "{vww}", "--fuse", "--sram", "64KiB", "--working-sram", "8KiB"], "not both"),
        (["run", "{vww}", "--working-sram", "8KiB"], "--working-sram needs --fuse"),
        (["run", "{tmp}", "--working-sram", "8KiB"], "--working-sram apply to a MODEL"),
        (
            ["codegen", "{vww}", "-o", "{tmp}/g", "--fuse", "--sram", "1", "--working-sram", "1"],
            "not both",
        ),
        (["codegen", "{vww}", "-o", "{tmp}/g", "--fuse", "--sram", "8KiB"], "needs 14.0 KiB"),
        (["plan", "{vww}", "--fuse", "--sram", "64KiB", "--working-sram", "8KiB"], "not both"),
        (["plan", "{vww}", "--sram", "64KiB", "--working-sram", "8KiB"], "not both"),
        (["plan", "{vww}", "--working-sram", "3KiB"], "working SRAM of 3.0 KiB"),
        (["plan", "{vww}", "--no-fuse", "--fuse"], "not both"),
        (["plan", "{vww}", "--in-core", "--no-spill"], "restrict the out-of-core planner"),
        (["plan", "{vww}", "--sram", "8KiB", "--no-fuse", "--max-mac-overhead", "2"], "not with"),
        (["plan", "{vww}", "--fuse", "--out-of-core", "--working-sram", "8KiB"], "in core"),
        (["plan", "{vww}", "--fuse", "--working-sram", "8KiB"], "working SRAM of 8.0 KiB"),
        (["plan", "{vww}", "--fuse", "--sram", "8KiB"], "SRAM budget of 8.0 KiB"),
        (["plan", "{vww}", "--in-core", "--sram", "8KiB"], "SRAM budget of 8.0 KiB"),
        (["zoo", "ds-cnn", "-o", "{tmp}/x.tflite", "--depth", "99"], "--depth must be in"),
    ],
)
def test_errors_are_one_line_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], needle: str
) -> None:
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(shared_model("vww_96_int8.tflite").read_bytes()[:5000])
    rnd = tmp_path / "random.bin"
    rnd.write_bytes(np.random.default_rng(1).bytes(3000))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((1, 96, 96, 3), np.float32))
    key = tmp_path / "dev.key"
    assert main(["keygen", "-o", str(key)]) == 0
    capsys.readouterr()
    subst = {
        "key": str(key),
        "kws": str(shared_model("keyword_scrambled_8bit.tflite")),
        "vww": str(shared_model("vww_96_int8.tflite")),
        "trunc": str(trunc),
        "random": str(rnd),
        "missing": str(tmp_path / "missing.tflite"),
        "tmp": str(tmp_path),
        "wrong": str(wrong),
        "file": str(rnd),
    }
    code, out, err = run(capsys, *[a.format(**subst) for a in argv])
    assert code == 2
    assert out == ""
    # `ooc build` reports progress ("[1/4] planning ...") on stderr before a failure
    err = "\n".join(ln for ln in err.splitlines() if not ln.startswith("[")) + "\n"
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("ooc: error: ") and needle in err


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    """The installed `ooc` entry point, as a user runs it."""
    exe = shutil.which("ooc") or shutil.which("ooc", path=str(Path(sys.executable).parent))
    assert exe, "the ooc console script is not installed"
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(64))
    proc = subprocess.run([exe, "inspect", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_every_command_names_its_flags_in_library_errors() -> None:
    """Every command is an options.Command (its InvalidArgumentErrors get its flags), every
    group an options.Group."""

    def walk(group: click.Group) -> list[click.Command]:
        cmds = list(group.commands.values())
        return cmds + [c for g in cmds if isinstance(g, click.Group) for c in walk(g)]

    for cmd in walk(cli):
        assert isinstance(cmd, options.Group if isinstance(cmd, click.Group) else options.Command)


def test_cli_modules_import_no_private_names() -> None:
    """The cli package's modules share only public names (lint-imports checks that command
    modules import none of each other)."""
    import ast

    package = Path(options.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ooc_sdk.cli"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_python_m_ooc_sdk_is_the_cli() -> None:
    for module in ("ooc_sdk", "ooc_sdk.cli"):
        proc = subprocess.run(
            [sys.executable, "-m", module, "plan", "--help"], capture_output=True, text=True
        )
        assert proc.returncode == 0 and "--working-sram" in proc.stdout, proc.stderr


def test_param_names_become_flags() -> None:
    """A library error names parameters (`name`); the CLI writes the failing command's flag for
    each, through PARAM_OPTIONS where the option has another name, and leaves the others."""

    @options.command()
    @click.option("--scratch", type=int)
    @click.option("--rate")
    def fake(scratch: int | None, rate: str | None) -> None:
        raise InvalidArgumentError(
            "`scratch_bytes` 5 bytes is too small; `rate` `rate` and `inferences` and rate",
            param=("scratch_bytes", "rate", "inferences"),
        )

    with pytest.raises(InvalidArgumentError) as err:
        fake.main([], standalone_mode=False)
    assert str(err.value) == (
        "--scratch 5 bytes is too small; --rate --rate and `inferences` and rate"
    )
    assert err.value.params == ("scratch_bytes", "rate", "inferences")


KWS = "kws_ref_model.tflite"


def test_working_sram_gives_the_plans_sram_gave_before(capsys: pytest.CaptureFixture[str]) -> None:
    """--working-sram B is the working SRAM budget that --sram B was on `ooc plan --fuse`,
    `ooc codegen --fuse` and `ooc run MODEL --fuse` before: the same schedule."""
    graph = load_model(shared_model(KWS))
    want = plan_fusion(graph, sram=6 * 1024)
    code, out, _ = run(capsys, "plan", str(shared_model(KWS)), "--fuse", "--working-sram", "6KiB",
                       "--json")  # fmt: skip
    assert code == 0
    got = json.loads(out)
    same = {
        k: v for k, v in want.to_json().items() if k not in ("search_seconds", "sram_budget_bytes")
    }
    assert {k: got[k] for k in same} == same
    assert got["working_sram_budget_bytes"] == 6 * 1024 and got["sram_budget_bytes"] is None
    assert got["sram_bytes"] == want.arena_bytes + RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    assert plan_in_core(graph, fuse=True, working_sram=6 * 1024).digest == want.digest


def test_sram_is_the_whole_budget_in_core(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--sram B on an in-core fused command: the fused arena + runtime state + stack fit B (what
    the M4 firmware links into), and a B below the minimum names the minimum, which works."""
    model = str(shared_model(KWS))
    graph = load_model(shared_model(KWS))
    overhead = RUNTIME_STATE_BYTES + STACK_BOUND_BYTES
    for budget in (10_000, 12 * 1024, 64 * 1024):
        code, out, _ = run(capsys, "plan", model, "--in-core", "--sram", str(budget), "--json")
        assert code == 0
        j = json.loads(out)
        assert j["sram_bytes"] == j["arena_bytes"] + overhead <= budget
        assert j["sram_budget_bytes"] == budget
        assert j["working_sram_budget_bytes"] == budget - output_bytes(graph) - overhead
        fp = plan_in_core(graph, fuse=True, sram=budget)
        assert fp is not None and fused_ram_bytes(fp) == j["sram_bytes"]
        # the same schedule as the working budget the whole one leaves
        assert fp.digest == plan_fusion(graph, sram=j["working_sram_budget_bytes"]).digest
    code, out, _ = run(capsys, "codegen", model, "-o", str(tmp_path), "--fuse", "--sram", "11KiB",
                       "--json")  # fmt: skip
    assert code == 0
    info = json.loads(out)
    assert info["sram_bytes"] == info["arena_bytes"] + overhead <= 11 * 1024
    with pytest.raises(FusionError) as err:
        plan_in_core(graph, fuse=True, sram=9 * 1024)
    least = err.value.minimum
    assert least is not None and least > 9 * 1024
    assert f"needs {format_size(least)} ({least} bytes: working SRAM" in str(err.value)
    fp = plan_in_core(graph, fuse=True, sram=least)
    assert fp is not None and fp.arena_bytes + overhead <= least
    code, _, err_text = run(capsys, "run", model, "--fuse", "--sram", "9KiB")
    assert code == 2 and f"needs {format_size(least)} ({least} bytes" in err_text
