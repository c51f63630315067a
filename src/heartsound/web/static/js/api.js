// HTTP calls to the heartsound API. The token (if the page was opened with ?token=)
// is kept in sessionStorage and sent as a Bearer header; the server also set a cookie.
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("hs_token", params.get("token"));
  params.delete("token");
  const q = params.toString();
  history.replaceState(null, "", location.pathname + (q ? "?" + q : ""));
}
const token = sessionStorage.getItem("hs_token");

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function request(path, options = {}, retries = 3) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set("Authorization", "Bearer " + token);
  const resp = await fetch(path, { ...options, headers });
  if (resp.status === 503 && retries > 0) {
    // the server's queue is full: wait as it says (at most 10 s) and try again
    await sleep(1000 * Math.min(10, Number(resp.headers.get("Retry-After")) || 1));
    return request(path, options, retries - 1);
  }
  if (!resp.ok) {
    let detail = resp.statusText;
    try { detail = (await resp.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new ApiError(resp.status, `${resp.status}: ${detail}`);
  }
  return resp;
}

export const getJSON = async (path) => (await request(path)).json();

export async function postJSON(path, body) {
  const resp = await request(path, { method: "POST", body: JSON.stringify(body),
                                     headers: { "Content-Type": "application/json" } });
  return resp.json();
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== undefined && v !== null && v !== "") q.set(k, v);
  }
  return q.toString();
}

export async function upload(file, method, tasks) {
  const form = new FormData();
  form.append("file", file, file.name);
  if (method) form.append("method", method);
  if (tasks) form.append("tasks", tasks);
  const resp = await request("/api/analyze?keep=true", { method: "POST", body: form });
  return { id: resp.headers.get("X-Heartsound-Id"), result: await resp.json() };
}
