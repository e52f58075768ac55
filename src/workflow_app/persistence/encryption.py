"""Protection at rest: free-text form data and contact details are stored as ciphertext (issue 18).

Columns typed :class:`EncryptedText` or :class:`EncryptedJSON` hold a Fernet token (``cryptography``: AES-128-CBC
and HMAC-SHA256) as raw bytes in a binary column (not base64: no size overhead beyond the token's 57-73 bytes);
the plaintext is zlib-compressed first when that makes it shorter (a flag byte inside the ciphertext says
which), so an escalation takes less room encrypted than it did in plaintext. :class:`EncryptedAddress` columns
(e-mail addresses) use AES-SIV instead, deterministic, so ``column == "a@b.org"`` still works in SQL. The rest
of the code reads and writes plaintext through the ORM. An empty value (``""``, ``{}``) is stored as zero
bytes: emptiness is not personal data, and ``column != ""`` still works in SQL. ``None`` stays NULL.

Keys come from ``WORKFLOW_ENCRYPTION_KEYS``: comma-separated Fernet keys, newest first (the AES-SIV key is
derived from each with HKDF). The newest encrypts; every listed key decrypts, so a new key is put in front,
``flask encryption rotate`` re-encrypts every value with it (:func:`rotate`), and then the old key can be
removed. Without the setting a development key is derived from the app's SECRET_KEY (logged as a warning);
production must set it (scripts/serve-production.sh refuses to start without it).

Free-text columns cannot be filtered, sorted or compared in SQL (other than NULL / empty); address columns only
by exact equality (subject access decrypts candidates to match an address without regard to letter case).
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy.types import LargeBinary, TypeDecorator

log = logging.getLogger(__name__)

TOKEN_VERSION = 0x80  # first byte of every Fernet token; never the first byte of UTF-8 text
SIV_VERSION = 0x81  # first byte of a deterministic (AES-SIV) value; never the first byte of UTF-8 text either
_RAW, _ZLIB = b"\x00", b"\x01"
_COMPRESS_FROM = 64  # bytes of plaintext below which compression is not tried
DEFAULT_BATCH = 500


class EncryptionError(RuntimeError):
    """A key is malformed, or a stored value cannot be opened with any configured key."""


# -- keys --------------------------------------------------------------------------------------------------------

@dataclass
class Keyring:
    """The configured keys, newest first; ``development`` when derived from SECRET_KEY.

    Each key is a Fernet key (randomised encryption, for free text) from which an AES-SIV key is derived
    (deterministic encryption, for e-mail addresses: the same address gives the same ciphertext, so a look-up
    by equality works in SQL)."""

    keys: tuple[str, ...]
    development: bool = False
    fernets: list[Fernet] = field(init=False)
    multi: MultiFernet = field(init=False)
    sivs: list[AESSIV] = field(init=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise EncryptionError("no encryption key: set WORKFLOW_ENCRYPTION_KEYS (comma-separated Fernet keys, "
                                  "newest first; make one with `flask --app workflow_app encryption new-key`)")
        self.fernets = [_fernet(key, n) for n, key in enumerate(self.keys, start=1)]
        self.multi = MultiFernet(self.fernets)
        self.sivs = [AESSIV(_derive(base64.urlsafe_b64decode(key), b"aes-siv", 64)) for key in self.keys]

    def encrypt(self, plaintext: bytes) -> bytes:
        if len(plaintext) >= _COMPRESS_FROM:
            packed = zlib.compress(plaintext, 6)
            framed = _ZLIB + packed if len(packed) < len(plaintext) else _RAW + plaintext
        else:
            framed = _RAW + plaintext
        return base64.urlsafe_b64decode(self.fernets[0].encrypt(framed))

    def encrypt_deterministic(self, plaintext: bytes) -> bytes:
        return bytes([SIV_VERSION]) + self.sivs[0].encrypt(plaintext, None)

    def decrypt(self, stored: bytes, where: str = "a value") -> bytes:
        if stored[:1] == bytes([SIV_VERSION]):
            for siv in self.sivs:
                try:
                    return siv.decrypt(stored[1:], None)
                except InvalidTag:
                    continue
            raise self._unreadable(where)
        try:
            framed = self.multi.decrypt(base64.urlsafe_b64encode(stored))
        except InvalidToken:
            raise self._unreadable(where) from None
        return zlib.decompress(framed[1:]) if framed[:1] == _ZLIB else framed[1:]

    def _unreadable(self, where: str) -> EncryptionError:
        return EncryptionError(
            f"cannot decrypt {where}: none of the {len(self.keys)} key(s) in WORKFLOW_ENCRYPTION_KEYS opens it "
            "(was the key that encrypted it removed before `flask encryption rotate` finished?)")

    def key_index(self, stored: bytes) -> int | None:
        """Which key (0 = newest) encrypted ``stored``; None when none of them did."""
        if stored[:1] == bytes([SIV_VERSION]):
            for index, siv in enumerate(self.sivs):
                try:
                    siv.decrypt(stored[1:], None)
                    return index
                except InvalidTag:
                    continue
            return None
        token = base64.urlsafe_b64encode(stored)
        for index, fernet in enumerate(self.fernets):
            try:
                fernet.extract_timestamp(token)  # checks the HMAC only
                return index
            except InvalidToken:
                continue
        return None

    def rotate(self, stored: bytes) -> bytes:
        """The same plaintext under the newest key, in the same scheme (compression and framing unchanged)."""
        if stored[:1] == bytes([SIV_VERSION]):
            return self.encrypt_deterministic(self.decrypt(stored))
        return base64.urlsafe_b64decode(self.multi.rotate(base64.urlsafe_b64encode(stored)))


def _derive(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=b"workflow_app encryption at rest",
                info=info).derive(secret)


def _fernet(key: str, position: int) -> Fernet:
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise EncryptionError(f"WORKFLOW_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 bytes, url-safe "
                              "base64; make one with `flask --app workflow_app encryption new-key`)") from None


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def development_key(secret_key: str) -> str:
    """A key derived from SECRET_KEY (HKDF-SHA256) for development and tests only."""
    return base64.urlsafe_b64encode(_derive(secret_key.encode("utf-8"), b"development fernet key", 32)).decode("ascii")


def keyring_for(config: dict) -> Keyring:
    keys = tuple(config.get("ENCRYPTION_KEYS") or ())
    if keys:
        return Keyring(keys)
    return Keyring((development_key(str(config["SECRET_KEY"])),), development=True)


def keyring() -> Keyring:
    """The current app's keyring (built on first use, once per app)."""
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        raise EncryptionError("encrypted columns are read and written inside an app context") from None
    return app.extensions.get("encryption") or init_app(app)


