"""The factory keystore in a PKCS#11 token: the master secret as a non-extractable AES key.

The token holds the master secret as an AES secret key object with CKA_SENSITIVE = true and
CKA_EXTRACTABLE = false (and CKA_MODIFIABLE = CKA_COPYABLE = false, so neither can be undone),
usable only for CKM_AES_CMAC signing. Every derivation of :class:`~ooc_sdk.image.keystore.
SecretKeystore` is computed the same way, bit for bit, with the token doing each step that
touches the master secret: the SP 800-108 counter-mode KDF's output is blocks K(i) =
AES-CMAC(master, [i]_32 || label || 0x00 || context || [L]_32), and each block is one
C_Sign(CKM_AES_CMAC) in the token (docs/FORMAT.md, "Master key in a PKCS#11 token"). What leaves
the token is derived values only (a device's root key, which the station programs anyway; the
master key id; one build's batch key-encryption key), never the master secret, and no derived
value reveals it or any other derived value. Tokens with CKM_SP800_108_COUNTER_KDF implement the
same PRF, so this one scheme serves them too (docs/DESIGN.md says why it is the only one).

The key is named by a PKCS#11 URI (RFC 7512), this subset::

    pkcs11:token=LABEL;object=LABEL[;type=secret-key]
        [?module-path=/path/to/module.so][&pin-source=file:/path|&pin-value=PIN]

without module-path, $OOC_PKCS11_MODULE names the module; without a pin attribute the PIN is
$OOC_PKCS11_PIN. A PIN file (pin-source) must be mode 0600; its first line is the PIN.

python-pkcs11 (the ``pkcs11`` extra) talks to the module; it is imported only here.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ooc_sdk.errors import InvalidArgumentError, ToolError
from ooc_sdk.image import crypto
from ooc_sdk.image.keys import read_private_file
from ooc_sdk.image.keystore import (
    DerivingKeystore,
    SecretKeystore,
)

SCHEME = "pkcs11:"
ENV_PIN = "OOC_PKCS11_PIN"
ENV_MODULE = "OOC_PKCS11_MODULE"
_PATH_ATTRS = ("token", "object", "type")
_QUERY_ATTRS = ("module-path", "pin-source", "pin-value")
_PIN_FILE_MAX = 256


class TokenError(ToolError):
    """The PKCS#11 module, token or key object is missing, or the token refused an operation."""


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of a ``pkcs11:`` URI ooc uses. ``str()`` never shows a pin-value."""

    token: str
    object: str
    module_path: str | None = None
    pin_source: str | None = None
    pin_value: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> Pkcs11Uri:
        if not text.startswith(SCHEME):
            scheme, colon, _ = text.partition(":")  # the rest is not echoed: it may hold a PIN
            raise InvalidArgumentError(
                f"`keystore` is a {SCHEME} URI (RFC 7512), not "
                + (f"a {scheme}: URI" if colon else "a file name or other text"),
                param="keystore",
            )
        path, _, query = text[len(SCHEME) :].partition("?")
        attrs = _attributes(path, ";", _PATH_ATTRS) | _attributes(query, "&", _QUERY_ATTRS)
        if attrs.get("type", "secret-key") != "secret-key":
            raise InvalidArgumentError("the master key is a PKCS#11 object of type secret-key")
        if "pin-source" in attrs and "pin-value" in attrs:
            raise InvalidArgumentError("give the PKCS#11 URI pin-source or pin-value, not both")
        missing = [a for a in ("token", "object") if not attrs.get(a)]
        if missing:
            raise InvalidArgumentError(
                f"the PKCS#11 URI names no {' and no '.join(missing)} "
                "(pkcs11:token=LABEL;object=LABEL?module-path=...)"
            )
        return cls(
            attrs["token"],
            attrs["object"],
            attrs.get("module-path"),
            attrs.get("pin-source"),
            attrs.get("pin-value"),
        )

    def __str__(self) -> str:
        return f"{SCHEME}token={self.token};object={self.object}"

    def module(self) -> str:
        module = self.module_path or os.environ.get(ENV_MODULE)
        if not module:
            raise InvalidArgumentError(
                f"no PKCS#11 module: give module-path= in the URI or set {ENV_MODULE}"
            )
        return module

    def pin(self) -> str:
        """The user PIN: pin-value, else the first line of the pin-source file, else
        $OOC_PKCS11_PIN."""
        if self.pin_value is not None:
            return self.pin_value
        if self.pin_source is not None:
            path = Path(self.pin_source.removeprefix("file:"))
            data = read_private_file(path, "PIN file")
            if len(data) > _PIN_FILE_MAX:
                raise InvalidArgumentError(f"PIN file {path} is not a PIN (over 256 bytes)")
            return data.decode(errors="replace").splitlines()[0] if data.strip() else ""
        pin = os.environ.get(ENV_PIN)
        if pin is None:
            raise InvalidArgumentError(
                f"no PIN for token {self.token}: set {ENV_PIN} or give pin-source=FILE in the URI"
            )
        return pin


def _attributes(part: str, sep: str, allowed: tuple[str, ...]) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for item in filter(None, part.split(sep)):
        name, eq, value = item.partition("=")
        if not eq or name not in allowed:
            raise InvalidArgumentError(
                f"PKCS#11 URI attribute {name!r} is not one ooc reads ({', '.join(allowed)})"
            )
        if name in attrs:
            raise InvalidArgumentError(f"PKCS#11 URI attribute {name} is given twice")
        attrs[name] = unquote(value)
    return attrs


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise ToolError(
            "PKCS#11 keystores need python-pkcs11: pip install 'ooc-sdk[pkcs11]'"
        ) from None
    return pkcs11


class Pkcs11Keystore(DerivingKeystore):
    """A :class:`~ooc_sdk.image.keystore.Keystore` whose master secret stays in a token: every
    derivation's PRF blocks are computed there (``kdf``); the derivations themselves are
    :class:`~ooc_sdk.image.keystore.DerivingKeystore`'s, shared with the file keystore."""

    def __init__(self, uri: Pkcs11Uri, session: Any, key: Any) -> None:
        self.uri, self._session, self._key = uri, session, key
        self.key_bytes = int(key.key_length) // 8
        self._key_id: bytes | None = None

    def __repr__(self) -> str:
        return f"Pkcs11Keystore({self.uri}, key_id={self.key_id.hex()})"

    def __enter__(self) -> Pkcs11Keystore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session. PKCS#11 login is per process, so closing the keystore that logged
        in logs out every other keystore of this process on the same token."""
        self._session.close()

    def kdf(self, label: bytes, context: bytes, length: int) -> bytes:
        """SP 800-108 counter mode, PRF AES-CMAC under the master secret (r = 32, counter first,
        fixed = label || 0x00 || context || [8 * length]_32): each block one C_Sign in the token."""
        pkcs11 = _pkcs11()
        fixed = label + b"\x00" + context + struct.pack(">I", 8 * length)
        blocks = []
        for i in range(1, -(-length // crypto.BLOCK) + 1):
            try:
                blocks.append(
                    self._key.sign(
                        struct.pack(">I", i) + fixed, mechanism=pkcs11.Mechanism.AES_CMAC
                    )
                )
            except pkcs11.PKCS11Error as exc:
                raise TokenError(f"token {self.uri.token} refused AES-CMAC: {_why(exc)}") from None
        return b"".join(blocks)[:length]

    @property
    def key_id(self) -> bytes:
        if self._key_id is None:  # asked for often (registry records): one token call
            self._key_id = DerivingKeystore.key_id.fget(self)  # type: ignore[attr-defined]
        return self._key_id


def _why(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _session(uri: Pkcs11Uri, rw: bool) -> Any:
    """A logged-in session with the URI's token; every failure one line."""
    pkcs11 = _pkcs11()
    module, pin = uri.module(), uri.pin()
    try:
        lib = pkcs11.lib(module)
    except pkcs11.PKCS11Error as exc:
        why = _why(exc).replace("OS exception while loading ", "").replace(f"{module}: ", "")
        raise TokenError(f"cannot load PKCS#11 module {module}: {why}") from None
    try:
        token = lib.get_token(token_label=uri.token)
    except pkcs11.NoSuchToken:
        raise TokenError(f"no token labelled {uri.token!r} in {module}") from None
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot find token {uri.token!r} in {module}: {_why(exc)}") from None
    try:
        return token.open(user_pin=pin, rw=rw)
    except pkcs11.UserAlreadyLoggedIn:
        # PKCS#11 login is per process: another keystore of this process logged in already
        return _reopen(token, uri, rw)
    except (pkcs11.PinIncorrect, pkcs11.PinLenRange, pkcs11.PinInvalid):
        raise InvalidArgumentError(f"wrong PIN for token {uri.token!r}") from None
    except pkcs11.PinLocked:
        raise TokenError(f"token {uri.token!r}: the user PIN is locked") from None
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot log in to token {uri.token!r}: {_why(exc)}") from None


