// The dashboard: log in, then poll the admin API every REFRESH_MS and redraw in place.
// Everything from the server is put in the page with textContent, never as HTML.

import { api, adminToken, clearTokens, saveTokens } from "./api.js";
import { drawSparkline } from "./chart.js";

const REFRESH_MS = Number(document.body.dataset.refreshMs) || 1500;
const WINDOW_MS = 5 * 60 * 1000;
const DRAIN_TIMEOUT_S = 30;
const STATUSES = ["pending", "processing", "embedded", "failed"];

const $ = (id) => document.getElementById(id);
let samples = [];
let timer = null;
let running = false;

// ---- small DOM helpers --------------------------------------------------------------

function td(text, className) {
  const cell = document.createElement("td");
  cell.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) cell.className = className;
  return cell;
}

function fillBody(table, rows) {
  table.tBodies[0].replaceChildren(...rows);
}

function tr(cells, attrs = {}) {
  const row = document.createElement("tr");
  row.append(...cells);
  for (const [key, value] of Object.entries(attrs)) row.setAttribute(key, value);
  return row;
}

function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return "none pending";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

function formatTime(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "–";
}

function yesNo(flag) {
  return flag ? "yes" : "no";
}

// ---- rendering -----------------------------------------------------------------------

function renderQueue(status) {
  const queue = status.queue || {};
  const names = [...STATUSES, ...Object.keys(queue).filter((s) => !STATUSES.includes(s))];
  fillBody($("queue-table"), names.map((name) => {
    const counts = queue[name] || {};
    return tr([
      td(name, `status status-${name}`),
      td(counts.experience ?? 0, "num"),
      td(counts.manual ?? 0, "num"),
      td(counts.total ?? 0, "num total"),
    ], { "data-status": name });
  }));
  $("oldest-pending").textContent = formatAge(status.oldest_pending_age_seconds);
  const badge = $("paused-badge");
  badge.textContent = status.paused ? "paused" : "running";
  badge.className = `badge ${status.paused ? "paused" : "running"}`;
  const pause = status.pause || {};
  $("pause-detail").textContent = pause.import_paused
    ? `by an import (${pause.import_paused_by}), lapses in ${formatAge(pause.import_pause_expires_in)}`
    : "";
}

function renderWorkers(workers) {
  fillBody($("workers-table"), workers.map((w) => tr([
    td(w.id, "mono"),
    td(yesNo(w.alive), w.alive ? "ok" : "bad"),
    td(yesNo(w.paused)),
    td(w.state),
    td(w.current_batch.length ? `${w.current_batch.length}: ${w.current_batch.join(", ")}` : "–",
      "mono batch"),
    td(w.processed, "num"),
    td(w.succeeded, "num"),
    td(w.failed, "num"),
    td(w.restarts, "num"),
    td(formatTime(w.last_run)),
  ], { "data-worker": w.id })));
  $("workers-empty").hidden = workers.length > 0;
}

function retryButton(id) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Retry";
  button.dataset.retryId = id;
  const cell = document.createElement("td");
  cell.append(button);
  return cell;
}

function renderFailed(data) {
  const rows = data.failed || [];
  fillBody($("failed-table"), rows.map((f) => {
    const error = td(f.last_error, "error-text");
    error.title = f.last_error || "";
    return tr([
      td(f.id, "mono"), td(f.kind), td(f.title), td(f.attempts, "num"), error,
      td(formatTime(f.updated_at)), retryButton(f.id),
    ], { "data-entry": f.id });
  }));
  $("failed-count").textContent = String(rows.length);
  $("failed-empty").hidden = rows.length > 0;
  $("failed-table").hidden = rows.length === 0;
}

// ---- samples and charts --------------------------------------------------------------

function addSample(status) {
  const queue = status.queue || {};
  const total = (name) => (queue[name] ? queue[name].total : 0);
  const now = Date.now();
  samples.push({
    t: now,
    embedded: total("embedded"),
    inflight: total("pending") + total("processing"),
    lag: status.oldest_pending_age_seconds || 0,
  });
  samples = samples.filter((s) => s.t >= now - WINDOW_MS);
}

// Throughput is the rise of the embedded count between samples (every process's workers);
// an edit that sends an entry back to pending is not a negative throughput.
function throughputPoints() {
  const points = [];
  for (let i = 1; i < samples.length; i += 1) {
    const seconds = (samples[i].t - samples[i - 1].t) / 1000;
    const rise = Math.max(0, samples[i].embedded - samples[i - 1].embedded);
    if (seconds > 0) points.push({ t: samples[i].t, v: rise / seconds });
  }
  return points;
}

function renderCharts() {
  const rate = throughputPoints();
  drawSparkline($("chart-throughput"), rate, WINDOW_MS);
  drawSparkline($("chart-depth"), samples.map((s) => ({ t: s.t, v: s.inflight })), WINDOW_MS);
  drawSparkline($("chart-lag"), samples.map((s) => ({ t: s.t, v: s.lag })), WINDOW_MS);
  const recent = rate.filter((p) => p.t >= Date.now() - 10000);
  const avg = recent.length ? recent.reduce((a, p) => a + p.v, 0) / recent.length : 0;
  $("throughput").textContent = `${avg.toFixed(1)} /s (last 10 s)`;
}

