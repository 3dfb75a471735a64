"""Errors, one class per sentinel of Go's authority and sdk packages.

Every TokenError maps to the OAuth error "invalid_token"; its ``kind`` is the
error kind of authority/testdata/vectors.json. The message is for logs;
:func:`error_description` gives what a client may see."""

from __future__ import annotations


class TokenError(Exception):
    """A token the verifier refuses."""

    kind = "malformed"


class MalformedError(TokenError):
    kind = "malformed"


class AlgorithmError(TokenError):
    kind = "algorithm"


class UnknownKeyError(TokenError):
    kind = "unknown_key"


class SignatureError(TokenError):
    kind = "signature"


class ExpiredError(TokenError):
    kind = "expired"


class NotYetValidError(TokenError):
    kind = "not_yet_valid"


class IssuerError(TokenError):
    kind = "issuer"


class AudienceError(TokenError):
    kind = "audience"


class MissingActorError(TokenError):
    kind = "missing_actor"


class TokenTypeError(TokenError):
    kind = "type"


class ConstraintsError(TokenError):
    """Constraints invalid as data (an unknown key in legant_delegation, a
    negative amount, a bad window)."""

    kind = "constraints"


class RevokedError(TokenError):
    """The token, its delegation, its user or one of its agents is in the
    issuer's revocation feed (sdk.ErrRevoked)."""

    kind = "revoked"


class NoTokenError(TokenError):
    """verify_request found no Authorization header with one Bearer or DPoP
    token (sdk.ErrNoToken)."""

    kind = "no_token"


class FeedStaleError(Exception):
    """require_fresh_feed is set and the newest accepted revocation feed is
    older than max_feed_age, or none was accepted (sdk.ErrFeedStale)."""


class FeedError(Exception):
    """A revocation feed that does not verify (revfeed.ErrInvalid)."""


class FeedExpiredError(FeedError):
    """revfeed.ErrExpired."""


class FeedRollbackError(FeedError):
    """A feed older than one already accepted (revfeed.ErrRollback)."""


def error_description(err: BaseException | None) -> str:
    """sdk.ErrorDescription: why a token was refused, in words a client may
    see; never the token or internal detail."""
    if err is None:
        return ""
    desc = getattr(err, "description", None)  # a dpop.DPoPError: dpop.ErrorText
    if isinstance(err, TokenError) and isinstance(desc, str):
        return desc
    for cls, text in _DESCRIPTIONS:
        if isinstance(err, cls):
            return text
    return "the token is malformed"


_DESCRIPTIONS: list[tuple[type[BaseException], str]] = [
    (NoTokenError, "a bearer token is required"),
    (RevokedError, "the token has been revoked"),
    (FeedStaleError, "revocation status is unavailable; try again later"),
    (ExpiredError, "the token has expired"),
    (NotYetValidError, "the token is not valid yet"),
    (AudienceError, "the token's audience is not this resource"),
    (IssuerError, "the token's issuer is not trusted"),
    (MissingActorError, "the token is not a delegation token (no act claim)"),
    (UnknownKeyError, "the token is signed with an unknown key"),
    (AlgorithmError, "the token's signing algorithm is not allowed"),
    (SignatureError, "the token's signature is invalid"),
    (ConstraintsError, "the token's constraints are invalid"),
]