def _reopen(token: Any, uri: Pkcs11Uri, rw: bool) -> Any:
    pkcs11 = _pkcs11()
    try:
        return token.open(rw=rw)
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot open a session with token {uri.token!r}: {_why(exc)}") from None


def _find(session: Any, uri: Pkcs11Uri) -> Any | None:
    pkcs11 = _pkcs11()
    found = list(
        session.get_objects(
            {
                pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                pkcs11.Attribute.LABEL: uri.object,
            }
        )
    )
    if len(found) > 1:
        raise TokenError(
            f"token {uri.token!r} holds {len(found)} secret keys labelled {uri.object!r}"
        )
    return found[0] if found else None


def _check_master(key: Any, uri: Pkcs11Uri) -> None:
    """Refuse a key ooc would not create: not AES, exportable, or unable to sign."""
    pkcs11 = _pkcs11()
    a = pkcs11.Attribute
    try:
        attrs = key.get_attributes([a.KEY_TYPE, a.SENSITIVE, a.EXTRACTABLE, a.SIGN, a.VALUE_LEN])
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"cannot read the attributes of {uri}: {_why(exc)}") from None
    if attrs[a.KEY_TYPE] != pkcs11.KeyType.AES or attrs[a.VALUE_LEN] not in crypto.KEY_SIZES:
        raise TokenError(f"{uri} is not a 128- or 256-bit AES key")
    if not attrs[a.SENSITIVE] or attrs[a.EXTRACTABLE]:
        raise TokenError(
            f"{uri} can be exported (CKA_SENSITIVE false or CKA_EXTRACTABLE true); ooc uses only "
            "a non-extractable master key (ooc provision master-key --keystore creates one)"
        )
    if not attrs[a.SIGN]:
        raise TokenError(f"{uri} cannot sign (CKA_SIGN false); ooc needs CKM_AES_CMAC with it")


