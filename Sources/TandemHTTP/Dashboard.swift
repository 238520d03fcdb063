/// The dashboard every node serves at `/` (DESIGN §8): plain HTML, CSS and JavaScript in
/// the binary, no external fetches. It reads `/v1/status`, follows `/v1/events/stream`
/// (and polls every two seconds, for RTTs and when a token is needed for reads), and offers
/// the operator actions, asking for a token when the API wants one.
///
/// The DOM is a contract for tests: `body[data-loaded]` once a status was drawn,
/// `tr[data-group=G][data-owner=N]` per group, `#leader`, `#alarms li`, `#events li`.
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { background: #24292f; color: #fff; padding: 10px 20px; display: flex; gap: 18px; align-items: baseline; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  header span { color: #c9d1d9; }
  main { display: grid; grid-template-columns: minmax(380px, 1fr) minmax(380px, 1fr); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; }
  section h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; }
  .ok { color: var(--ok); } .bad { color: var(--bad); font-weight: 600; } .warn { color: var(--warn); } .muted { color: var(--muted); }
  button { font: inherit; padding: 2px 8px; margin: 0 4px 2px 0; border: 1px solid var(--line); border-radius: 4px; background: #f6f8fa; cursor: pointer; }
  button:hover { background: #eaeef2; }
  #alarms li.critical, #alarms li.major { color: var(--bad); }
  #alarms li.minor { color: var(--warn); }
  #events { list-style: none; padding: 0; margin: 0; max-height: 420px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12px; }
  #events li { padding: 2px 0; border-bottom: 1px solid #f0f2f4; }
  #events .kind { font-weight: 600; }
  #message { padding: 6px 20px; min-height: 1.4em; }
  svg text { font: 12px system-ui, sans-serif; }
  .wide { grid-column: 1 / -1; }
  @media (max-width: 860px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>Tandem <span id="cluster">…</span></h1>
  <span>asked <b id="asked">…</b></span>
  <span>leader <b id="leader">…</b></span>
  <span id="quorum">…</span>
  <span id="frozen"></span>
  <span id="version" class="muted"></span>
  <span><button id="freeze">freeze</button><button id="unfreeze">unfreeze</button></span>
</header>
<div id="message" role="status"></div>
<main>
  <section id="picture-section">
    <h2>Nodes and links</h2>
    <svg id="picture" viewBox="0 0 460 300" width="100%" role="img" aria-label="nodes and links"></svg>
  </section>
  <section id="alarms-section">
    <h2>Alarms</h2>
    <ul id="alarms"><li class="muted">none</li></ul>
  </section>
  <section id="groups" class="wide">
    <h2>Groups</h2>
    <table><thead><tr><th>Group</th><th>Owner</th><th>Epoch</th><th>Ready standby</th><th>Not ready</th><th>Reason</th><th></th></tr></thead>
      <tbody id="group-rows"></tbody></table>
  </section>
  <section id="nodes" class="wide">
    <h2>Nodes</h2>
    <table><thead><tr><th>Node</th><th>Kind</th><th>Role</th><th>Links up</th><th>Health</th><th>Lag</th><th>Maintenance</th><th>Version</th><th>Config</th><th></th></tr></thead>
      <tbody id="node-rows"></tbody></table>
  </section>
  <section class="wide">
    <h2>Events of every node (newest first)</h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
"use strict";
const $ = (s) => document.querySelector(s);
let token = sessionStorage.getItem("tandem-token") || "";
let status = null;

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  // Never wait forever: a request lost with a dying connection must not stop the page.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeout || 5000);
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers, signal: abort.signal }));
  } finally {
    clearTimeout(timer);
  }
  if ((response.status === 401 || response.status === 403) && !options.retried) {
    const body = await response.json().catch(() => ({}));
    const entered = prompt((body.message || "A token is needed") + "\n\nToken (from api.token_file):", "");
    if (entered) {
      token = entered.trim();
      sessionStorage.setItem("tandem-token", token);
      return api(path, Object.assign({}, options, { retried: true }));
    }
  }
  return response;
}

