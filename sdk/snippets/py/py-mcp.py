"""An MCP server on the official `mcp` Python SDK (FastMCP, streamable HTTP)
whose tools are authorized per call with the gateway's policy and budgets
(starter for `legant snippet py-mcp`; docs/SDK.md explains it).

    pip install mcp uvicorn   # not packaged by Debian 12
    LEGANT_ISSUER=https://legant.example RESOURCE=http://127.0.0.1:8082/mcp python3 server.py
"""

import os
from decimal import Decimal

import uvicorn
from mcp.server.fastmcp import FastMCP

from legant import AmountBinding, Binding, Pointer, Verifier
from legant.mcpguard import McpGuard, McpGuardMiddleware

verifier = Verifier(os.environ["LEGANT_ISSUER"], os.environ["RESOURCE"])
mcp = FastMCP("expenses")


@mcp.tool()
def submit_expense(amount: Decimal, category: str) -> str:
    """Submit an expense (USD)."""
    return f"expense of {amount} USD ({category}) accepted"


# What policy checks for each tool: the scope, and which argument is the
# amount and the category. A tool without a binding is refused.
guard = McpGuard(verifier, {
    "submit_expense": Binding(scope="expenses:write", amount=AmountBinding(Pointer("/amount"), currency="USD"),
                              category=Pointer("/category")),
})

if __name__ == "__main__":
    uvicorn.run(McpGuardMiddleware(mcp.streamable_http_app(), guard), host="127.0.0.1", port=8082)
