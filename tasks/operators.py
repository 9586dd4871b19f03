"""Operators: the people who run Tend from the dashboard, and how they prove who they are.

Passwords are kept as argon2id hashes. Wrong passwords in a row lock the account for a
while, so a guesser gets a handful of tries an hour rather than thousands; the answer to
a wrong password, an unknown address and a locked account is the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Operator, OperatorRole

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
# Verified against when the address is unknown, so that it takes as long as a real check.
_DUMMY_HASH = _hasher.hash("an operator who does not exist")


class OperatorError(ValueError):
    """An operator cannot be created as asked; the message says why."""


def find_operator(session: Session, email: str) -> Operator | None:
    query = select(Operator).where(func.lower(Operator.email) == email.strip().lower())
    return session.scalars(query).one_or_none()


def create_operator(
    session: Session, email: str, password: str, role: OperatorRole, now: datetime
) -> Operator:
    email = email.strip()
    if "@" not in email:
        raise OperatorError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if find_operator(session, email) is not None:
        raise OperatorError(f"there is already an operator {email}")
    operator = Operator(
        email=email, password_hash=_hasher.hash(password), role=role, created_at=now
    )
    session.add(operator)
    session.flush()
    return operator


def set_password(operator: Operator, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    operator.password_hash = _hasher.hash(password)


def authenticate(session: Session, email: str, password: str, now: datetime) -> Operator | None:
    """The operator, if the password is theirs and the account is not locked."""
    operator = find_operator(session, email)
    if operator is None:
        _verify(_DUMMY_HASH, password)
        return None
    if operator.locked_until is not None and operator.locked_until > now:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(operator.password_hash, password):
        operator.failed_logins += 1
        if operator.failed_logins >= LOCK_AFTER:
            operator.locked_until = now + LOCK_FOR
            operator.failed_logins = 0
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.failed_logins = 0
    operator.locked_until = None
    operator.last_login_at = now
    return operator


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
