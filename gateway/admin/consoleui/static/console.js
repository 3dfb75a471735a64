// Legant console: the live parts of the pages. Plain JavaScript, no
// framework; served as a file (the Content-Security-Policy admits no inline
// script). Untrusted text is only ever set with textContent.
"use strict";

(function () {
  const view = document.body.dataset.view;
  if (view === "decisions") decisions();
  if (view === "sessions") sessions();
  if (view === "audit") audit();

  // decisions streams audit events (GET /console/events, SSE; the browser
  // reconnects with Last-Event-ID by itself) into the table, newest first.
  function decisions() {
    const tbody = document.querySelector("#decisions tbody");
    const status = document.getElementById("stream-status");
    const pauseBtn = document.getElementById("pause");
    const form = document.getElementById("filters");
    const maxRows = 1000;
    let paused = false;
    let held = [];
    let lastSeq = 0;

    const kindGroup = { edge_401: "edge", edge_403: "edge", session_start: "session", session_end: "session" };
    function matches(tr) {
      const f = new FormData(form);
      const kind = f.get("kind");
      if (kind && tr.dataset.kind !== kind && kindGroup[tr.dataset.kind] !== kind) return false;
      for (const k of ["user", "agent", "upstream", "tool"]) {
        const want = (f.get(k) || "").trim().toLowerCase();
        if (want && !(tr.dataset[k] || "").toLowerCase().includes(want)) return false;
      }
      return true;
    }
    function applyFilters() {
      for (const tr of tbody.rows) tr.hidden = !matches(tr);
    }
    form.addEventListener("input", applyFilters);
    form.addEventListener("submit", (e) => e.preventDefault());

    function cell(tr, text, cls) {
      const td = tr.insertCell();
      if (cls) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        td.appendChild(span);
      } else {
        td.textContent = text;
      }
      return td;
    }
    function row(ev) {
      const tr = document.createElement("tr");
      const agents = (ev.agents || []).join(" → ");
      Object.assign(tr.dataset, { seq: ev.seq, kind: ev.kind, user: ev.user || "", agent: agents,
        upstream: ev.upstream || "", tool: ev.tool || ev.method || "", session: ev.session || "" });
      const a = document.createElement("a");
      a.href = "/console/events/" + encodeURIComponent(ev.seq);
      a.textContent = ev.seq;
      a.setAttribute("aria-label", "Audit record " + ev.seq);
      tr.insertCell().appendChild(a);
      cell(tr, (ev.time || "").replace("T", " ").replace(/\.\d+Z$/, "Z"));
      cell(tr, ev.kind, "kind kind-" + ev.kind);
      cell(tr, ev.user || "");
      cell(tr, agents);
      cell(tr, ev.upstream || "");
      cell(tr, ev.tool || ev.method || "");
      const value = ev.value ? ev.value + (ev.limit ? " (limit " + ev.limit + ")" : "") : "";
      const v = cell(tr, value.length > 24 ? value.slice(0, 20) + "…" : value);
      if (value.length > 24) v.title = value;
      cell(tr, ev.reason || "");
      const s = cell(tr, ev.session ? ev.session.slice(0, 12) + (ev.session.length > 12 ? "…" : "") : "");
      if (ev.session) s.title = ev.session;
      return tr;
    }
    function show(ev) {
      if (ev.seq <= lastSeq) return; // a reconnect never repeats, but be sure
      lastSeq = ev.seq;
      const tr = row(ev);
      tr.hidden = !matches(tr);
      tr.classList.add("fresh");
      tbody.insertBefore(tr, tbody.firstChild);
      while (tbody.rows.length > maxRows) tbody.deleteRow(-1);
    }
    function setStatus(text) {
      status.textContent = text + (lastSeq ? " · last #" + lastSeq : "");
    }

    pauseBtn.addEventListener("click", () => {
      paused = !paused;
      pauseBtn.setAttribute("aria-pressed", String(paused));
      if (!paused) {
        held.forEach(show);
        held = [];
        pauseBtn.textContent = "Pause";
        setStatus("live");
      } else {
        pauseBtn.textContent = "Resume";
        setStatus("paused");
      }
    });

    const es = new EventSource("/console/events?backlog=200");
    es.onopen = () => setStatus(paused ? "paused" : "live");
    es.onerror = () => setStatus("reconnecting…");
    es.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (paused) {
        held.push(ev);
        pauseBtn.textContent = "Resume (" + held.length + " new)";
        return;
      }
      show(ev);
      setStatus("live");
    };
  }

  // sessions refreshes the table every two seconds, unless a Kill form is
  // open or the keyboard is inside the table.
  function sessions() {
    const table = document.getElementById("sessions");
    const tbody = table.tBodies[0];
    async function refresh() {
      if (tbody.querySelector("details[open]") || tbody.contains(document.activeElement)) return;
      try {
        const r = await fetch("/console/sessions/rows?state=" + encodeURIComponent(table.dataset.state),
          { credentials: "same-origin" });
        if (r.status === 401) { location.href = "/console/login"; return; }
        if (!r.ok) return;
        const html = await r.text();
        if (tbody.querySelector("details[open]") || tbody.contains(document.activeElement)) return;
        const tmp = document.createElement("tbody");
        tmp.innerHTML = html; // server-rendered by html/template, same origin
        tbody.replaceChildren(...tmp.childNodes);
      } catch {
        /* the next tick tries again */
      }
    }
    setInterval(refresh, 2000);
    // Opening a Kill form puts the focus in its reason field.
    tbody.addEventListener("toggle", (e) => {
      if (e.target.open) e.target.querySelector("input[name=reason]")?.focus();
    }, true);
  }

  function audit() {
    const f = document.getElementById("verify-form");
    if (!f) return;
    f.addEventListener("submit", () => {
      document.getElementById("verify-progress").textContent = "verifying the whole chain…";
      f.querySelector("button").disabled = true;
    });
  }
})();