def open_pkcs11(uri_text: str) -> Pkcs11Keystore:
    """The master key the URI names, opened read-only and checked to be non-extractable."""
    uri = Pkcs11Uri.parse(uri_text)
    session = _session(uri, rw=False)
    try:
        key = _find(session, uri)
        if key is None:
            raise TokenError(
                f"token {uri.token!r} holds no secret key labelled {uri.object!r} (create one: "
                "ooc provision master-key --keystore URI)"
            )
        _check_master(key, uri)
    except BaseException:
        session.close()
        raise
    return Pkcs11Keystore(uri, session, key)


def create_master(
    uri_text: str, source: SecretKeystore | None = None, key_bytes: int = 32
) -> Pkcs11Keystore:
    """Create the URI's master key in the token: generated there (``source`` None; it never
    exists outside it) or imported from ``source``. Either way the object is a token object that
    is private, sensitive and non-extractable, whose attributes cannot be changed or copied
    away. An existing object of that label is never replaced."""
    if key_bytes not in crypto.KEY_SIZES:
        raise InvalidArgumentError("a master secret is 16 or 32 bytes")
    pkcs11 = _pkcs11()
    a = pkcs11.Attribute
    uri = Pkcs11Uri.parse(uri_text)
    session = _session(uri, rw=True)
    try:
        if _find(session, uri) is not None:
            raise InvalidArgumentError(
                f"token {uri.token!r} already holds a secret key labelled {uri.object!r}; a "
                "master key in a token is never replaced (delete it with the token's own tools)"
            )
        template = {
            a.TOKEN: True, a.PRIVATE: True, a.SENSITIVE: True, a.EXTRACTABLE: False,
            a.MODIFIABLE: False, a.COPYABLE: False, a.SIGN: True, a.VERIFY: False,
            a.ENCRYPT: False, a.DECRYPT: False, a.WRAP: False, a.UNWRAP: False, a.DERIVE: False,
            a.LABEL: uri.object,
        }  # fmt: skip
        try:
            if source is None:
                key = session.generate_key(
                    pkcs11.KeyType.AES, 8 * key_bytes, store=True, template=template
                )
            else:
                template |= {
                    a.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                    a.KEY_TYPE: pkcs11.KeyType.AES,
                    a.VALUE: source.export_secret(),
                }
                key = session.create_object(template)
        except pkcs11.PKCS11Error as exc:
            raise TokenError(f"token {uri.token!r} refused to create {uri}: {_why(exc)}") from None
        _check_master(key, uri)
    except BaseException:
        session.close()
        raise
    keystore = Pkcs11Keystore(uri, session, key)
    if source is not None and keystore.key_id != source.key_id:
        keystore.close()
        raise TokenError(f"{uri} derives another key id than the imported file")
    return keystore
