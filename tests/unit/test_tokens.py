"""core/tokens.py: signed links that carry a reader's uid and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import TimestampSigner

from core.tokens import LIFETIMES, Purpose, Signer, TokenError

OLD_KEY = "old-key-0123456789-0123456789-0123456789"
NEW_KEY = "new-key-9876543210-9876543210-9876543210"
UID = "q3J9kX0aTzW1n8bVc5LmPg"
SIGNED_AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def reason(signer: Signer, purpose: Purpose, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        signer.unsign(purpose, token)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_signed_uid_comes_back_unchanged(purpose: Purpose) -> None:
    signer = Signer([NEW_KEY])

    token = signer.sign(purpose, UID)

    assert signer.unsign(purpose, token) == UID


def test_a_token_is_url_safe() -> None:
    token = Signer([NEW_KEY]).sign(Purpose.UNSUBSCRIBE, UID)

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


# Not the last character: it carries padding bits, so some changes to it decode the same.
@pytest.mark.parametrize("position", [0, 5, -10, -2])
def test_a_tampered_token_is_invalid(position: int) -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.CONFIRM, UID)
    chars = list(token)
    chars[position] = "A" if chars[position] != "A" else "B"
    tampered = "".join(chars)

    with time_machine.travel(SIGNED_AT, tick=False):
        assert reason(signer, Purpose.CONFIRM, tampered) == "invalid"


def test_a_token_with_another_payload_under_the_same_signature_is_invalid() -> None:
    signer = Signer([NEW_KEY])
    token = signer.sign(Purpose.CONFIRM, UID)
    other = signer.sign(Purpose.CONFIRM, "someone-else")
    payload, _, stamp_and_signature = token.partition(".")
    other_payload = other.partition(".")[0]

    assert payload != other_payload
    assert reason(signer, Purpose.CONFIRM, f"{other_payload}.{stamp_and_signature}") == "invalid"


@pytest.mark.parametrize("cut", [1, 10, 30])
def test_a_truncated_token_is_invalid(cut: int) -> None:
    signer = Signer([NEW_KEY])
    token = signer.sign(Purpose.UNSUBSCRIBE, UID)

    assert reason(signer, Purpose.UNSUBSCRIBE, token[:-cut]) == "invalid"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "..", "%%%"])
def test_garbage_is_invalid(token: str) -> None:
    assert reason(Signer([NEW_KEY]), Purpose.UNSUBSCRIBE, token) == "invalid"


def test_a_confirm_token_cannot_unsubscribe() -> None:
    signer = Signer([NEW_KEY])
    token = signer.sign(Purpose.CONFIRM, UID)

    assert reason(signer, Purpose.UNSUBSCRIBE, token) == "invalid"


def test_an_unsubscribe_token_cannot_confirm() -> None:
    signer = Signer([NEW_KEY])
    token = signer.sign(Purpose.UNSUBSCRIBE, UID)

    assert reason(signer, Purpose.CONFIRM, token) == "invalid"


def test_a_token_signed_with_another_key_is_invalid() -> None:
    token = Signer([OLD_KEY]).sign(Purpose.UNSUBSCRIBE, UID)

    assert reason(Signer([NEW_KEY]), Purpose.UNSUBSCRIBE, token) == "invalid"


def test_a_signed_value_that_is_not_a_uid_is_invalid() -> None:
    # Signed with the right key and salt, but carrying what no uid is: not Tend's.
    token = TimestampSigner([NEW_KEY], salt="tend.confirm").sign("a uid? <no>").decode()

    assert reason(Signer([NEW_KEY]), Purpose.CONFIRM, token) == "invalid"


def test_a_confirm_link_lasts_seven_days_and_the_others_as_long_as_the_key() -> None:
    assert LIFETIMES == {
        Purpose.CONFIRM: 7 * 24 * 3600,
        Purpose.UNSUBSCRIBE: None,
        Purpose.PREFERENCES: None,
    }


@pytest.mark.parametrize(
    ("signed_for", "used_for"),
    [
        (Purpose.PREFERENCES, Purpose.UNSUBSCRIBE),
        (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES),
        (Purpose.PREFERENCES, Purpose.CONFIRM),
        (Purpose.CONFIRM, Purpose.PREFERENCES),
    ],
)
def test_a_token_for_one_purpose_is_invalid_for_another(
    signed_for: Purpose, used_for: Purpose
) -> None:
    signer = Signer([NEW_KEY])
    token = signer.sign(signed_for, UID)

    assert reason(signer, used_for, token) == "invalid"


def test_a_confirm_token_is_still_good_after_six_days() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.CONFIRM, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=6), tick=False):
        assert signer.unsign(Purpose.CONFIRM, token) == UID


def test_a_confirm_token_is_still_good_at_exactly_seven_days() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.CONFIRM, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=7), tick=False):
        assert signer.unsign(Purpose.CONFIRM, token) == UID


def test_a_confirm_token_expires_one_second_after_seven_days() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.CONFIRM, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=7, seconds=1), tick=False):
        assert reason(signer, Purpose.CONFIRM, token) == "expired"


def test_a_tampered_expired_token_is_invalid_rather_than_expired() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.CONFIRM, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=30), tick=False):
        assert reason(signer, Purpose.CONFIRM, token[:-2]) == "invalid"


def test_an_unsubscribe_token_does_not_expire() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.UNSUBSCRIBE, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=3650), tick=False):
        assert signer.unsign(Purpose.UNSUBSCRIBE, token) == UID


def test_a_preferences_token_does_not_expire() -> None:
    signer = Signer([NEW_KEY])
    with time_machine.travel(SIGNED_AT, tick=False):
        token = signer.sign(Purpose.PREFERENCES, UID)

    with time_machine.travel(SIGNED_AT + timedelta(days=3650), tick=False):
        assert signer.unsign(Purpose.PREFERENCES, token) == UID


def test_a_token_signed_with_the_old_key_still_verifies_after_rotation() -> None:
    token = Signer([OLD_KEY]).sign(Purpose.UNSUBSCRIBE, UID)

    assert Signer([OLD_KEY, NEW_KEY]).unsign(Purpose.UNSUBSCRIBE, token) == UID


def test_after_rotation_new_tokens_are_signed_with_the_last_key() -> None:
    token = Signer([OLD_KEY, NEW_KEY]).sign(Purpose.UNSUBSCRIBE, UID)

    assert Signer([NEW_KEY]).unsign(Purpose.UNSUBSCRIBE, token) == UID
    assert reason(Signer([OLD_KEY]), Purpose.UNSUBSCRIBE, token) == "invalid"
