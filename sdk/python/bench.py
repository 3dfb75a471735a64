"""Per-call cost of verify + authorize in the Python SDK, with timeit (the
counterpart of sdk/bench_test.go): a Verifier with the key set cached, one
token (warm: its claims cached, as in Go), and a token seen for the first
time (its Ed25519 signature checked).

    /usr/bin/python3 sdk/python/bench.py
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import legant  # noqa: E402
from tests.helpers import serve  # noqa: E402
from tests.signing import TestKey, jwks, token  # noqa: E402

AUD = "https://api.example/expenses"
ACTION = legant.Action(tool="submit_expense", scope="expenses:write", amount="499.99", currency="USD")
DETAILS = [{"type": "legant_delegation", "actions": ["submit_expense"],
            "max_amount": {"value": "500", "currency": "USD"}}]


def run(number: int = 20000, fresh: int = 2000) -> dict[str, float]:
    """Microseconds per call: warm verify+authorize, verify, authorize, first use."""
    k = TestKey("k1")
    with serve({"/.well-known/jwks.json": jwks(k)}) as base:
        with legant.Verifier(base, AUD, legant.VerifierOptions(allow_http=True, feed_interval=3600)) as v:
            tok = token(k, base, AUD, scope="expenses:write", authorization_details=DETAILS)
            c = v.verify(tok)

            def both(t: str = tok) -> None:
                if not legant.authorize_action(v.verify(t), ACTION).allow:
                    raise AssertionError("denied")
            both()
            out = {
                "verify+authorize": min(timeit.repeat(both, number=number, repeat=3)) / number,
                "verify": min(timeit.repeat(lambda: v.verify(tok), number=number, repeat=3)) / number,
                "authorize": min(timeit.repeat(lambda: legant.authorize_action(c, ACTION), number=number,
                                               repeat=3)) / number,
            }
            fresh_tokens = iter([token(k, base, AUD, sub=f"u{i}", scope="expenses:write",
                                       authorization_details=DETAILS) for i in range(fresh)])
            out["verify+authorize, first use"] = timeit.timeit(lambda: both(next(fresh_tokens)), number=fresh) / fresh
    return {name: sec * 1e6 for name, sec in out.items()}


if __name__ == "__main__":
    print(f"Python {sys.version.split()[0]}, PyJWT {__import__('jwt').__version__}, "
          f"cryptography {__import__('cryptography').__version__}")
    for name, us in run().items():
        print(f"{name:32s} {us:8.1f} µs/op")
