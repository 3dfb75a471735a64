// Preloaded (node --require) by scripts/conformance.sh into servers that listen on
// a port without naming a host, such as @modelcontextprotocol/server-everything
// (`app.listen(PORT)`), which would otherwise listen on every interface. It makes
// such a listen bind 127.0.0.1 only; a listen that names a host, a path or an
// options object is left alone.
"use strict";
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const portOnly =
    typeof port === "number" || (typeof port === "string" && /^\d+$/.test(port));
  if (portOnly && (args.length === 1 || typeof args[1] === "function")) {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
