"""sdk.Authorize for resource servers: an operation described by its values
is decided by the gateway's own decision code (policy.decide)."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass

from ._jsonscan import Pointer
from .claims import Claims
from .decimal import DecimalError, parse_decimal
from .policy import (REASON_INVALID_ARGUMENT, REASON_TOOL_NOT_BOUND, RESOURCE_NAME, AmountBinding, Binding, Call,
                     Decision, ResourceBinding, decide, deny)
from dataclasses import replace

_AMOUNT, _CURRENCY, _CATEGORY, _RESOURCE = Pointer("/amount"), Pointer("/currency"), Pointer("/category"), Pointer("/resource")


@dataclass(frozen=True)
class Action:
    """One operation of a resource server, by the values policy checks. A
    value left empty is a dimension the operation does not have (a token's
    max_amount does not restrict an Action without amount).

    amount is an exact decimal string ("499.99"), never a float; currency its
    ISO 4217 code; resource_kind "url", "path" or "name" (the default);
    at an aware datetime (None = now)."""

    tool: str
    scope: str = ""
    amount: str = ""
    currency: str = ""
    category: str = ""
    resource: str = ""
    resource_kind: str = RESOURCE_NAME
    at: _dt.datetime | None = None

    def binding_and_call(self) -> tuple[Binding, Call]:
        """The binding and tools/call that carry the action's values (policy.SampleCall):
        the binding binds exactly the dimensions the action has."""
        amount = None
        if self.amount or self.currency:
            amount = AmountBinding(value=_AMOUNT, currency_pointer=_CURRENCY if self.currency else Pointer())
        b = Binding(tool=self.tool, scope=self.scope, amount=amount,
                    category=_CATEGORY if self.category else Pointer(),
                    resource=ResourceBinding(_RESOURCE, self.resource_kind) if self.resource else None)
        parts = []
        if self.amount:
            parse_decimal(self.amount)  # raises DecimalError, as SampleCall does
            parts.append('"amount":' + self.amount)
        for key, v in (("category", self.category), ("currency", self.currency), ("resource", self.resource)):
            if v:
                parts.append(json.dumps(key) + ":" + json.dumps(v))
        at = self.at or _dt.datetime.now(_dt.timezone.utc)
        return b, Call(tool=self.tool, arguments=("{" + ",".join(parts) + "}").encode(), at=at)


def authorize_action(c: Claims | None, a: Action) -> Decision:
    """sdk.Authorize: scope, tools, amount and currency against max_amount,
    category, resource, window — deny by default. Stateless: budgets and
    max_calls need a ledger (Verifier.reserve)."""
    if a.tool == "":
        return deny(REASON_TOOL_NOT_BOUND, "the action names no tool")
    try:
        b, call = a.binding_and_call()
    except DecimalError as e:
        return replace(deny(REASON_INVALID_ARGUMENT, f"amount: {e}"), constraint="arguments")
    return decide(c, b, call)