def init_app(app) -> Keyring:
    """Build (and cache: once per app) the app's keyring; a malformed key fails here with a plain-words error."""
    cached = app.extensions.get("encryption")
    if cached is not None:
        return cached
    ring = keyring_for(app.config)
    if ring.development:
        log.warning("WORKFLOW_ENCRYPTION_KEYS is not set: using a development key derived from SECRET_KEY "
                    "(never in production)")
    app.extensions["encryption"] = ring
    return ring


# -- column types -----------------------------------------------------------------------------------------------

class _Encrypted(TypeDecorator):
    impl = LargeBinary
    cache_ok = True

    def _seal(self, plaintext: bytes) -> bytes:
        return keyring().encrypt(plaintext) if plaintext else b""

    def _open(self, stored: bytes | memoryview) -> bytes:
        stored = bytes(stored)
        if not stored:
            return b""
        if stored[0] not in (TOKEN_VERSION, SIV_VERSION):
            raise EncryptionError("a value in an encrypted column is not ciphertext (run `flask db upgrade`, "
                                  "which encrypts values written before encryption at rest)")
        return keyring().decrypt(stored, "an encrypted column")


class EncryptedText(_Encrypted):
    """A string, stored encrypted; ``""`` is stored as zero bytes."""

    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> bytes | None:
        return None if value is None else self._seal(value.encode("utf-8"))

    def process_result_value(self, value: bytes | None, dialect) -> str | None:
        return None if value is None else self._open(value).decode("utf-8")


class EncryptedAddress(EncryptedText):
    """An e-mail address (or webhook URL), encrypted deterministically (AES-SIV): ``column == "a@b.org"`` works
    in SQL because the same address always gives the same ciphertext (under the newest key; values still under
    an older key are found again once `flask encryption rotate` has run). Equal addresses are visible as
    equal ciphertexts, which is what an exact look-up needs; nothing else about them is."""

    cache_ok = True

    def _seal(self, plaintext: bytes) -> bytes:
        return keyring().encrypt_deterministic(plaintext) if plaintext else b""