function say(text, bad) {
  const m = $("#message");
  m.textContent = text;
  m.className = bad ? "bad" : "ok";
}

async function act(path, body, what) {
  if (!confirm(what + "?")) return;
  say(what + " …", false);
  try {
    const response = await api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      say(what + ": done" + (answer.owner ? " — " + answer.owner + " owns " + answer.group + " at epoch " + answer.epoch : "") + " (by " + answer.by + ")", false);
    } else {
      say(what + ": " + (answer.message || response.status) + " (" + (answer.code || response.status) + ")", true);
    }
  } catch (e) {
    say(what + ": " + e, true);
  }
  refresh();
}

function drawPicture(s) {
  const svg = $("#picture");
  const nodes = s.nodes;
  const cx = 230, cy = 150, r = nodes.length > 2 ? 105 : 0;
  const at = {};
  nodes.forEach((n, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / nodes.length;
    at[n.id] = nodes.length === 1 ? [cx, cy] : nodes.length === 2 ? [120 + 220 * i, cy] : [cx + 1.6 * r * Math.cos(angle), cy + r * Math.sin(angle)];
  });
  let out = "";
  // Links as this node sees them: one line per link, offset so that both show.
  const byPeer = {};
  for (const l of s.links) (byPeer[l.peer] = byPeer[l.peer] || []).push(l);
  for (const [peer, links] of Object.entries(byPeer)) {
    if (!at[peer]) continue;
    const [x1, y1] = at[s.node], [x2, y2] = at[peer];
    const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
    links.forEach((l, k) => {
      const off = (k - (links.length - 1) / 2) * 10;
      const ox = (-dy / len) * off, oy = (dx / len) * off;
      const color = l.up ? "#1a7f37" : "#cf222e";
      out += `<line x1="${x1 + ox}" y1="${y1 + oy}" x2="${x2 + ox}" y2="${y2 + oy}" stroke="${color}" stroke-width="3" ${l.up ? "" : 'stroke-dasharray="6 4"'}/>`;
      const label = `L${l.link} ${l.up ? (l.rttMilliseconds != null ? l.rttMilliseconds.toFixed(2) + " ms" : "up") : "down"} · ${(l.loss * 100).toFixed(0)}%`;
      const mx = (x1 + x2) / 2 + ox * 2.2, my = (y1 + y2) / 2 + oy * 2.2;
      out += `<text class="link-label" data-peer="${esc(peer)}" data-link="${l.link}" x="${mx}" y="${my}" text-anchor="middle" fill="${color}">${esc(label)}</text>`;
    });
  }
  for (const n of nodes) {
    const [x, y] = at[n.id];
    const owns = s.groups.filter((g) => g.owner === n.id).map((g) => g.id);
    const leader = s.leader === n.id;
    const fill = n.kind === "witness" ? "#eaeef2" : owns.length ? "#dafbe1" : "#fff";
    out += `<g class="node" data-node="${esc(n.id)}"><circle cx="${x}" cy="${y}" r="30" fill="${fill}" stroke="${leader ? "#0969da" : "#57606a"}" stroke-width="${leader ? 4 : 1.5}"/>`;
    out += `<text x="${x}" y="${y + 4}" text-anchor="middle" font-weight="600">${esc(n.id)}</text>`;
    out += `<text x="${x}" y="${y + 46}" text-anchor="middle" fill="#57606a">${esc(leader ? "leader" : n.kind)}${n.maintenance ? " · maint." : ""}</text>`;
    if (owns.length) out += `<text x="${x}" y="${y + 60}" text-anchor="middle" fill="#1a7f37">runs ${esc(owns.join(", "))}</text>`;
    out += `</g>`;
  }
  svg.innerHTML = out;
}

