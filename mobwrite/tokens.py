"""Signed capability tokens: the key file, minting and verifying (docs/security.md).

A token is a JSON Web Token signed with HMAC-SHA256 (PyJWT does the
signing and encoding).  Its header names the key it was signed with
(``kid``); its claims name the documents it covers (``docs``, exact names,
and ``prefixes``), its ``rights``, its subject (``sub``), when it was
issued (``iat``) and when it expires (``exp``), for the audience
``mobwrite``.

The key file holds one ``KEY_ID HEX_SECRET`` line per key; blank lines and
``#`` comments are ignored.  Every key verifies tokens; the last one signs
new ones.  The file must be readable by its owner only.

Only ``issue`` (for a site's back end) reads the clock; the rest takes ``now``.
"""

from __future__ import annotations

import math
import os
import secrets
import stat
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt

from mobwrite.core import access
from mobwrite.core.access import RIGHTS, Decision, Grant, Refused
from mobwrite.settings import Settings

ALGORITHM = "HS256"
AUDIENCE = "mobwrite"
# A token longer than this is refused unread: it bounds the work per request.
MAX_TOKEN_CHARS = 8192
KEY_BYTES = 32
_HEADER = "# mobwrite token keys: KEY_ID HEX_SECRET a line; the last one signs new tokens.\n"
_OPTIONS = {
    "verify_signature": True, "verify_aud": True,
    # Times are checked against the caller's ``now``, not the machine's clock.
    "verify_exp": False, "verify_iat": False, "verify_nbf": False,
    "require": ["exp", "sub", "aud"],
}


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says what to do."""


class TokenError(ValueError):
    """A token that grants nothing; *kind* names the reason for counting."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Keyring:
    """The keys that verify tokens, by id, and the id of the one that signs."""

    keys: dict[str, bytes]
    signing: str


def parse_keyring(text: str, source: str) -> Keyring:
    """The keys in the text of a key file."""
    keys: dict[str, bytes] = {}
    last = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        try:
            if len(fields) != 2 or not fields[0].isascii() or not fields[0].isalnum():
                raise ValueError
            secret = bytes.fromhex(fields[1])
        except ValueError:
            raise KeyFileError(f"{source}, line {number}: expected KEY_ID HEX_SECRET; "
                               "make keys with 'mobwrite token new-key'") from None
        if len(secret) < KEY_BYTES:
            raise KeyFileError(f"{source}, line {number}: the key is shorter than "
                               f"{KEY_BYTES} bytes; make keys with 'mobwrite token new-key'")
        keys[fields[0]] = secret
        last = fields[0]
    if not keys:
        raise KeyFileError(f"{source} holds no key; add one with "
                           f"'mobwrite token new-key --secret-file {source}'")
    return Keyring(keys, last)


def read_keyring(path: Path) -> Keyring:
    """The keys in the key file at *path*, which only its owner may read."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"cannot read the key file {path}: {error}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the key file {path} is readable by others; "
                           f"run 'chmod 600 {path}'")
    return parse_keyring(text, str(path))


def new_key(path: Path) -> str:
    """Add a fresh random key to the key file at *path* (creating it, owner-only);
    return its id.  The new key signs the tokens minted from then on."""
    text = _existing_text(path)
    key_id = secrets.token_hex(4)
    line = f"{key_id} {secrets.token_bytes(KEY_BYTES).hex()}\n"
    if text and not text.endswith("\n"):
        text += "\n"
    # Written beside it and renamed: a crash leaves the old file or the new one.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write((text or _HEADER) + line)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return key_id


def _existing_text(path: Path) -> str:
    """The key file's text, checked; empty when there is no file yet."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="ascii")
    read_keyring(path)
    return text


def mint(keyring: Keyring, now: float, *, subject: str, rights: Iterable[str],
         documents: Iterable[str] = (), prefixes: Iterable[str] = (),
         lifetime: float) -> str:
    """A token for *subject* with *rights* on *documents* and names starting with
    *prefixes*, valid for *lifetime* seconds from *now* (rounded up to a second)."""
    granted = sorted(set(rights))
    unknown = [right for right in granted if right not in RIGHTS]
    if unknown:
        raise ValueError(f"unknown right {unknown[0]!r}; rights are {', '.join(RIGHTS)}")
    if not lifetime > 0:
        raise ValueError("a token must live more than 0 seconds")
    claims = {
        "aud": AUDIENCE, "sub": subject, "iat": int(now),
        "exp": math.ceil(now + lifetime),
        "docs": sorted(set(documents)), "prefixes": sorted(set(prefixes)),
        "rights": granted,
    }
    key_id = keyring.signing
    return jwt.encode(claims, keyring.keys[key_id], algorithm=ALGORITHM,
                      headers={"kid": key_id})


def _strings(claims: dict[str, object], name: str) -> list[str]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TokenError(f"the token's {name!r} is not a list of strings", "malformed")
    return value


