// The curation page: the inbox (proposed entries beside their duplicates, entries flagged
// by feedback), the curator's actions, and an entry's history with revert.
// Everything from the server is put in the page with textContent, never as HTML.

import { adminToken, call, clearTokens, saveTokens } from "./api.js";

const REFRESH_MS = Math.max(5000, Number(document.body.dataset.refreshMs) || 5000);
const $ = (id) => document.getElementById(id);
let timer = null;
let running = false;

const curation = {
  inbox: () => call("GET", "/admin/curation/inbox"),
  approve: (id) => call("POST", `/admin/entries/${encodeURIComponent(id)}/approve`),
  retire: (id, reason) => call("POST", `/admin/entries/${encodeURIComponent(id)}/retire`, { reason }),
  merge: (id, into) => call("POST", `/admin/entries/${encodeURIComponent(id)}/merge`, { into }),
  revert: (id, revision) =>
    call("POST", `/admin/entries/${encodeURIComponent(id)}/revert`, { revision }),
  history: (id) => call("GET", `/api/v1/entries/${encodeURIComponent(id)}/history`),
};

// ---- small DOM helpers --------------------------------------------------------------

function el(tag, text, className, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function button(label, action, id, extra = {}, className = "") {
  return el("button", label, className, { type: "button", "data-act": action, "data-id": id, ...extra });
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

function bodyOf(entry) {
  return entry.playbook || entry.summary || entry.content || "";
}

function meta(entry) {
  const parts = [entry.kind, entry.category, entry.section, `created ${when(entry.created_at)}`];
  return parts.filter(Boolean).join(" · ");
}

function feedbackPills(feedback) {
  return Object.entries(feedback || {}).filter(([, n]) => n > 0)
    .map(([outcome, n]) => el("span", `${outcome} ${n}`, `pill ${outcome}`));
}

// ---- the inbox ----------------------------------------------------------------------

function entryColumn(entry, actions) {
  const column = el("div", null, "entry");
  const title = el("h3", entry.title);
  title.append(...feedbackPills(entry.feedback));
  column.append(title, el("div", meta(entry), "meta"), el("p", bodyOf(entry), "body"), actions);
  return column;
}

// What curators typed, by entry id: it outlives every redraw of the inbox.
const reasons = new Map();

function reasonBox(id) {
  const box = el("input", null, "", { type: "text", placeholder: "reason to retire",
    "data-reason": id, maxlength: "2000" });
  box.value = reasons.get(id) || "";
  box.addEventListener("input", () => reasons.set(id, box.value));
  return box;
}

function twinsColumn(item) {
  const column = el("div", null, "twins");
  column.append(el("h4", "Nearest entries"));
  if (!item.duplicates.length) {
    column.append(el("p", "No similar entry.", "muted"));
    return column;
  }
  const table = el("table");
  const body = el("tbody");
  for (const twin of item.duplicates) {
    const title = el("td", twin.title);
    if (twin.very_close) title.append(el("span", "very close", "pill close"));
    if (twin.state && twin.state !== "approved") title.append(el("span", twin.state, "pill"));
    const score = el("td", twin.score === null ? "–" : Number(twin.score).toFixed(3), "num");
    const by = el("td", (twin.matched_by || []).join(", "), "muted");
    const merge = el("td");
    merge.append(button("Merge into", "merge", item.entry.id, { "data-into": twin.id }, "secondary"));
    const row = el("tr", null, "", { "data-twin": twin.id });
    row.append(title, score, by, merge);
    body.append(row);
  }
  table.append(body);
  column.append(table);
  return column;
}

function proposedItem(item) {
  const id = item.entry.id;
  const actions = el("div", null, "actions");
  actions.append(
    button("Approve", "approve", id),
    reasonBox(id),
    button("Retire", "retire", id, {}, "danger"),
    button("History", "history", id, {}, "secondary"),
  );
  const card = el("div", null, "item", { "data-entry": id });
  card.append(entryColumn(item.entry, actions), twinsColumn(item));
  return card;
}

function flaggedItem(item) {
  const id = item.entry.id;
  const actions = el("div", null, "actions");
  actions.append(
    reasonBox(id),
    button("Retire", "retire", id, {}, "danger"),
    button("History", "history", id, {}, "secondary"),
  );
  const notes = el("div", null, "twins");
  notes.append(el("h4", `Flagged ${when(item.since)}`));
  const list = el("ul", null, "notes");
  for (const note of item.notes || []) {
    const who = note.author ? ` (${note.author})` : "";
    list.append(el("li", `${note.outcome}${who}: ${note.note || "no note"}`));
  }
  notes.append(list);
  const card = el("div", null, "item", { "data-entry": id });
  card.append(entryColumn(item.entry, actions), notes);
  return card;
}

function renderInbox(data) {
  const items = data.items || [];
  const proposed = items.filter((i) => i.why === "proposed");
  const flagged = items.filter((i) => i.why === "flagged");
  $("proposed").replaceChildren(...proposed.map(proposedItem));
  $("flagged").replaceChildren(...flagged.map(flaggedItem));
  $("proposed-count").textContent = String(proposed.length);
  $("flagged-count").textContent = String(flagged.length);
  $("proposed-empty").hidden = proposed.length > 0;
  $("flagged-empty").hidden = flagged.length > 0;
  $("inbox-count").textContent = `${items.length} waiting`;
}

// ---- history ------------------------------------------------------------------------

function changedFields(revision, older) {
  if (!older) return "–";
  return Object.keys(revision.fields).filter((k) => revision.fields[k] !== older.fields[k]).join(", ") || "–";
}

async function showHistory(id) {
  const data = await curation.history(id);
  const revisions = data.revisions || [];
  $("history-title").textContent = revisions.length ? revisions[0].fields.title : id;
  $("history").dataset.entry = id;
  $("history-table").tBodies[0].replaceChildren(...revisions.map((r, i) => {
    const row = el("tr", null, "", { "data-revision": String(r.revision) });
    const cell = el("td");
    if (i > 0) cell.append(button(`Revert to ${r.revision}`, "revert", id, { "data-revision": String(r.revision) }, "secondary"));
    row.append(el("td", r.revision, "num"), el("td", when(r.at)), el("td", r.action),
      el("td", r.author || "–"), el("td", r.fields.title), el("td", changedFields(r, revisions[i + 1])), cell);
    return row;
  }));
  $("history").hidden = false;
}

// ---- actions ------------------------------------------------------------------------

function reasonFor(id) {
  return (reasons.get(id) || "").trim();
}

const ACTIONS = {
  approve: (b) => curation.approve(b.dataset.id).then((e) => `approved “${e.title}”`),
  retire: (b) => curation.retire(b.dataset.id, reasonFor(b.dataset.id))
    .then((e) => {
      reasons.delete(b.dataset.id);
      return `retired “${e.title}”`;
    }),
  merge: (b) => curation.merge(b.dataset.id, b.dataset.into)
    .then((r) => `merged “${r.source.title}” into “${r.target.title}”`),
  revert: (b) => curation.revert(b.dataset.id, Number(b.dataset.revision))
    .then((e) => `reverted “${e.title}” to revision ${b.dataset.revision}`),
  history: (b) => showHistory(b.dataset.id).then(() => ""),
};

async function act(btn) {
  const result = $("action-result");
  btn.disabled = true;
  try {
    const message = await ACTIONS[btn.dataset.act](btn);
    if (message) {
      result.className = "result ok";
      result.textContent = message;
    }
    if (btn.dataset.act === "revert") await showHistory(btn.dataset.id);
  } catch (err) {
    if (err.status === 401) return logout("The server refused the token; sign in again.");
    result.className = "result error";
    result.textContent = `${btn.textContent} failed: ${err.message}`;
  } finally {
    btn.disabled = false;
  }
  if (btn.dataset.act !== "history") await refresh();
}

// ---- refresh, sign in and out -------------------------------------------------------

async function refresh() {
  try {
    const data = await curation.inbox();
    if (!running) return;
    renderInbox(data);
    $("conn").hidden = true;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status === 401) return logout("The server refused the token; sign in again.");
    $("conn").hidden = false;
    $("conn").textContent = err.message;
  }
}

async function loop() {
  // Never redraw under a curator typing a reason.
  if (!(document.activeElement && document.activeElement.dataset.reason)) await refresh();
  if (running) timer = setTimeout(loop, REFRESH_MS);
}

function show(signedIn) {
  $("login").hidden = signedIn;
  $("curation").hidden = !signedIn;
  $("logout").hidden = !signedIn;
}

function start() {
  show(true);
  running = true;
  loop();
}

function logout(message) {
  running = false;
  clearTimeout(timer);
  clearTokens();
  for (const id of ["proposed", "flagged"]) $(id).replaceChildren();
  $("history").hidden = true;
  show(false);
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
}

async function onLogin(event) {
  event.preventDefault();
  const apiInput = $("api-token");
  saveTokens($("token").value.trim(), apiInput ? apiInput.value.trim() : "");
  try {
    await curation.inbox();
  } catch (err) {
    clearTokens();
    $("login-error").textContent = err.status === 401
      ? "The server refused that token." : `Cannot sign in: ${err.message}`;
    $("login-error").hidden = false;
    return;
  }
  $("token").value = "";
  $("login-error").hidden = true;
  start();
}

async function onLookup(event) {
  event.preventDefault();
  const id = $("history-id").value.trim();
  try {
    await showHistory(id);
  } catch (err) {
    if (err.status === 401) return logout("The server refused the token; sign in again.");
    $("action-result").className = "result error";
    $("action-result").textContent = `history of ${id} failed: ${err.message}`;
  }
}

function boot() {
  $("login-form").addEventListener("submit", onLogin);
  $("history-form").addEventListener("submit", onLookup);
  $("logout").addEventListener("click", () => logout(""));
  $("refresh").addEventListener("click", refresh);
  $("history-close").addEventListener("click", () => { $("history").hidden = true; });
  document.addEventListener("click", (event) => {
    const btn = event.target.closest("button[data-act]");
    if (btn && running) act(btn);
  });
  if (adminToken()) start();
  else show(false);
}

boot();
