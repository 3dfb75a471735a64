"""A FastAPI service that enforces Legant delegation tokens itself, offline
(starter for `legant snippet fastapi`; docs/SDK.md explains it).

    apt-get install python3-fastapi python3-uvicorn python3-jwt python3-cryptography   # or pip
    LEGANT_ISSUER=https://legant.example RESOURCE=https://api.example/expenses python3 app.py
"""

import os

from fastapi import FastAPI, Request

from legant import Action, Verifier
from legant.asgi import LegantMiddleware, claims_of

verifier = Verifier(os.environ["LEGANT_ISSUER"], os.environ["RESOURCE"])
app = FastAPI()
# Every request needs a valid, unrevoked token with scope expenses:write;
# the Action is authorized (policy, budget, max_calls) before the endpoint runs.
app.add_middleware(LegantMiddleware, verifier=verifier, scope="expenses:write",
                   action=lambda r: Action(tool="submit_expense", amount=r.query_params.get("amount", ""),
                                           currency="USD", category=r.query_params.get("category", "")))


@app.post("/expenses")
def submit_expense(request: Request, amount: str):
    c = claims_of(request)  # c.provenance(): "user:alice → agent:planner → agent:executor"
    return {"accepted": amount + " USD", "for": c.subject}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8081)
