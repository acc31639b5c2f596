"""What the device registry (:class:`ooc_sdk.provisioning.registry.Registry`) asks of a database,
and where a registry is.

A registry is an SQLite file (a path: :mod:`ooc_sdk.provisioning.sqlite_backend`, one PC) or a
PostgreSQL database (a ``postgresql://`` URL: :mod:`ooc_sdk.provisioning.postgres_backend`, a
line of stations on several PCs). The Registry keeps every rule, every SQL statement on the
registry's rows, the validation and the audit chain; a :class:`Backend` gives it transactions:

- :meth:`Backend.write` runs a body in one write transaction that first takes the lock every
  writer takes (SQLite's write lock, ``BEGIN IMMEDIATE``; in PostgreSQL the row lock on the
  chain's head, ``meta.audit_head``, ``SELECT ... FOR UPDATE``). So writers are serialised: what
  a body reads cannot change before it writes, two stations never both claim one UID, and every
  audit entry is appended to the head the previous writer left. The body may be run again (a
  server that went away before the commit, a serialisation failure): it must do nothing but
  SQL through the transaction it is given.
- :meth:`Backend.read` runs a body outside a write transaction; with ``snapshot`` its reads see
  one consistent state (the audit, which reads the log, the records and the head).

SQL is written once, with ``?`` placeholders; a backend turns them into its own. Errors of the
database become :class:`RegistryError` (one line that names the registry, never a password) in
one function per backend.
"""

from __future__ import annotations

import contextlib
import os
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from ooc_sdk.errors import InvalidArgumentError

ENV_REGISTRY = "OOC_REGISTRY"
DEFAULT_NAME = "ooc-registry.sqlite"
URL_SCHEMES = ("postgresql://", "postgres://")

T = TypeVar("T")


class RegistryError(InvalidArgumentError):
    """A registry failure: one line that names the registry and says what to do."""


def is_url(text: str | Path) -> bool:
    """Whether ``text`` names a database server (``postgresql://...``) rather than a file."""
    return isinstance(text, str) and text.lower().startswith(URL_SCHEMES)


def registry_location(option: str | Path | None) -> Path | str:
    """The registry: ``--registry``, else ``$OOC_REGISTRY``, else ``./ooc-registry.sqlite``; a
    ``postgresql://`` URL (kept as text) or a file path."""
    value: str | Path | None = option
    if value is None or value == "":
        value = os.environ.get(ENV_REGISTRY) or None
    if value is None:
        return Path.cwd() / DEFAULT_NAME
    if is_url(str(value)):
        return str(value)
    return Path(value)


def redact(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``:
    what messages and logs may show."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    user, at, hosts = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.split(':', 1)[0]}:***@{hosts}"
    query = parts.query
    if query:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            query = "&".join(
                f"{k}=***" if k == "password" else urllib.parse.urlencode({k: v}) for k, v in pairs
            )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_password(url: str) -> str | None:
    """The password a URL carries, if any (to scrub it from any text we show)."""
    parts = urllib.parse.urlsplit(url)
    user, at, _ = parts.netloc.rpartition("@")
    if at and ":" in user:
        return urllib.parse.unquote(user.split(":", 1)[1]) or None
    for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if k == "password" and v:
            return v
    return None


def scrub(text: str, secret: str | None) -> str:
    """``text`` without ``secret`` (plain or percent-encoded) in it."""
    if secret:
        for form in {secret, urllib.parse.quote(secret, safe="")}:
            text = text.replace(form, "***")
    return text


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx:
    """One transaction a body runs in: SQL with ``?`` placeholders. ``appended`` is the hash of
    the audit entry the body appended (the head it leaves), so a backend can tell after losing
    the server during COMMIT whether the transaction took effect."""

    appended: str | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterable[Any]:
        """Rows of a long result, fetched a batch at a time (inside a snapshot read)."""
        return self.execute(sql, params)


class Backend(ABC):
    """An open registry database (the module docstring says what each method promises)."""

    dialect: ClassVar[str]  # "sqlite" or "postgresql": which statements of schema.MIGRATIONS
    kind: ClassVar[str]  # "an SQLite database", for messages
    where: Path | str  # what messages call the registry: its path, or its URL without password

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def read(self, doing: str, body: Callable[[Tx], T], *, snapshot: bool = False) -> T: ...

    @abstractmethod
    def write(self, doing: str, body: Callable[[Tx], T]) -> T: ...

    @abstractmethod
    def version(self) -> int:
        """The schema version of the database (0: no registry in it yet); a database that is
        not a registry, or is newer than this ooc, is refused."""

    @abstractmethod
    def migrate(self) -> tuple[int, int]:
        """Bring the schema to the current version (creating it in an empty database), in one
        transaction that serialises concurrent migrations: (version before, version after)."""

    def hold_station(self, station: str) -> contextlib.AbstractContextManager[object]:
        """Keep station ``station`` from running twice at once on this registry, for the block
        (a backend whose stations are locked out otherwise returns a null context)."""
        return contextlib.nullcontext()