function renderModel(index) {
  $("serving-model").textContent = index.serving_model || "–";
  const migration = index.migration;
  $("migration").hidden = !migration;
  if (!migration) return;
  const { done, total } = migration;
  $("migration-models").textContent = `${migration.from} → ${migration.to}`;
  const bar = $("migration-progress");
  bar.max = Math.max(total, 1);
  bar.value = done;
  $("migration-count").textContent = `${done} / ${total}`;
  $("migration-eta").textContent = migration.eta_seconds === null || migration.eta_seconds === undefined
    ? "estimating…" : `about ${formatAge(migration.eta_seconds)} left`;
}

// ---- the refresh loop ----------------------------------------------------------------

function setConnection(message) {
  $("conn").hidden = !message;
  $("conn").textContent = message || "";
}

async function refresh() {
  try {
    const [status, failed, index] = await Promise.all([
      api.status(), api.failed(), api.indexStatus(),
    ]);
    if (!running) return;
    renderQueue(status);
    renderModel(index);
    renderWorkers(status.workers || []);
    renderFailed(failed);
    addSample(status);
    renderCharts();
    setConnection("");
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err.status === 401) logout("The server refused the token; sign in again.");
    else setConnection(err.message);
  }
}

async function loop() {
  await refresh();
  if (running) timer = setTimeout(loop, REFRESH_MS);
}

// ---- actions -------------------------------------------------------------------------

const ACTIONS = {
  pause: [api.pause, () => "paused: workers finish the batch in hand and claim nothing new"],
  resume: [api.resume, () => "resumed"],
  drain: [() => api.drain(DRAIN_TIMEOUT_S), (r) => (r.status === "drained"
    ? "drained: nothing pending or processing"
    : `drain timed out after ${DRAIN_TIMEOUT_S} s: ${r.remaining} still pending or processing`)],
  "requeue-stale": [api.requeueStale, (r) => `${r.moved} stale entries requeued`],
  rebuild: [api.rebuild, (r) => `index rebuilt from the database: ${r.vectors} vectors`],
  "retry-all": [() => api.retryFailed(), (r) => `${r.moved} failed entries back to pending`],
};

async function act(button, run, describe) {
  const result = $("action-result");
  button.disabled = true;
  result.className = "result busy";
  result.textContent = `${button.textContent}…`;
  try {
    const answer = await run();
    result.className = "result ok";
    result.textContent = describe(answer);
  } catch (err) {
    if (err.status === 401) return logout("The server refused the token; sign in again.");
    result.className = "result error";
    result.textContent = `${button.textContent} failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
  await refresh();
}

function onClick(event) {
  const button = event.target.closest("button");
  if (!button || !running) return;
  if (button.dataset.action in ACTIONS) {
    const [run, describe] = ACTIONS[button.dataset.action];
    act(button, run, describe);
  } else if (button.dataset.retryId) {
    const id = button.dataset.retryId;
    act(button, () => api.retryFailed([id]), (r) => `entry ${id}: ${r.moved} back to pending`);
  }
}

// ---- search --------------------------------------------------------------------------

function renderResults(results) {
  fillBody($("search-results"), results.map((r) => tr([
    td(r.title), td(r.kind), td(r.category), td(Number(r.score).toFixed(4), "num"),
    td(r.embedding_status, `status status-${r.embedding_status}`),
    td((r.matched_by || []).join(", ")),
  ], { "data-entry": r.id })));
  $("search-results").hidden = results.length === 0;
  $("search-empty").hidden = results.length > 0;
}

async function onSearch(event) {
  event.preventDefault();
  $("search-error").hidden = true;
  try {
    const data = await api.search($("search-q").value, $("search-mode").value);
    renderResults(data.results || []);
  } catch (err) {
    $("search-error").textContent = err.status === 401
      ? "The data API needs its own token: sign in again and give it."
      : `search failed: ${err.message}`;
    $("search-error").hidden = false;
  }
}

// ---- signing in and out --------------------------------------------------------------

function show(signedIn) {
  $("login").hidden = signedIn;
  $("dashboard").hidden = !signedIn;
  $("logout").hidden = !signedIn;
}

function start() {
  show(true);
  running = true;
  loop();
}

function clearDashboard() {
  for (const id of ["queue-table", "workers-table", "failed-table", "search-results"]) {
    fillBody($(id), []);
  }
  for (const id of ["chart-throughput", "chart-depth", "chart-lag"]) $(id).replaceChildren();
  $("action-result").textContent = "";
  $("updated").textContent = "";
  samples = [];
}

function logout(message) {
  running = false;
  clearTimeout(timer);
  clearTokens();
  clearDashboard();
  show(false);
  setConnection("");
  $("login-error").textContent = message || "";
  $("login-error").hidden = !message;
}

async function onLogin(event) {
  event.preventDefault();
  const apiInput = $("api-token");
  saveTokens($("token").value.trim(), apiInput ? apiInput.value.trim() : "");
  try {
    await api.status();
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

async function boot() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => logout(""));
  $("search-form").addEventListener("submit", onSearch);
  document.addEventListener("click", onClick);
  if (!adminToken()) return show(false);
  try {
    await api.status();
    start();
  } catch (err) {
    logout(err.status === 401 ? "The saved token was refused; sign in again." : err.message);
  }
}

boot();
