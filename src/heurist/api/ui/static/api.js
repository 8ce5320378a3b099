// Talking to heurist: every call carries the operator's token as a Bearer header.
// The tokens live in sessionStorage, so they go away with the tab.

const ADMIN_KEY = "heurist.adminToken";
const DATA_KEY = "heurist.apiToken";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function adminToken() {
  return sessionStorage.getItem(ADMIN_KEY);
}

export function saveTokens(admin, data) {
  sessionStorage.setItem(ADMIN_KEY, admin);
  if (data) sessionStorage.setItem(DATA_KEY, data);
  else sessionStorage.removeItem(DATA_KEY);
}

export function clearTokens() {
  sessionStorage.removeItem(ADMIN_KEY);
  sessionStorage.removeItem(DATA_KEY);
}

// The admin API always gets the admin token; the data API only its own token, if any.
function tokenFor(path) {
  return path.startsWith("/admin/") ? adminToken() : sessionStorage.getItem(DATA_KEY);
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = tokenFor(path);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", `cannot reach the server: ${err.message}`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "http_error",
      error.message || `HTTP ${response.status}`, error.details);
  }
  return data;
}

export const api = {
  status: () => call("GET", "/admin/queue/status"),
  indexStatus: () => call("GET", "/admin/index/status"),
  failed: (limit = 100) => call("GET", `/admin/queue/failed?limit=${limit}`),
  pause: () => call("POST", "/admin/queue/pause"),
  resume: () => call("POST", "/admin/queue/resume"),
  drain: (timeout) => call("POST", `/admin/queue/drain?timeout=${timeout}`),
  requeueStale: () => call("POST", "/admin/queue/requeue-stale"),
  retryFailed: (ids) => call("POST", "/admin/queue/retry-failed", ids ? { ids } : {}),
  rebuild: () => call("POST", "/admin/index/rebuild"),
  search: (q, mode) =>
    call("GET", `/api/v1/search?${new URLSearchParams({ q, mode, limit: "20" })}`),
};
