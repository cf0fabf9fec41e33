// Talking to the API: JSON in and out, the key from sessionStorage, errors as readable text.

export const API = "/api/v1";
const KEY = "sonicmap.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  // One line a person can act on: what failed and why (the server's message, never a trace).
  get readable() {
    const where = this.field ? ` (${this.field})` : "";
    return `${this.message}${where} — HTTP ${this.status}${this.code ? ", " + this.code : ""}`;
  }
}

export const apiKey = {
  get: () => sessionStorage.getItem(KEY) || "",
  set: (v) => sessionStorage.setItem(KEY, v),
  clear: () => sessionStorage.removeItem(KEY),
};

export async function api(path, { method = "GET", body, key = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const k = apiKey.get();
  if (k && (key || method !== "GET")) headers["X-API-Key"] = k;
  let resp;
  try {
    resp = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", `The server cannot be reached (${err.message})`);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const e = data && data.error;
    if (e && e.message) throw new ApiError(resp.status, e.code, e.message, e.field);
    throw new ApiError(resp.status, "http_error", `${method} ${path} failed: ${resp.statusText || "no answer"}`);
  }
  return data;
}

export const qs = (params) =>
  "?" +
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join("&");
