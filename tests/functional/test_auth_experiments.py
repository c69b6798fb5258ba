"""The auth experiments of issue #17 (item 5), each run both ways from seeded runs:
a revoked client's token against `auth.revocation_check`, and credential stuffing against
`auth.login_limit`; and the password hash's cost on a login (`auth.hash`)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.scenarios import run_scenario
from sandbox.settings import Settings


def run(name: str, requests: int, **changes: Any) -> dict[str, Any]:
    settings = Settings().replace(changes)
    return run_scenario(name, settings, seed=7, requests=requests, warmup=0).metrics


def test_a_revoked_client_is_served_until_its_token_expires_unless_checked() -> None:
    """300 requests at 2/s (150 s) with 60-second tokens; revoked 10 s in."""
    off = run("token_revocation", 300, **{"auth.token_ttl_s": 60})
    on = run("token_revocation", 300, **{"auth.token_ttl_s": 60, "auth.revocation_check": True})
    gap, closed = off["revocation"], on["revocation"]
    assert gap["revoked_at_s"] == closed["revoked_at_s"] and 10 <= gap["revoked_at_s"] < 12
    # Off: the partner is served for what was left of its token's life (token issued at the
    # start, so ~50 s of 2 requests/s), and refused from its expiry on.
    assert 70 <= gap["served_after_revocation"] <= 120, gap
    assert gap["orders_after_revocation"] > 0
    assert gap["last_served_s_after_revocation"] < 60
    assert 45 < gap["first_refused_s_after_revocation"] < 60
    # On: not one request after the revocation.
    assert closed["served_after_revocation"] == 0, closed
    assert closed["first_refused_s_after_revocation"] < 1.0
    assert closed["refused_after_revocation"] > 250
    # The price: one Redis round trip on every request that carried a token.
    assert off["auth"]["revocation_checks"] == 0
    assert on["auth"]["revocation_checks"] >= closed["served_before_revocation"]
    assert on["auth"]["revoked_refused"] > 0


def test_a_longer_token_life_is_a_longer_gap() -> None:
    short = run("token_revocation", 300, **{"auth.token_ttl_s": 30})["revocation"]
    longer = run("token_revocation", 300, **{"auth.token_ttl_s": 90})["revocation"]
    assert longer["served_after_revocation"] > 2 * short["served_after_revocation"] > 0


@pytest.fixture(scope="module")
def stuffing() -> dict[str, dict[str, Any]]:
    return {limit: run("credential_stuffing", 600, **{"auth.login_limit": limit})
            for limit in ("off", "per_ip", "per_account")}


def test_without_a_login_limit_stuffing_takes_over_accounts(
    stuffing: dict[str, dict[str, Any]],
) -> None:
    off = stuffing["off"]["credential_stuffing"]
    assert off["attacker_guesses"] > 400
    assert off["guesses_let_through"] == off["attacker_guesses"]
    assert off["accounts_taken_over"] > 20
    assert off["legit_logins"] > 80 and off["legit_logins_refused"] == 0


def test_a_limit_per_address_stops_the_attacker_and_refuses_a_shared_address(
    stuffing: dict[str, dict[str, Any]],
) -> None:
    per_ip = stuffing["per_ip"]["credential_stuffing"]
    off = stuffing["off"]["credential_stuffing"]
    assert per_ip["guesses_let_through"] <= 4 * 5  # 4 addresses, 5 attempts a minute each
    assert per_ip["accounts_taken_over"] <= off["accounts_taken_over"] // 5
    assert per_ip["legit_logins_refused"] > 0  # the customers behind the shared address
    assert stuffing["per_ip"]["auth"]["login_limited"] == (
        per_ip["guesses_refused"] + per_ip["legit_logins_refused"])


def test_a_limit_per_account_barely_slows_stuffing_and_locks_customers_out(
    stuffing: dict[str, dict[str, Any]],
) -> None:
    per_account = stuffing["per_account"]["credential_stuffing"]
    off = stuffing["off"]["credential_stuffing"]
    assert per_account["guesses_refused"] > 0
    assert per_account["guesses_let_through"] > 0.8 * off["guesses_let_through"]
    assert per_account["accounts_taken_over"] > 0.7 * off["accounts_taken_over"]
    assert per_account["legit_logins_refused"] > 0


def test_the_runs_repeat_exactly(stuffing: dict[str, dict[str, Any]]) -> None:
    again = run("credential_stuffing", 600, **{"auth.login_limit": "per_ip"})
    assert again == stuffing["per_ip"]


def test_a_slower_hash_is_a_slower_login(cheap_password_hashes: None) -> None:
    """bcrypt at cost 6 (64 rounds, 8 simulated ms) against the default PBKDF2 (0.1 ms)."""
    pbkdf2 = run("credential_stuffing", 200)
    bcrypt = run("credential_stuffing", 200, **{"auth.hash": "bcrypt", "auth.bcrypt_cost": 6})
    # A failed guess pays one check at bcrypt's cost (old PBKDF2 hashes are padded to it).
    guess = bcrypt["endpoints"]["stuffing_guess"]["p50"] - pbkdf2["endpoints"]["stuffing_guess"]["p50"]
    assert 7 < guess < 10, guess
    # A customer's login: the check, and on the first one the upgrade to bcrypt as well.
    login = bcrypt["endpoints"]["login"]["p50"] - pbkdf2["endpoints"]["login"]["p50"]
    assert 7 < login < 10, login


def test_the_terminal_app_shows_and_compares_the_auth_figures() -> None:
    """The before -> after rows and the Metrics panel carry the sections when a run has them,
    and leave the ordinary scenarios' views as they were."""
    from rich.console import Console

    from sandbox.tui.runs import RunRecord, compare
    from sandbox.tui.widgets.metrics_panel import headline_table

    def record(check: bool) -> RunRecord:
        settings = Settings().replace({"auth.token_ttl_s": 30, "auth.revocation_check": check})
        metrics = run_scenario("token_revocation", settings, seed=7, requests=120).metrics
        return RunRecord("token_revocation", 7, 120, settings, metrics, ())

    off, on = record(False), record(True)
    row = next(r for r in compare(off, on).rows if r.label == "served after revoke")
    assert row.verdict == "better" and row.after == "0" and row.before != "0"
    console = Console(width=60, record=True)
    console.print(headline_table(on.metrics))
    assert "served after revoke" in console.export_text()
    steady = run_scenario("steady", Settings(), seed=7, requests=50, warmup=0).metrics
    plain = RunRecord("steady", 7, 50, Settings(), steady, ())
    assert all(r.label != "served after revoke" for r in compare(plain, plain).rows)
    console.print(headline_table(steady))
    assert console.export_text().count("served after revoke") == 0
