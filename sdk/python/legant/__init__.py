"""Legant SDK for Python resource servers: verify delegation tokens offline
and authorize operations with the gateway's own semantics.

    from legant import Verifier, VerifierOptions, Action, authorize_action

    with Verifier("https://legant.example", "https://api.example/expenses") as v:
        claims = v.verify(token)                      # raises TokenError
        d = authorize_action(claims, Action(tool="submit_expense", amount="499.99", currency="USD"))
        if not d.allow: ...                           # d.reason, d.limit, d.value, d.message

Middleware: legant.asgi (FastAPI, Starlette), legant.flask (Flask);
MCP: legant.mcpguard. See docs/SDK.md."""

from .authorize import Action, authorize_action
from .claims import Actor, Claims, Confirmation, VerifyOptions, verify
from .dpop import DPoPError, MemoryReplayCache
from .constraints import Constraints, Money, StringSet, normalize_category
from .decimal import format_decimal, parse_decimal
from .errors import (AlgorithmError, AudienceError, ConstraintsError, ExpiredError, FeedError, FeedExpiredError,
                     FeedRollbackError, FeedStaleError, IssuerError, MalformedError, MissingActorError,
                     NoTokenError, NotYetValidError, RevokedError, SignatureError, TokenError, TokenTypeError, UnknownKeyError,
                     error_description)
from .keys import KeySet, parse_jwks
from .policy import (NO_HOLD, AmountBinding, Binding, Call, Decision, Hold, Ledger, LedgerDenied, MemoryLedger,
                     Reservation, ResourceBinding, authorize, decide)
from ._jsonscan import Pointer
from .resource import canonical_resource
from .verifier import DPoPOptions, FeedStatus, Verifier, VerifierOptions

__all__ = [
    "Action", "authorize_action", "Actor", "Claims", "Confirmation", "DPoPError", "MemoryReplayCache", "DPoPOptions",
    "NoTokenError", "VerifyOptions", "verify", "Constraints", "Money", "StringSet",
    "normalize_category", "format_decimal", "parse_decimal", "AlgorithmError", "AudienceError", "ConstraintsError",
    "ExpiredError", "FeedError", "FeedExpiredError", "FeedRollbackError", "FeedStaleError", "IssuerError",
    "MalformedError", "MissingActorError", "NotYetValidError", "RevokedError", "SignatureError", "TokenError",
    "TokenTypeError", "UnknownKeyError", "error_description", "KeySet", "parse_jwks", "NO_HOLD", "AmountBinding",
    "Binding", "Call", "Decision", "Hold", "Ledger", "LedgerDenied", "MemoryLedger", "Reservation",
    "ResourceBinding", "authorize", "decide", "Pointer", "canonical_resource", "FeedStatus", "Verifier",
    "VerifierOptions",
]
