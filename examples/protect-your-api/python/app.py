"""The protect-your-api example in Python: a Flask API that enforces Legant
delegation tokens itself with the Python SDK (sdk/python), offline, from the
JWKS and signed revocation feed files run.sh publishes.

    PYTHONPATH=sdk/python /usr/bin/python3 examples/protect-your-api/python/app.py \\
        --issuer https://issuer.example --jwks jwks.json --feed revoked.jwt --addr-file addr
"""

from __future__ import annotations

import argparse
import pathlib

from flask import Flask, request
from werkzeug.serving import make_server

from legant import Action, Verifier, VerifierOptions
from legant.flask import claims, protect

RESOURCE = "https://api.example/expenses"


def create_app(v: Verifier) -> Flask:
    app = Flask("protect-your-api")

    @app.post("/expenses")
    @protect(v, scope="expenses:write",
             action=lambda r: Action(tool="submit_expense", amount=r.args.get("amount", ""), currency="USD"))
    def submit_expense() -> dict[str, str]:
        c = claims()
        return {"accepted": request.args["amount"] + " USD", "by": c.provenance()}

    @app.get("/.well-known/oauth-protected-resource/expenses")
    def metadata() -> dict:
        return v.protected_resource_metadata("expenses:write")
    return app


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--issuer", required=True)
    p.add_argument("--jwks", required=True, help="the issuer's JWKS, as a file")
    p.add_argument("--feed", required=True, help="the issuer's signed revocation feed, as a file")
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--addr-file", help="write the address listened on here")
    p.add_argument("--feed-interval", type=float, default=0.2)
    a = p.parse_args()
    v = Verifier(a.issuer, RESOURCE, VerifierOptions(jwks_file=a.jwks, feed_file=a.feed, feed_interval=a.feed_interval))
    host, port = a.listen.rsplit(":", 1)
    srv = make_server(host, int(port), create_app(v), threaded=True)
    addr = f"{host}:{srv.server_port}"
    print(f"python API listening on {addr}", flush=True)
    if a.addr_file:
        pathlib.Path(a.addr_file).write_text(addr)
    try:
        srv.serve_forever()
    finally:
        v.close()


if __name__ == "__main__":
    main()