function render(s) {
  status = s;
  $("#cluster").textContent = s.cluster;
  $("#asked").textContent = s.node + " (" + s.role + ", term " + s.term + ")";
  $("#leader").textContent = s.leader || "none";
  $("#leader").className = s.leader ? "" : "bad";
  $("#quorum").innerHTML = s.quorum ? '<span class="ok">quorum</span>' : '<span class="bad">NO QUORUM</span>';
  $("#frozen").innerHTML = s.frozen ? '<span class="bad">FROZEN: no automatic moves</span>' : "";
  $("#version").textContent = "version " + s.version + " · config revision " + s.configRevision;
  drawPicture(s);

  $("#group-rows").innerHTML = s.groups.map((g) => {
    const notReady = Object.entries(g.notReady || {}).map(([n, why]) => esc(n) + ": " + esc(why))
      .concat(Object.entries(g.mismatched || {}).map(([n, why]) => '<span class="warn">' + esc(n) + " (ready, but) " + esc(why) + "</span>")).join("<br>");
    // Only the leader judges readiness; a follower's page says where to look.
    const unknown = s.role !== "leader" && !g.readyStandbys.length && Object.values(g.notReady || {}).every((why) => why.startsWith("only the leader knows"));
    const ready = g.readyStandbys.length ? `<span class="ok">${esc(g.readyStandbys.join(", "))}</span>`
      : unknown ? `<span class="muted">known by the leader${s.leader ? " (" + esc(s.leader) + ")" : ""}</span>` : '<span class="bad">none</span>';
    return `<tr data-group="${esc(g.id)}" data-owner="${esc(g.owner || "")}">
      <td><b>${esc(g.id)}</b></td><td class="owner">${g.owner ? esc(g.owner) : '<span class="bad">none</span>'}</td>
      <td class="epoch">${g.epoch}${g.ownerSinceWallMilliseconds != null ? '<br><span class="muted">since ' + new Date(g.ownerSinceWallMilliseconds).toLocaleTimeString() + "</span>" : ""}</td><td class="ready">${ready}<br><span class="muted">${g.lastProvenWallMilliseconds != null ? "proven by a drill " + new Date(g.lastProvenWallMilliseconds).toLocaleString() : "never proven by a drill"}</span></td><td class="muted">${notReady || "-"}</td>
      <td class="muted">${esc(g.reason)}${g.pending ? "<br>pending: " + esc(g.pending) : ""}</td>
      <td><button data-action="switchover" data-group="${esc(g.id)}">switch over</button><button data-action="failback" data-group="${esc(g.id)}">fail back</button></td></tr>`;
  }).join("");

  const versions = new Set(s.nodes.filter((n) => n.software).map((n) => n.software));
  $("#node-rows").innerHTML = s.nodes.map((n) => {
    const health = Object.entries(n.health || {}).map(([g, ok]) => `<span class="${ok ? "ok" : "bad"}">${esc(g)}: ${ok ? "ok" : "FAIL"}</span>`).join(" ");
    const links = n.linksUp == null ? '<span class="muted">(this node)</span>' : n.linksUp.length ? esc(n.linksUp.join(", ")) : '<span class="bad">none</span>';
    return `<tr data-node="${esc(n.id)}"><td><b>${esc(n.id)}</b></td><td>${esc(n.kind)}</td><td>${esc(n.role || "-")}</td><td>${links}</td>
      <td>${health || "-"}</td><td>${n.lagEntries != null ? n.lagEntries + " entries" : "-"}</td><td>${n.maintenance ? '<span class="warn">yes</span>' : "no"}</td>
      <td class="${versions.size > 1 ? "warn" : ""}">${esc(n.software || "-")}</td>
      <td class="${n.configRevision != null && n.configRevision !== s.configRevision ? "bad" : ""}">${n.configRevision != null ? n.configRevision : "-"}</td>
      <td>${n.kind === "witness" ? "" : `<button data-action="maintenance" data-node="${esc(n.id)}" data-on="${!n.maintenance}">${n.maintenance ? "end maintenance" : "maintenance"}</button>`}</td></tr>`;
  }).join("");

  $("#alarms").innerHTML = s.alarms.length
    ? s.alarms.map((a) => `<li class="${esc(a.severity)}" data-alarm="${esc(a.id)}"><b>${esc(a.severity)}</b> ${esc(a.message)} <span class="muted">since ${new Date(a.sinceWallMilliseconds).toLocaleTimeString()}</span></li>`).join("")
    : '<li class="muted">none</li>';

  if (!clusterEvents) $("#events").innerHTML = s.events.slice().reverse().map(eventItem).join("");
  document.body.dataset.loaded = "1";
}

