"""Web accounts: users, sessions that expire and end, sign-in throttles across replicas."""

from __future__ import annotations

import datetime as dt

import pytest

from db.accounts import (
    ThrottleRule,
    clear_sign_in_failures,
    count_sign_in_try,
    create_user,
    end_expired_web_sessions,
    end_web_session,
    extend_web_session,
    forget_old_sign_in_failures,
    get_user_by_username,
    get_web_session,
    refund_sign_in_try,
    sign_in_blocked_until,
    start_web_session,
    upsert_oidc_user,
)
from db.session import session_scope
from domain.errors import BadInputError, ConflictError

T0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_users_are_unique_and_roles_are_checked(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(
            session,
            username="alex",
            roles=["caseworker", "admin", "admin"],
            password_hash="$argon2id$x",
        )
        assert user.roles == ["admin", "caseworker"]
    with session_scope(db_url) as session:
        with pytest.raises(ConflictError):
            create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        with pytest.raises(ValueError, match="'wizard'"):
            create_user(session, username="sam", roles=["wizard"], password_hash=None)


@pytest.mark.parametrize(
    ("username", "rule"),
    [("", "blank"), ("   ", "blank"), ("<script>x</script>", "not allowed"),
     ("a\x00b", "not allowed"), ("a\nb", "not allowed"), ("tab\there", "not allowed"),
     ("two words", "not allowed"), ("=cmd", "not allowed"), ("-x", "not allowed"),
     ("@x", "not allowed"), ("o'brien", "not allowed"), ('"quoted"', "not allowed"),
     ("é", "not allowed"), ("a\u202eb", "not allowed"), ("x" * 129, "at most 128")],
)  # fmt: skip
def test_usernames_keep_the_rules(db_url: str, username: str, rule: str) -> None:
    with session_scope(db_url) as session, pytest.raises(BadInputError, match=rule):
        create_user(session, username=username, roles=["caseworker"], password_hash=None)


@pytest.mark.parametrize(
    "username", ["alex", "a", "sam.jones@example.gov.uk", "sam+test@x.org", "cw-1_b", "x" * 128]
)
def test_ordinary_usernames_are_accepted(db_url: str, username: str) -> None:
    with session_scope(db_url) as session:
        assert create_user(session, username=username, roles=["caseworker"], password_hash=None)


def test_display_names_and_names_that_differ_only_in_capitals(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(
            session, username="sian", roles=["caseworker"], password_hash=None,
            display_name="  Siân O'Brien-Ng ",
        )  # fmt: skip
        assert user.display_name == "Siân O'Brien-Ng"
        for bad in ("<b>Sam</b>", "Sam\x07", "\u202eSam", " "):
            with pytest.raises(BadInputError, match="display name"):
                create_user(
                    session, username="sam", roles=["caseworker"], password_hash=None,
                    display_name=bad,
                )  # fmt: skip
        with pytest.raises(ConflictError, match="'sian'"):
            create_user(session, username="SIAN", roles=["caseworker"], password_hash=None)


def test_single_sign_on_names_keep_the_rules_too(db_url: str) -> None:
    with session_scope(db_url) as session:
        with pytest.raises(BadInputError):
            upsert_oidc_user(
                session, subject="idp|1", username="<img src=x>", display_name="X", roles=[]
            )
        # A provider's display name the pages could not show is replaced by the username.
        user = upsert_oidc_user(
            session, subject="idp|2", username="kim@example.org",
            display_name="Kim\u202e<script>", roles=["caseworker"],
        )  # fmt: skip
        assert user.display_name == "kim@example.org"


def test_sessions_live_expire_extend_and_end(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        start_web_session(
            session, user=user, token_sha256="a" * 64, csrf_token="c" * 43, lifetime=HOUR, now=T0
        )
    with session_scope(db_url) as session:
        live = get_web_session(session, "a" * 64, now=T0 + HOUR / 2)
        assert live is not None
        assert live.user.username == "alex"
        assert get_web_session(session, "a" * 64, now=T0 + HOUR) is None
        assert get_web_session(session, "b" * 64, now=T0) is None
        extend_web_session(session, "a" * 64, lifetime=HOUR, now=T0 + HOUR / 2)
    with session_scope(db_url) as session:
        assert get_web_session(session, "a" * 64, now=T0 + HOUR) is not None
        assert end_web_session(session, "a" * 64) is True
        assert get_web_session(session, "a" * 64, now=T0) is None
        assert end_web_session(session, "a" * 64) is False


def test_an_inactive_user_has_no_session(db_url: str) -> None:
    with session_scope(db_url) as session:
        user = create_user(session, username="alex", roles=["caseworker"], password_hash=None)
        start_web_session(
            session, user=user, token_sha256="a" * 64, csrf_token="c", lifetime=HOUR, now=T0
        )
        user.active = False
    with session_scope(db_url) as session:
        assert get_web_session(session, "a" * 64, now=T0) is None
        assert end_expired_web_sessions(session, now=T0 + 2 * HOUR) == 1


SECOND = dt.timedelta(seconds=1)
RULE = ThrottleRule(
    "account_client", 3, first_wait=30 * SECOND, longest_wait=120 * SECOND, forget_after=HOUR
)
SPRAY = ThrottleRule("client", 5, first_wait=30 * SECOND, longest_wait=HOUR, forget_after=HOUR)


def _fail(session, counters, *, now):
    """A try counted and found wrong: the wait it started, if any."""
    refused, started = count_sign_in_try(session, counters, now=now)
    assert refused is None
    return max((u for u in started.values() if u), default=None)


def test_the_wait_doubles_past_the_free_failures_up_to_the_longest() -> None:
    waits = [RULE.wait_after(n) for n in range(1, 8)]
    assert waits[:2] == [None, None]
    assert waits[2:] == [30 * SECOND, 60 * SECOND, 120 * SECOND, 120 * SECOND, 120 * SECOND]
    assert RULE.wait_after(10_000) == 120 * SECOND


def test_failures_slow_tries_under_their_key_only_and_the_wait_ends(db_url: str) -> None:
    t = T0
    for _ in range(2):
        with session_scope(db_url) as session:
            assert _fail(session, [("a" * 64, RULE)], now=t) is None
            assert sign_in_blocked_until(session, ["a" * 64], now=t) is None
    with session_scope(db_url) as session:
        until = _fail(session, [("a" * 64, RULE)], now=t)
        assert until == t + 30 * SECOND
    with session_scope(db_url) as session:
        assert sign_in_blocked_until(session, ["a" * 64], now=t + SECOND) == until
        # Another key (the owner, from elsewhere) is not held up.
        assert sign_in_blocked_until(session, ["b" * 64], now=t + SECOND) is None
        # Nothing is locked for good: once the wait is over, tries go through again.
        assert sign_in_blocked_until(session, ["a" * 64], now=until) is None
        # The next failure waits twice as long.
        assert _fail(session, [("a" * 64, RULE)], now=until) == until + 60 * SECOND
        clear_sign_in_failures(session, "a" * 64)
        assert sign_in_blocked_until(session, ["a" * 64], now=until + SECOND) is None


def test_every_counter_of_a_try_counts_and_the_longest_wait_wins(db_url: str) -> None:
    client, account = "c" * 64, "a" * 64
    with session_scope(db_url) as session:
        for n in range(4):
            # One client, four usernames: each username's counter sees one failure.
            other = f"{n}" * 64
            assert _fail(session, [(client, SPRAY), (other, RULE)], now=T0) is None
        until = _fail(session, [(client, SPRAY), (account, RULE)], now=T0)
        assert until == T0 + 30 * SECOND
        assert sign_in_blocked_until(session, [client, "9" * 64], now=T0) == until


def test_tries_in_flight_count_so_a_burst_cannot_slip_through(db_url: str) -> None:
    # Three tries sent at once, none answered yet: the fourth is refused unchecked.
    with session_scope(db_url) as session:
        for _ in range(3):
            refused, _started = count_sign_in_try(session, [("a" * 64, RULE)], now=T0)
            assert refused is None
        refused, started = count_sign_in_try(session, [("a" * 64, RULE)], now=T0)
        assert refused == T0 + 30 * SECOND
        assert started == {}


def test_a_try_that_succeeds_is_taken_back_but_earlier_waits_stay(db_url: str) -> None:
    client = [("c" * 64, RULE)]
    with session_scope(db_url) as session:
        assert _fail(session, client, now=T0) is None
        assert _fail(session, client, now=T0) is None
        # The third try starts a wait; it succeeds, so its count and its wait are undone.
        refused, started = count_sign_in_try(session, client, now=T0)
        assert refused is None
        assert started == {"c" * 64: T0 + 30 * SECOND}
        refund_sign_in_try(session, started)
        assert sign_in_blocked_until(session, ["c" * 64], now=T0) is None
        # A failure now is the third again, not the fourth.
        assert _fail(session, client, now=T0) == T0 + 30 * SECOND
        # A success while another try's wait stands lifts nothing (nor could it run).
        refund_sign_in_try(session, {"c" * 64: None})
        assert sign_in_blocked_until(session, ["c" * 64], now=T0) == T0 + 30 * SECOND


def test_old_failures_are_forgotten(db_url: str) -> None:
    with session_scope(db_url) as session:
        for _ in range(3):
            _fail(session, [("a" * 64, RULE)], now=T0)
        # Past forget_after, the count starts again at one.
        assert _fail(session, [("a" * 64, RULE)], now=T0 + 2 * HOUR) is None
        _fail(session, [("b" * 64, RULE)], now=T0)
        assert forget_old_sign_in_failures(session, before=T0 + HOUR) == 1
        assert forget_old_sign_in_failures(session, before=T0 + HOUR) == 0


def test_single_sign_on_accounts_follow_the_provider(db_url: str) -> None:
    with session_scope(db_url) as session:
        first = upsert_oidc_user(
            session,
            subject="https://idp|42",
            username="sam@example.org",
            display_name="Sam",
            roles=["caseworker"],
        )
    with session_scope(db_url) as session:
        again = upsert_oidc_user(
            session,
            subject="https://idp|42",
            username="sam@example.org",
            display_name="Sam B",
            roles=["manager"],
        )
        assert again.id == first.id
        assert (again.display_name, again.roles) == ("Sam B", ["manager"])
        assert again.password_hash is None
        create_user(session, username="kim", roles=["admin"], password_hash="h")
        with pytest.raises(ConflictError):
            upsert_oidc_user(
                session, subject="https://idp|7", username="kim", display_name="Kim", roles=[]
            )
        assert get_user_by_username(session, "kim") is not None