def verify(keyring: Keyring, token: str, now: float) -> Grant:
    """The grant *token* carries at *now*; TokenError if it carries none."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(f"the token is over {MAX_TOKEN_CHARS} characters", "malformed")
    try:
        named = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise TokenError("the token is malformed", "malformed") from None
    key_id = named if isinstance(named, str) else ""
    key = keyring.keys.get(key_id)
    if key is None:
        raise TokenError("the token was signed with an unknown key", "unknown_key")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE,
                            options=_OPTIONS)  # type: ignore[arg-type]
    except jwt.InvalidSignatureError:
        raise TokenError("the token's signature is wrong", "bad_signature") from None
    except jwt.PyJWTError:
        raise TokenError("the token is malformed", "malformed") from None
    expires, subject = claims["exp"], claims["sub"]
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        raise TokenError("the token's expiry is not a number", "malformed")
    if not isinstance(subject, str):
        raise TokenError("the token's subject is not a string", "malformed")
    if now >= expires:
        raise TokenError("the token has expired", "expired")
    return Grant(subject, frozenset(_strings(claims, "rights")),
                 frozenset(_strings(claims, "docs")), tuple(_strings(claims, "prefixes")),
                 float(expires), key_id)


class Gatekeeper:
    """Checks the tokens of requests against one keyring (every public entry uses one).

    A client sends the same token with every sync; a token verified before
    costs a dictionary look-up and the expiry comparison instead of the
    signature, base64 and JSON.  Only a token that verified is remembered,
    keyed by its exact text, and only the last *remember* of them.
    """

    def __init__(self, keyring: Keyring, settings: Settings | None = None,
                 remember: int = 4096) -> None:
        settings = settings or Settings.defaults()
        self.keyring = keyring
        self.max_name_bytes = settings.max_name_bytes
        self.max_depth = settings.max_buffer_depth
        self.remember = remember
        self._grants: OrderedDict[str, Grant] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> Gatekeeper | None:
        """The gatekeeper of AUTH_SECRET_FILE; None when access control is off."""
        if not settings.auth_secret_file:
            return None
        return cls(read_keyring(Path(settings.auth_secret_file)), settings)

    def grant(self, token: str, now: float) -> Grant:
        """The grant *token* carries at *now*; TokenError if it carries none."""
        grant = self._grants.get(token)
        if grant is None:
            grant = verify(self.keyring, token, now)
            self._grants[token] = grant
            if len(self._grants) > self.remember:
                self._grants.popitem(last=False)
        elif now >= grant.expires:
            del self._grants[token]
            raise TokenError("the token has expired", "expired")
        return grant

    def authorize(self, token: str | None, data: bytes,
                  now: float) -> tuple[Decision, Grant | None]:
        """Whether the bearer of *token* may run protocol request *data*, and its grant."""
        if not token:
            return Refused("a token is required (Authorization: Bearer, or a token field)",
                           "no_token"), None
        try:
            grant = self.grant(token, now)
        except TokenError as error:
            return Refused(str(error), error.kind), None
        return access.decide(grant, data, self.max_name_bytes, self.max_depth), grant

    def holder(self, token: str | None, now: float, right: str) -> Grant | Refused:
        """The grant of *token* if it carries *right* (such as admin, for the
        operator pages), else the refusal."""
        if not token:
            return Refused(f"this needs a token with the {right} right", "no_token")
        try:
            grant = self.grant(token, now)
        except TokenError as error:
            return Refused(str(error), error.kind)
        if right not in grant.rights:
            return Refused(f"this needs a token with the {right} right", f"no_{right}")
        return grant


def issue(secret_file: Path, *, subject: str, documents: Iterable[str] = (),
          prefixes: Iterable[str] = (), read_only: bool = False, delete: bool = False,
          share: bool = False, admin: bool = False, lifetime: float = 86400.0,
          now: float | None = None) -> str:
    """A token signed with *secret_file*'s newest key, for a site's back end.

    It reads (and, unless *read_only*, writes) *documents* and every name
    starting with one of *prefixes*; *delete*, *share* and *admin* add those
    rights.  It expires *lifetime* seconds after *now* (default: the clock).
    """
    rights = {access.READ} if read_only else {access.READ, access.WRITE}
    for right, wanted in ((access.DELETE, delete), (access.SHARE, share),
                          (access.ADMIN, admin)):
        if wanted:
            rights.add(right)
    return mint(read_keyring(secret_file), time.time() if now is None else now,
                subject=subject, rights=rights, documents=documents, prefixes=prefixes,
                lifetime=lifetime)


def read_only_copy(keyring: Keyring, grant: Grant, now: float) -> str:
    """A read-only token for *grant*'s documents that expires with it (a share link)."""
    return mint(keyring, now, subject=f"{grant.subject} (read-only link)",
                rights=[access.READ], documents=grant.documents, prefixes=grant.prefixes,
                lifetime=grant.expires - now)
