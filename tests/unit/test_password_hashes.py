"""Password hashes: PBKDF2, bcrypt and argon2id (`auth.hash`), their simulated cost, upgrades.

Every bcrypt and argon2id hash here uses the lowest work parameters (bcrypt cost 4, argon2id
one pass over 8 KiB): the code paths are the real ones, at a fraction of a millisecond."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.mechanisms.auth import (
    ARGON2_MS_PER_KIB_PASS,
    BCRYPT_MS_PER_ROUND,
    HASH_MS_PER_ITERATION,
    HashParams,
    HashPolicy,
    hash_costs,
    make_hash,
    needs_rehash,
    stored_params,
    verify_password,
)
from sandbox.runtime import Sandbox
from sandbox.settings import Settings

CHEAP = {"bcrypt": HashPolicy("bcrypt", bcrypt_cost=4),
         "argon2id": HashPolicy("argon2id", argon2_time_cost=1, argon2_memory_kib=8),
         "pbkdf2": HashPolicy("pbkdf2", iterations=10)}
CHEAP_SETTINGS = {"auth.bcrypt_cost": 4, "auth.argon2_time_cost": 1, "auth.argon2_memory_kib": 8}


@pytest.mark.parametrize("algorithm", sorted(CHEAP))
def test_each_hash_checks_the_right_password_only(algorithm: str) -> None:
    stored = make_hash("correct horse", b"12345678", CHEAP[algorithm])
    assert "correct horse" not in stored
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert not verify_password("", stored)
    assert stored_params(stored) is not None
    assert stored_params(stored).algorithm == algorithm  # type: ignore[union-attr]
    assert not verify_password("correct horse", stored[:-4] + "AAAA")  # tampered digest


@pytest.mark.parametrize("stored", ["", "$2b$04$short", "$argon2id$v=19$m=8,t=1,p=1$x$y",
                                    "pbkdf2_sha256$0$00$00", "plain text", "$2b$99$" + "A" * 53])
def test_a_corrupt_stored_hash_never_matches(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_bcrypt_keeps_every_character_of_a_long_password() -> None:
    """bcrypt alone reads 72 bytes; two passphrases differing after that must not match."""
    head = "x" * 80
    stored = make_hash(head + "1", b"", CHEAP["bcrypt"])
    assert verify_password(head + "1", stored)
    assert not verify_password(head + "2", stored)


def test_the_simulated_cost_follows_each_algorithms_work_parameter() -> None:
    assert HashParams("pbkdf2", (600_000,)).cost_ms() == pytest.approx(
        600_000 * HASH_MS_PER_ITERATION)
    # bcrypt: one more cost doubles the work; argon2id: linear in passes and in memory.
    assert HashParams("bcrypt", (11,)).cost_ms() == 2 * HashParams("bcrypt", (10,)).cost_ms()
    assert HashParams("bcrypt", (10,)).cost_ms() == pytest.approx(1024 * BCRYPT_MS_PER_ROUND)
    assert HashParams("argon2id", (4, 1000)).cost_ms() == pytest.approx(
        2 * HashParams("argon2id", (2, 1000)).cost_ms())
    assert HashParams("argon2id", (2, 19_456)).cost_ms() == pytest.approx(
        2 * 19_456 * ARGON2_MS_PER_KIB_PASS)
    stored = make_hash("pw", b"12345678", CHEAP["argon2id"])
    assert stored_params(stored) == HashParams("argon2id", (1, 8))


def test_side_by_side_the_slow_hashes_leave_an_attacker_fewer_guesses() -> None:
    rows = {(r["algorithm"], r["of"]): r for r in hash_costs(HashPolicy())}
    assert len(rows) == 6
    sandbox_pbkdf2 = rows[("pbkdf2", "settings")]
    for algorithm in ("bcrypt", "argon2id"):
        row = rows[(algorithm, "settings")]
        assert row["login_hash_ms"] > 100 * sandbox_pbkdf2["login_hash_ms"]
        assert row["guesses_per_s_per_core"] < sandbox_pbkdf2["guesses_per_s_per_core"] / 100
    for row in rows.values():
        assert row["guesses_per_s_per_core"] == pytest.approx(1000 / row["login_hash_ms"], rel=0.01)
    assert rows[("pbkdf2", "OWASP")]["parameters"] == "600,000 iter."


def test_a_weaker_or_other_hash_is_due_for_an_upgrade() -> None:
    old = make_hash("pw", b"12345678", HashPolicy(iterations=10))
    assert needs_rehash(old, HashPolicy(iterations=20))
    assert not needs_rehash(old, HashPolicy(iterations=10))
    assert needs_rehash(old, CHEAP["bcrypt"])
    bcrypt4 = make_hash("pw", b"", CHEAP["bcrypt"])
    assert not needs_rehash(bcrypt4, CHEAP["bcrypt"])
    assert needs_rehash(bcrypt4, HashPolicy("bcrypt", bcrypt_cost=5))
    assert needs_rehash("garbage", HashPolicy())
    argon = make_hash("pw", b"12345678", HashPolicy("argon2id", argon2_time_cost=3,
                                                    argon2_memory_kib=8))
    # More passes do not make up for less memory: any parameter below the policy's upgrades.
    assert needs_rehash(argon, HashPolicy("argon2id", argon2_time_cost=1, argon2_memory_kib=16))


def login_hash(sandbox: Sandbox, email: str, password: str) -> tuple[int, float, str]:
    """Log in; the status, the simulated time spent in the password check, the stored hash."""
    async def go() -> tuple[int, float]:
        async with sandbox.client() as client:
            response = await client.post("/auth/login", json={"email": email,
                                                              "password": password})
        spans = [s for _, s in response.extensions["sandbox.trace"].spans()
                 if s.name == "auth.verify_password"]
        return response.status_code, spans[0].duration_ms

    status, ms = asyncio.run(go())
    row = sandbox.db.conn.execute("SELECT password_hash FROM users WHERE email = ?",
                                  (email,)).fetchone()
    return status, ms, row[0] if row else ""


@pytest.mark.parametrize(("algorithm", "prefix"), [("bcrypt", "$2b$04$"),
                                                   ("argon2id", "$argon2id$v=19$m=8,t=1,p=1$")])
def test_a_login_upgrades_the_seeded_hash_and_then_pays_the_new_ones_cost(
    algorithm: str, prefix: str, cheap_password_hashes: None,
) -> None:
    sandbox = Sandbox(Settings().replace({"auth.hash": algorithm, **CHEAP_SETTINGS}))
    try:
        status, first_ms, stored = login_hash(sandbox, "grace@shop.test", "sandbox123")
        assert status == 200 and stored.startswith(prefix)
        expected = stored_params(stored).cost_ms()  # type: ignore[union-attr]
        assert first_ms == pytest.approx(200 * HASH_MS_PER_ITERATION, abs=0.01)  # the old hash
        status, second_ms, again = login_hash(sandbox, "grace@shop.test", "sandbox123")
        assert status == 200 and again == stored  # no second upgrade
        assert second_ms == pytest.approx(expected, abs=0.01)
        status, _, _ = login_hash(sandbox, "grace@shop.test", "wrong password")
        assert status == 401
    finally:
        sandbox.close()


def test_while_hashes_migrate_a_wrong_password_takes_as_long_for_every_e_mail(
    cheap_password_hashes: None,
) -> None:
    """Seeded accounts keep their cheap PBKDF2 hashes until their next login; a failed login
    on one must not be quicker than on an e-mail that has no account."""
    sandbox = Sandbox(Settings().replace({"auth.hash": "bcrypt", "auth.bcrypt_cost": 6}))
    try:
        times = {round(login_hash(sandbox, email, "wrong password")[1], 6)  # float sums
                 for email in ("grace@shop.test", "nobody@shop.test", "ada@shop.test")}
        assert len(times) == 1 and times.pop() == pytest.approx(64 * BCRYPT_MS_PER_ROUND)
    finally:
        sandbox.close()


def test_bcrypts_cost_doubles_a_logins_simulated_hash_time(cheap_password_hashes: None) -> None:
    """Deterministic: read from the stored hash's cost, never from the wall clock."""
    times = []
    for cost in (4, 5):
        sandbox = Sandbox(Settings().replace({"auth.hash": "bcrypt", "auth.bcrypt_cost": cost}))
        try:
            login_hash(sandbox, "grace@shop.test", "sandbox123")  # upgrades
            times.append(login_hash(sandbox, "grace@shop.test", "sandbox123")[1])
        finally:
            sandbox.close()
    assert times[1] == pytest.approx(2 * times[0], rel=0.05)
