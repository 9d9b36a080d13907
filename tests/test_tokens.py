"""Signed tokens: the key file, minting, verifying, rotation and the ``mobwrite token`` command."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import jwt
import pytest

from mobwrite.core import access
from mobwrite.core.access import Allowed, Refused
from mobwrite.tokens import (
    Gatekeeper,
    KeyFileError,
    TokenError,
    issue,
    mint,
    new_key,
    parse_keyring,
    read_keyring,
    verify,
)
from mobwrite.tools.main import main

NOW = 1_800_000_000.0


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    new_key(path)
    return path


def token_for(secret_file: Path, **options: object) -> str:
    values: dict[str, object] = {"subject": "alice", "documents": ["memo"], "now": NOW,
                                 "lifetime": 60.0}
    values.update(options)
    return issue(secret_file, **values)  # type: ignore[arg-type]


def refusal(secret_file: Path, token: str, now: float = NOW) -> str:
    """The kind of TokenError *token* raises."""
    with pytest.raises(TokenError) as raised:
        verify(read_keyring(secret_file), token, now)
    assert "\n" not in str(raised.value)
    return raised.value.kind


def test_new_key_creates_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key_id = new_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keyring = read_keyring(path)
    assert keyring.signing == key_id and len(keyring.keys[key_id]) == 32


def test_a_token_carries_its_grant(secret_file: Path) -> None:
    token = token_for(secret_file, prefixes=["team/"], delete=True, lifetime=7 * 86400)
    grant = verify(read_keyring(secret_file), token, NOW)
    assert grant.subject == "alice" and grant.documents == {"memo"}
    assert grant.prefixes == ("team/",) and grant.expires == NOW + 7 * 86400
    assert grant.rights == {access.READ, access.WRITE, access.DELETE}
    assert grant.key_id == read_keyring(secret_file).signing
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_read_only_tokens_carry_read_alone(secret_file: Path) -> None:
    grant = verify(read_keyring(secret_file), token_for(secret_file, read_only=True), NOW)
    assert grant.rights == {access.READ}


def test_expiry_is_honoured_to_the_second(secret_file: Path) -> None:
    token = token_for(secret_file, lifetime=1.0)
    verify(read_keyring(secret_file), token, NOW + 0.999)
    assert refusal(secret_file, token, NOW + 1.0) == "expired"


def test_a_tampered_token_is_refused(secret_file: Path) -> None:
    """Claims changed after signing (a wider document list) break the signature."""
    header, claims, signature = token_for(secret_file).split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    decoded["docs"] = ["memo", "secret"]
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    assert refusal(secret_file, f"{header}.{forged}.{signature}") == "bad_signature"
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refusal(secret_file, f"{header}.{claims}.{flipped}") == "bad_signature"


def test_a_token_of_another_key_file_is_refused(secret_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    new_key(other)
    assert refusal(secret_file, token_for(other)) == "unknown_key"


@pytest.mark.parametrize("token", [
    "", "garbage", "a.b.c", "x" * 10000,
    jwt.encode({"sub": "a", "exp": NOW + 60, "aud": "mobwrite"}, None, algorithm="none"),
])
def test_malformed_tokens_are_refused(secret_file: Path, token: str) -> None:
    assert refusal(secret_file, token) in ("malformed", "unknown_key")


@pytest.mark.parametrize("claims", [
    {"sub": "a", "exp": NOW + 60, "aud": "elsewhere"},
    {"sub": "a", "exp": NOW + 60},
    {"sub": "a", "aud": "mobwrite"},
    {"sub": "a", "exp": "soon", "aud": "mobwrite"},
    {"sub": 5, "exp": NOW + 60, "aud": "mobwrite"},
    {"sub": "a", "exp": NOW + 60, "aud": "mobwrite", "docs": "memo"},
    {"sub": "a", "exp": NOW + 60, "aud": "mobwrite", "rights": [1]},
])
def test_signed_tokens_with_bad_claims_are_refused(secret_file: Path,
                                                  claims: dict[str, object]) -> None:
    """A correctly signed token whose claims are not ours grants nothing."""
    keyring = read_keyring(secret_file)
    token = jwt.encode(claims, keyring.keys[keyring.signing], algorithm="HS256",
                       headers={"kid": keyring.signing})
    assert refusal(secret_file, token) == "malformed"


def test_rotation_keeps_old_tokens_until_their_key_is_removed(secret_file: Path) -> None:
    old = token_for(secret_file)
    old_key = read_keyring(secret_file).signing
    new_id = new_key(secret_file)
    new = token_for(secret_file)
    assert jwt.get_unverified_header(new)["kid"] == new_id
    keyring = read_keyring(secret_file)
    assert verify(keyring, old, NOW).key_id == old_key
    assert verify(keyring, new, NOW).key_id == new_id
    lines = secret_file.read_text(encoding="ascii").splitlines()
    secret_file.write_text("\n".join(line for line in lines if not line.startswith(old_key)),
                           encoding="ascii")
    assert refusal(secret_file, old) == "unknown_key"
    verify(read_keyring(secret_file), new, NOW)


def test_key_files_readable_by_others_are_refused(secret_file: Path) -> None:
    secret_file.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_keyring(secret_file)
    with pytest.raises(KeyFileError, match="chmod 600"):
        new_key(secret_file)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "k1 abcd\n", "k1\n",
                                  "k-1 " + "00" * 32 + "\n", "k1 " + "zz" * 32 + "\n"])
def test_bad_key_files_are_refused(text: str) -> None:
    with pytest.raises(KeyFileError):
        parse_keyring(text, "keys")


def test_the_gatekeeper_remembers_tokens_but_not_past_expiry(secret_file: Path) -> None:
    gatekeeper = Gatekeeper(read_keyring(secret_file), remember=1)
    token = token_for(secret_file, lifetime=10.0)
    request = b"u:a\nF:0:memo\nd:0:=0\n\n"
    assert gatekeeper.authorize(token, request, NOW)[0] == Allowed(True)
    assert gatekeeper.authorize(token, request, NOW + 5)[0] == Allowed(True)
    late = gatekeeper.authorize(token, request, NOW + 10)[0]
    assert isinstance(late, Refused) and late.kind == "expired"
    missing = gatekeeper.authorize(None, request, NOW)[0]
    assert isinstance(missing, Refused) and missing.kind == "no_token"


def test_a_right_is_checked_with_the_token(secret_file: Path) -> None:
    """holder() gives the grant of a token with the right asked for, else a refusal."""
    gatekeeper = Gatekeeper(read_keyring(secret_file))
    admin = gatekeeper.holder(token_for(secret_file, admin=True, documents=[]), NOW, "admin")
    assert not isinstance(admin, Refused) and access.ADMIN in admin.rights
    refused = gatekeeper.holder(token_for(secret_file), NOW, "admin")
    assert isinstance(refused, Refused) and refused.kind == "no_admin"
    expired = gatekeeper.holder(token_for(secret_file, admin=True), NOW + 3600, "admin")
    assert isinstance(expired, Refused) and expired.kind == "expired"


def test_mint_refuses_unknown_rights_and_lifetimes(secret_file: Path) -> None:
    keyring = read_keyring(secret_file)
    with pytest.raises(ValueError, match="unknown right"):
        mint(keyring, NOW, subject="a", rights=["root"], lifetime=1.0)
    with pytest.raises(ValueError, match="more than 0"):
        mint(keyring, NOW, subject="a", rights=["read"], lifetime=0.0)


# The command line.

def test_the_command_makes_keys_and_tokens(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys"
    assert main(["token", "new-key", "--secret-file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["token", "create", "--secret-file", str(path), "--doc", "memo",
                 "--doc-prefix", "team/", "--read-only", "--expires", "7 days",
                 "--subject", "bob"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "bob" and claims["docs"] == ["memo"]
    assert claims["prefixes"] == ["team/"] and claims["rights"] == ["read"]
    assert claims["exp"] - claims["iat"] in (7 * 86400, 7 * 86400 + 1)


def test_the_command_explains_its_refusals(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys"
    assert main(["token", "create", "--secret-file", str(path), "--doc", "memo"]) == 7
    assert "cannot read the key file" in capsys.readouterr().err
    new_key(path)
    assert main(["token", "create", "--secret-file", str(path)]) == 2
    assert "--doc" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["token", "create", "--secret-file", str(path), "--doc", "m",
              "--expires", "soon"])


def test_the_token_benchmark_measures_each_step() -> None:
    """benchmarks/tokens.py times the engine and the three kinds of check, all positive."""
    from benchmarks.tokens import measure

    figures = measure(number=20, repeat=1)
    assert set(figures) == {"engine", "check", "verify", "decide"}
    assert all(value > 0 for value in figures.values())
