// Passkey ceremonies for the login and security pages (no inline script:
// the pages' CSP allows only this file). Buttons: #passkey-login,
// #passkey-add; the CSRF token is in data-csrf.
(function () {
  "use strict";
  function b64u(buf) {
    var s = "", b = new Uint8Array(buf);
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64u(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function post(url, csrf, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: body ? JSON.stringify(body) : "{}"}).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error_description || j.error); return j; });
    });
  }
  function show(el, msg) { var p = document.getElementById("passkey-status"); if (p) p.textContent = msg; }
  var login = document.getElementById("passkey-login");
  if (login) login.addEventListener("click", function () {
    var csrf = login.getAttribute("data-csrf"), rt = login.getAttribute("data-return-to") || "";
    post("/login/passkey/begin", csrf).then(function (o) {
      var pk = o.publicKey;
      pk.challenge = unb64u(pk.challenge);
      (pk.allowCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
      return navigator.credentials.get({publicKey: pk});
    }).then(function (a) {
      return post("/login/passkey/finish?return_to=" + encodeURIComponent(rt), csrf, {id: a.id, rawId: b64u(a.rawId), type: a.type,
        response: {clientDataJSON: b64u(a.response.clientDataJSON), authenticatorData: b64u(a.response.authenticatorData),
          signature: b64u(a.response.signature), userHandle: a.response.userHandle ? b64u(a.response.userHandle) : ""}});
    }).then(function (j) { window.location = j.redirect; }, function (e) { show(login, "Passkey sign-in failed: " + e.message); });
  });
  var add = document.getElementById("passkey-add");
  if (add) add.addEventListener("click", function () {
    var csrf = add.getAttribute("data-csrf");
    post("/account/passkeys/begin", csrf).then(function (o) {
      var pk = o.publicKey;
      pk.challenge = unb64u(pk.challenge);
      pk.user.id = unb64u(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = unb64u(c.id); });
      return navigator.credentials.create({publicKey: pk});
    }).then(function (c) {
      return post("/account/passkeys/finish", csrf, {id: c.id, rawId: b64u(c.rawId), type: c.type,
        response: {clientDataJSON: b64u(c.response.clientDataJSON), attestationObject: b64u(c.response.attestationObject)}});
    }).then(function () { window.location.reload(); }, function (e) { show(add, "Passkey registration failed: " + e.message); });
  });
})();