// The timeline shows every reachable node's events (merged by time); this node's own, from
// the status, until the first answer.
let clusterEvents = false, eventsAsked = false;
async function refreshEvents() {
  if (eventsAsked) return;
  eventsAsked = true;
  try {
    const response = await api("/v1/events?scope=cluster&limit=50");
    if (!response.ok) return;
    const body = await response.json();
    clusterEvents = true;
    $("#events").innerHTML = body.events.slice().reverse().map(eventItem).join("")
      + (body.missing && body.missing.length ? `<li class="muted">not included (no answer): ${esc(body.missing.join(", "))}</li>` : "");
  } catch (e) {
  } finally {
    eventsAsked = false;
  }
}

function eventItem(e) {
  const when = new Date(e.wallMilliseconds);
  const time = when.toLocaleTimeString() + "." + String(when.getMilliseconds()).padStart(3, "0");
  return `<li data-event="${e.id}">${time} <b>${esc(e.node)}</b> <span class="kind">${esc(e.kind)}</span>${e.group ? " " + esc(e.group) : ""}${e.epoch != null ? " epoch " + e.epoch : ""}: ${esc(e.reason)}${e.evidence ? ' <span class="muted">[' + esc(e.evidence) + "]</span>" : ""}</li>`;
}

let refreshing = false, again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    const response = await api("/v1/status");
    if (response.ok) render(await response.json());
    else say("status: HTTP " + response.status, true);
    // Not awaited: a peer that just died may keep the cluster's answer for up to 2 s, and
    // the status must not wait for it.
    refreshEvents();
  } catch (e) {
    say("the agent does not answer: " + e, true);
  } finally {
    refreshing = false;
    if (again) { again = false; refresh(); }
  }
}

document.addEventListener("click", (event) => {
  const b = event.target.closest("button");
  if (!b) return;
  if (b.id === "freeze") return act("/v1/freeze", { on: true }, "freeze automatic moves");
  if (b.id === "unfreeze") return act("/v1/freeze", { on: false }, "resume automatic moves");
  const d = b.dataset;
  if (d.action === "switchover") {
    const to = prompt("Switch " + d.group + " over to which node? (empty: the best ready standby)", "");
    if (to === null) return;
    return act("/v1/groups/" + encodeURIComponent(d.group) + "/switchover", to.trim() ? { to: to.trim() } : {}, "switch " + d.group + " over" + (to.trim() ? " to " + to.trim() : ""));
  }
  if (d.action === "failback") return act("/v1/groups/" + encodeURIComponent(d.group) + "/failback", {}, "fail " + d.group + " back");
  if (d.action === "maintenance") {
    const on = d.on === "true";
    return act("/v1/nodes/" + encodeURIComponent(d.node) + "/maintenance", { on }, (on ? "put " : "take ") + d.node + (on ? " into" : " out of") + " maintenance");
  }
});

function follow() {
  const source = new EventSource("/v1/events/stream");
  source.addEventListener("event", (message) => {
    // This node's event at once at the top of the timeline; the merged one follows.
    try {
      const e = JSON.parse(message.data);
      $("#events").insertAdjacentHTML("afterbegin", eventItem(e));
    } catch (error) {}
    refresh();
  });
  source.onerror = () => { source.close(); setTimeout(follow, 2000); };
}

refresh();
follow();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""#
}