class EncryptedJSON(_Encrypted):
    """A JSON value (dict, list, string, number), stored encrypted; ``{}`` is stored as zero bytes."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> bytes | None:
        if value is None:
            return None
        if value == {}:
            return b""
        return self._seal(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))

    def process_result_value(self, value: bytes | None, dialect) -> Any:
        if value is None:
            return None
        plaintext = self._open(value)
        return json.loads(plaintext) if plaintext else {}


def seal_plaintext(value: Any, kind: str, ring: Keyring) -> bytes | None:
    """What an encrypted column of ``kind`` ("text", "json", "address") stores for ``value`` (the migration
    encrypts rows with this)."""
    if value is None:
        return None
    if kind == "json":
        if isinstance(value, (bytes, memoryview)):
            value = bytes(value).decode("utf-8")
        text = value if isinstance(value, str) else json.dumps(value)
        parsed = json.loads(text) if text else {}
        if parsed == {}:
            return b""
        plaintext = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    else:
        plaintext = bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode("utf-8")
    if not plaintext:
        return b""
    return ring.encrypt_deterministic(plaintext) if kind == "address" else ring.encrypt(plaintext)


def is_ciphertext(stored: bytes | memoryview | str | None) -> bool:
    return isinstance(stored, (bytes, memoryview)) and len(stored) > 0 and \
        bytes(stored[:1])[0] in (TOKEN_VERSION, SIV_VERSION)


# -- every encrypted column; rotation and status ----------------------------------------------------------------

@dataclass(frozen=True)
class EncryptedColumn:
    table: sa.Table
    column: sa.Column

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    @property
    def key_column(self) -> sa.Column:
        (primary,) = self.table.primary_key.columns
        return primary


def encrypted_columns(metadata: sa.MetaData) -> list[EncryptedColumn]:
    return [EncryptedColumn(table, column) for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, _Encrypted)]


def _raw_rows(connection, target: EncryptedColumn, after: Any, batch: int) -> list[tuple[Any, bytes]]:
    key = target.key_column
    raw = sa.type_coerce(target.column, LargeBinary)
    query = sa.select(key, raw).where(raw.is_not(None)).order_by(key).limit(batch)
    if after is not None:
        query = query.where(key > after)
    return [(row[0], bytes(row[1])) for row in connection.execute(query)]


def _scan(connection, target: EncryptedColumn, batch: int) -> Iterator[list[tuple[Any, bytes]]]:
    after = None
    while rows := _raw_rows(connection, target, after, batch):
        yield rows
        after = rows[-1][0]


@dataclass
class ColumnStatus:
    name: str
    newest: int = 0
    older: int = 0
    unreadable: int = 0
    empty: int = 0


def status(connection, metadata: sa.MetaData, ring: Keyring, batch: int = DEFAULT_BATCH) -> list[ColumnStatus]:
    """Per encrypted column: values under the newest key, under an older one, and readable by none."""
    report = []
    for target in encrypted_columns(metadata):
        counts = ColumnStatus(target.name)
        for rows in _scan(connection, target, batch):
            for _key, stored in rows:
                index = ring.key_index(stored) if is_ciphertext(stored) else (-1 if not stored else None)
                if index == -1:
                    counts.empty += 1
                elif index == 0:
                    counts.newest += 1
                elif index is None:
                    counts.unreadable += 1
                else:
                    counts.older += 1
        report.append(counts)
    return report


def rotate(engine: sa.Engine, metadata: sa.MetaData, ring: Keyring, batch: int = DEFAULT_BATCH,
           progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-encrypt with the newest key every value that an older key encrypted, a batch per transaction.

    Idempotent and resumable: values already under the newest key are left alone, so a run cut off halfway
    is simply run again. Each UPDATE only applies if the value is still the one read (compare-and-set), so a
    request that saved the row meanwhile (under the newest key already) is never overwritten."""
    rotated: dict[str, int] = {}
    for target in encrypted_columns(metadata):
        done = 0
        key, raw = target.key_column, sa.type_coerce(target.column, LargeBinary)
        after = None
        while True:
            with engine.begin() as connection:
                rows = _raw_rows(connection, target, after, batch)
                if not rows:
                    break
                after = rows[-1][0]
                for row_key, stored in rows:
                    if not is_ciphertext(stored) or ring.key_index(stored) in (0, None):
                        continue  # empty, already newest, or unreadable (status reports it)
                    connection.execute(sa.update(target.table).where(key == row_key, raw == stored)
                                       .values({target.column.name: sa.type_coerce(ring.rotate(stored), LargeBinary)}))
                    done += 1
            if progress:
                progress(target.name, done)
        rotated[target.name] = done
    return rotated


def fingerprint(key: str) -> str:
    """A short, non-secret name for a key (status output), so operators can tell keys apart."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:8]
