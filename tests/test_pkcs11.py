"""The factory master key in a PKCS#11 token (ooc_sdk/image/pkcs11.py) against SoftHSM2: the
token derives exactly what the file keystore derives, never gives the master secret out, every
misconfiguration is one line, and three QEMU devices provisioned from the token each run their
model bit-exact with tflite-micro."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ooc_sdk.build.directory import BuildDir
from ooc_sdk.errors import InvalidArgumentError, OocError, ToolError
from ooc_sdk.image import crypto
from ooc_sdk.image.keystore import LABEL_ROOT_KEY, SecretKeystore, open_keystore
from ooc_sdk.image.pkcs11 import (
    ENV_MODULE,
    ENV_PIN,
    Pkcs11Uri,
    TokenError,
    create_master,
    open_pkcs11,
)
from ooc_sdk.model import load_model
from ooc_sdk.model.inputs import random_inputs
from ooc_sdk.provisioning.programmers import qemu_device_dir
from ooc_sdk.provisioning.registry import Registry
from ooc_sdk.provisioning.station import load_batch
from ooc_sdk.run.golden import run_tflm
from ooc_sdk.run.qemu import run_build_m4

sys.path.insert(0, str(Path(__file__).parent))
from conftest import SoftHsm, shared_model
from conftest import ooc_cli as _ooc

MASTER = bytes(range(32))
MASTER16 = bytes(range(100, 116))
UIDS = [bytes(16), bytes(range(16)), b"\xff" * 16, b"OOC\x00" + bytes(11) + b"\x07"]
MODEL = "kws_ref_model.tflite"


def _one_line_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr


@pytest.fixture
def pin(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV_PIN, softhsm.pin)
    return softhsm.pin


@pytest.fixture
def pin_file(softhsm: SoftHsm, tmp_path: Path) -> Path:
    path = tmp_path / "token.pin"
    path.write_text(softhsm.pin + "\n")
    path.chmod(0o600)
    return path


def test_the_uri_subset_ooc_reads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    u = Pkcs11Uri.parse(
        "pkcs11:token=Factory%20A;object=ooc-master;type=secret-key"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%3B34"
    )
    assert (u.token, u.object, u.module_path, u.pin()) == (
        "Factory A", "ooc-master", "/usr/lib/softhsm/libsofthsm2.so", "12;34"
    )  # fmt: skip
    assert "12;34" not in str(u) and "12;34" not in repr(u)
    bare = Pkcs11Uri.parse("pkcs11:object=k;token=t")
    monkeypatch.delenv(ENV_PIN, raising=False)
    monkeypatch.delenv(ENV_MODULE, raising=False)
    with pytest.raises(InvalidArgumentError, match=ENV_PIN):
        bare.pin()
    with pytest.raises(InvalidArgumentError, match=ENV_MODULE):
        bare.module()
    monkeypatch.setenv(ENV_PIN, "from-env")
    monkeypatch.setenv(ENV_MODULE, "/m.so")
    assert (bare.pin(), bare.module()) == ("from-env", "/m.so")
    pin = tmp_path / "pin"
    pin.write_text("from-file\nignored\n")
    pin.chmod(0o600)
    assert Pkcs11Uri.parse(f"pkcs11:token=t;object=k?pin-source=file:{pin}").pin() == "from-file"
    assert Pkcs11Uri.parse(f"pkcs11:token=t;object=k?pin-source={pin}").pin() == "from-file"
    pin.chmod(0o644)
    with pytest.raises(InvalidArgumentError, match="chmod 600"):
        Pkcs11Uri.parse(f"pkcs11:token=t;object=k?pin-source={pin}").pin()
    for bad, why in [
        ("file:/master.key", "pkcs11: URI"),
        ("pkcs11:token=t", "no object"),
        ("pkcs11:object=k", "no token"),
        ("pkcs11:token=t;object=k;id=%01", "'id' is not one"),
        ("pkcs11:token=t;object=k;type=private-key", "secret-key"),
        ("pkcs11:token=t;token=u;object=k", "twice"),
        ("pkcs11:token=t;object=k?pin-value=1&pin-source=/p", "not both"),
        ("pkcs11:token=t;object=k?slot-id=0", "'slot-id' is not one"),
    ]:
        with pytest.raises(InvalidArgumentError, match=why):
            Pkcs11Uri.parse(bad)


def test_the_token_derives_exactly_what_the_master_key_file_derives(
    softhsm: SoftHsm, pin: str
) -> None:
    for label, master in (("same-256", MASTER), ("same-128", MASTER16)):
        soft = SecretKeystore(master)
        with create_master(softhsm.uri(label), soft):
            pass
        with open_pkcs11(softhsm.uri(label)) as token:
            assert token.key_bytes == len(master)
            assert token.key_id == soft.key_id
            for uid in UIDS:
                for size in crypto.KEY_SIZES:
                    assert token.device_key(uid, size) == soft.device_key(uid, size)
            # one to three KDF blocks, each one C_Sign in the token
            for length in (8, 16, 24, 32, 48):
                want = crypto.kdf(master, LABEL_ROOT_KEY, b"ctx", length)
                assert token.kdf(LABEL_ROOT_KEY, b"ctx", length) == want
            build_id, content_key = bytes(range(16, 32)), bytes(range(200, 232))
            wrapped = token.wrap_batch_key(build_id, content_key)
            assert wrapped == soft.wrap_batch_key(build_id, content_key)
            assert soft.unwrap_batch_key(build_id, wrapped) == content_key
            assert token.unwrap_batch_key(build_id, wrapped) == content_key
            with pytest.raises(InvalidArgumentError, match="does not unwrap"):
                token.unwrap_batch_key(bytes(16), wrapped)
            with pytest.raises(InvalidArgumentError, match="UID must be 16 bytes"):
                token.device_key(bytes(15))
    # a key generated in the token: it never existed outside, and it derives the same on reopen
    with create_master(softhsm.uri("generated-128"), key_bytes=16) as gen:
        first = (gen.key_id, gen.device_key(UIDS[1]))
        assert gen.key_bytes == 16
    with open_pkcs11(softhsm.uri("generated-128")) as gen:
        assert (gen.key_id, gen.device_key(UIDS[1])) == first
        assert first[0] != SecretKeystore(MASTER16).key_id
        # a second keystore of this process on the token (PKCS#11 login is per process)
        with open_pkcs11(softhsm.uri("same-256")) as other:
            assert other.device_key(UIDS[1]) == SecretKeystore(MASTER).device_key(UIDS[1])
        assert gen.device_key(UIDS[2]) != first[1]


def test_the_token_refuses_to_give_out_the_master_secret(softhsm: SoftHsm, pin: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass

    with create_master(softhsm.uri("refuse-imported"), SecretKeystore(MASTER)):
        pass
    with create_master(softhsm.uri("refuse-generated")):
        pass
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
    with token.open(user_pin=softhsm.pin, rw=True) as session:
        wrapper = session.generate_key(
            KeyType.AES, 256, capabilities=MechanismFlag.WRAP | MechanismFlag.ENCRYPT
        )
        for label in ("refuse-imported", "refuse-generated"):
            key = session.get_key(ObjectClass.SECRET_KEY, label=label)
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
            assert key[Attribute.TOKEN] and key[Attribute.PRIVATE]
            if label == "refuse-generated":
                assert key[Attribute.ALWAYS_SENSITIVE] and key[Attribute.NEVER_EXTRACTABLE]
            with pytest.raises(pkcs11.AttributeSensitive):
                key[Attribute.VALUE]
            with pytest.raises(pkcs11.KeyUnextractable):
                wrapper.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP)
            # nor can the attributes be flipped or the key copied with other ones
            for attr, value in ((Attribute.EXTRACTABLE, True), (Attribute.SENSITIVE, False)):
                with pytest.raises(pkcs11.PKCS11Error):
                    key[attr] = value
                with pytest.raises(pkcs11.PKCS11Error):
                    key.copy({attr: value})
            # the only thing it does: AES-CMAC (no raw encryption, wrapping or derivation)
            uses = (Attribute.ENCRYPT, Attribute.DECRYPT, Attribute.WRAP, Attribute.UNWRAP)
            assert not any(key[a] for a in (*uses, Attribute.DERIVE)) and key[Attribute.SIGN]
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        # a key someone made exportable is not one ooc will use as a master key
        session.generate_key(
            KeyType.AES, 256, label="loose", store=True, capabilities=MechanismFlag.SIGN,
            template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )  # fmt: skip
        session.generate_key(
            KeyType.AES, 256, label="cannot-sign", store=True,
            capabilities=MechanismFlag.ENCRYPT, template={Attribute.EXTRACTABLE: False},
        )  # fmt: skip
    # (the imported value is not on disk in the clear either: SoftHSM2 encrypts private objects)
    for path in (softhsm.conf.parent / "tokens").rglob("*"):
        assert not path.is_file() or MASTER not in path.read_bytes()
    with pytest.raises(TokenError, match="can be exported"):
        open_keystore(keystore=softhsm.uri("loose"))
    with pytest.raises(TokenError, match="cannot sign"):
        open_keystore(keystore=softhsm.uri("cannot-sign"))


def test_without_python_pkcs11_a_token_keystore_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pkcs11", None)
    with pytest.raises(ToolError, match=r"pip install 'ooc-sdk\[pkcs11\]'"):
        open_keystore(keystore="pkcs11:token=t;object=k?module-path=/m.so&pin-value=1")


def test_token_misconfigurations_are_one_line_errors(
    softhsm: SoftHsm, pin_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PIN, raising=False)
    monkeypatch.delenv(ENV_MODULE, raising=False)
    src = f"pin-source=file:{pin_file}"
    master = tmp_path / "master.key"
    SecretKeystore(MASTER).write(master)
    r = _ooc(
        "provision", "master-key", "--keystore", softhsm.uri("cli", src), "--import", str(master)
    )
    assert r.returncode == 0, r.stderr
    assert SecretKeystore(MASTER).key_id.hex() in r.stdout and "non-extractable" in r.stdout
    assert master.read_bytes() == SecretKeystore(MASTER).to_bytes()
    empty = tmp_path / "no-build"
    empty.mkdir()
    loose_pin = tmp_path / "loose.pin"
    loose_pin.write_text(softhsm.pin)
    loose_pin.chmod(0o644)
    cases = [
        (softhsm.uri("cli", src).replace("=ooc-test", "=no-such-token"), {}, "no token labelled"),
        (softhsm.uri("cli"), {ENV_PIN: "wrong-pin"}, "wrong PIN"),
        (softhsm.uri("no-such-key", src), {}, "holds no secret key labelled 'no-such-key'"),
        (
            softhsm.uri("cli", src).replace(str(softhsm.module), "/no/libpkcs11.so"),
            {},
            "cannot load",
        ),
        (softhsm.uri("cli", src).replace(str(softhsm.module), str(master)), {}, "cannot load"),
        (softhsm.uri("cli"), {}, f"no PIN for token ooc-test: set {ENV_PIN}"),
        (softhsm.uri("cli", f"pin-source={loose_pin}"), {}, "chmod 600"),
        (f"pkcs11:token=ooc-test;object=cli?{src}", {}, "no PKCS#11 module: give module-path"),
        ("pkcs11:token=ooc-test", {}, "names no object"),
    ]
    for uri, env, why in cases:
        # anything that opens the keystore: a station run and a batch build
        _one_line_error(
            _ooc("provision", "run", "--image", str(empty), "--programmer", "file",
                 "--registry", str(tmp_path / "reg.sqlite"), "--keystore", uri, env=env), why,
        )  # fmt: skip
    _one_line_error(
        _ooc("build", str(shared_model(MODEL)), "--sram", "32KiB", "-o", str(tmp_path / "o"),
             "--keystore", softhsm.uri("cli", src).replace("=ooc-test", "=gone")),
        "no token labelled 'gone'",
    )  # fmt: skip
    assert not (tmp_path / "o").exists()
    both = ("--master-key", str(master), "--keystore", softhsm.uri("cli", src))
    _one_line_error(
        _ooc("provision", "run", "--image", str(empty), "--programmer", "file",
             "--registry", str(tmp_path / "reg.sqlite"), *both),
        "give --master-key or --keystore, not both",
    )  # fmt: skip
    # master-key: a token's key is never replaced, and its options go together
    key_id = SecretKeystore(MASTER).key_id.hex()
    for args, why in [
        (("--keystore", softhsm.uri("cli", src)), "never replaced"),
        (("--keystore", softhsm.uri("cli", src), "--import", str(master)), "never replaced"),
        (("--keystore", softhsm.uri("new", src), "--force"), "never replaced"),
        (("-o", str(tmp_path / "x.key"), "--keystore", softhsm.uri("new", src)), "one of them"),
        ((), "one of them"),
        (("-o", str(tmp_path / "x.key"), "--import", str(master)), "--import goes with"),
    ]:
        _one_line_error(_ooc("provision", "master-key", *args), why)
    assert not (tmp_path / "x.key").exists()
    with open_pkcs11(softhsm.uri("cli", src)) as ks:
        assert ks.key_id.hex() == key_id


@pytest.mark.slow
def test_three_qemu_devices_provisioned_from_a_token_each_run_bit_exact(
    softhsm: SoftHsm, pin_file: Path, tmp_path: Path
) -> None:
    """End to end with the master key only in the token: import it, build a batch, provision
    three emulated devices, run each under QEMU. The PIN is in a file, never on a command line."""
    model = shared_model(MODEL)
    master, out = tmp_path / "master.key", tmp_path / "release"
    soft = SecretKeystore(MASTER)
    soft.write(master)
    uri = softhsm.uri("factory", f"pin-source=file:{pin_file}")
    r = _ooc("provision", "master-key", "--keystore", uri, "--import", str(master))
    assert r.returncode == 0 and soft.key_id.hex() in r.stdout, r.stderr
    r = _ooc("build", str(model), "--sram", "32KiB", "--flash", "w25q128jv", "--mcu",
             "cortex-m4", "--keystore", uri, "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert BuildDir.open(out).info.batch.master_key_id == soft.key_id.hex()  # type: ignore[union-attr]
    load_batch(out, soft)  # the token sealed the batch key exactly as the file would have
    reg, line = tmp_path / "reg.sqlite", tmp_path / "line"
    r = _ooc("provision", "run", "--image", str(out), "--programmer", "qemu", "--keystore", uri,
             "--registry", str(reg), "--out", str(line), "--count", "3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    with Registry.open(reg, create=False) as registry:
        uids = [bytes.fromhex(d.uid) for d in registry.devices("verified")]
        assert registry.verify_chain().ok
    assert len(uids) == 3
    graph = load_model(model)
    x = random_inputs(graph, 5)
    ref = run_tflm(model, x)
    for uid in uids:
        d = qemu_device_dir(line, uid)
        got = run_build_m4(
            out, graph, soft.device_key(uid), [x], flash_file=d / "flash.bin",
            keystore=d / "keystore.bin",
        )  # fmt: skip
        for a, b in zip(got.outputs[0], ref.outputs, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_open_keystore_names_both_options_when_given_both(tmp_path: Path) -> None:
    with pytest.raises(OocError) as e:
        open_keystore(tmp_path / "m.key", keystore="pkcs11:token=t;object=k")
    assert e.value.params == ("master_key", "keystore")
