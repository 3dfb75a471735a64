"""A Flask API that enforces Legant delegation tokens itself, offline: the
SDK caches the issuer's keys and revocation feed (starter for
`legant snippet flask`; docs/SDK.md explains it).

    apt-get install python3-flask python3-jwt python3-cryptography   # or pip
    LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/expenses python3 app.py
"""

import os

from flask import Flask, request

from legant import Action, Verifier
from legant.flask import claims, protect

# The issuer whose tokens you accept, and this API's resource identifier
# (the audience tokens are minted for).
verifier = Verifier(os.environ["LEGANT_ISSUER"], os.environ["RESOURCE"])
app = Flask(__name__)


# Every request needs a valid, unrevoked token with scope expenses:write; the
# Action (amount against max_amount and the budget, category, time window)
# is authorized before the view runs, with the gateway's policy.
@app.post("/expenses")
@protect(verifier, scope="expenses:write",
         action=lambda r: Action(tool="submit_expense", amount=r.args.get("amount", ""), currency="USD",
                                 category=r.args.get("category", "")))
def submit_expense():
    c = claims()  # c.provenance(): "user:alice → agent:planner → agent:executor"
    return {"accepted": request.args["amount"] + " USD", "for": c.subject}


# RFC 9728 metadata, named by the WWW-Authenticate challenges.
@app.get("/.well-known/oauth-protected-resource/expenses")
def resource_metadata():
    return verifier.protected_resource_metadata("expenses:write")


if __name__ == "__main__":
    app.run("127.0.0.1", 8081)
