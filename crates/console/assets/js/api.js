// The console's only way to the server: the CloudStack API at /client/api, exactly as any other
// client uses it. `login` returns a session key (and sets the JSESSIONID and sessionkey cookies);
// every later call sends `sessionkey` as a parameter and the browser sends the cookies.

const ENDPOINT = '/client/api';
const STORE_KEY = 'trellis.console.session';

/** An error from the API (or from reaching it), with CloudStack's code and text. */
export class ApiError extends Error {
  constructor(code, text, command) {
    super(text || 'The request failed.');
    this.code = code;
    this.command = command;
  }
}

let session = null;
try {
  session = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
} catch {
  session = null;
}

const expiredListeners = [];

/** Called with a message when the server no longer accepts our session. */
export function onSessionExpired(fn) {
  expiredListeners.push(fn);
}

/** The current session ({sessionkey, username, account, type, ...}) or null. */
export function currentSession() {
  return session;
}

function saveSession(s) {
  session = s;
  if (s) sessionStorage.setItem(STORE_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(STORE_KEY);
}

function responseBody(json) {
  if (!json || typeof json !== 'object') return null;
  const key = Object.keys(json).find((k) => k.endsWith('response'));
  return key ? json[key] : null;
}

async function post(params) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    body.append(k, typeof v === 'boolean' ? String(v) : String(v));
  }
  let res;
  try {
    res = await fetch(ENDPOINT, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, `Cannot reach the server (${e.message}). Check that Trellis is running.`, params.command);
  }
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const inner = responseBody(json);
  if (!res.ok || (inner && inner.errorcode)) {
    const code = (inner && inner.errorcode) || res.status;
    const msg = (inner && inner.errortext) || res.headers.get('X-Description') ||
      (text && text.length < 300 ? text.trim() : '') || `The server answered HTTP ${res.status}.`;
    throw new ApiError(code, msg, params.command);
  }
  if (!inner) throw new ApiError(res.status, 'The server sent an answer the console cannot read.', params.command);
  return inner;
}

/**
 * Call a command. `params` values that are undefined, null or '' are left out unless
 * `opts.keepEmpty` is set. Returns the inner response object.
 */
export async function call(command, params = {}, opts = {}) {
  const all = { command, response: 'json' };
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (v === '' && !opts.keepEmpty) continue;
    all[k] = v;
  }
  if (session) all.sessionkey = session.sessionkey;
  try {
    return await post(all);
  } catch (e) {
    if (e instanceof ApiError && e.code === 401 && session) {
      saveSession(null);
      apis = null;
      for (const fn of expiredListeners) fn('Your session has ended. Please log in again.');
    }
    throw e;
  }
}

/** A list command: returns {items, count}. `key` is the item key, e.g. 'extension'. */
export async function list(command, params, key) {
  const r = await call(command, params);
  const items = r[key] || [];
  return { items, count: typeof r.count === 'number' ? r.count : items.length };
}

/** All pages of a list command (page size 500). */
export async function listAll(command, params, key) {
  const out = [];
  for (let page = 1; page < 100; page += 1) {
    const { items, count } = await list(command, { ...params, page, pagesize: 500 }, key);
    out.push(...items);
    if (items.length < 500 || out.length >= count) break;
  }
  return out;
}

/** Flatten a key/value object into CloudStack map parameters: name[0].key=value. */
export function mapParams(name, obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj || {})) out[`${name}[0].${k}`] = v;
  return out;
}

let apis = null;

/** Log in; on success the session is stored for this browser tab. */
export async function login(username, password, domain) {
  saveSession(null);
  apis = null;
  const r = await post({
    command: 'login', response: 'json', username, password, domain: domain || '/',
  });
  saveSession({
    sessionkey: r.sessionkey,
    username: r.username,
    account: r.account,
    userid: r.userid,
    domainid: r.domainid,
    type: String(r.type),
    firstname: r.firstname,
    lastname: r.lastname,
  });
  return session;
}

/** Log out (the server drops the session and clears its cookies). */
export async function logout() {
  const key = session && session.sessionkey;
  saveSession(null);
  apis = null;
  try {
    await post({ command: 'logout', response: 'json', sessionkey: key });
  } catch {
    // The session is gone either way.
  }
}

/** The commands this user may call (from listApis), as a Map name → description. */
export async function loadApis() {
  if (apis) return apis;
  const r = await call('listApis', {});
  apis = new Map((r.api || []).map((a) => [a.name, a]));
  return apis;
}

/** Whether the current user may call a command (after loadApis). */
export function can(command) {
  return !!(apis && apis.has(command));
}

/** True for the root-admin account type. */
export function isAdmin() {
  return !!session && session.type === '1';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll queryAsyncJobResult until the job ends. Resolves with `jobresult` on success and
 * rejects with an ApiError carrying the job's errortext on failure. `onTick(elapsedMs)` is
 * called while waiting.
 */
export async function waitForJob(jobid, onTick) {
  const started = Date.now();
  let delay = 400;
  for (;;) {
    const r = await call('queryAsyncJobResult', { jobid });
    if (r.jobstatus === 1) return r.jobresult || {};
    if (r.jobstatus === 2 || r.jobstatus === 3) {
      const jr = r.jobresult || {};
      throw new ApiError(jr.errorcode || r.jobresultcode || 530,
        jr.errortext || (r.jobstatus === 3 ? 'The job was cancelled.' : 'The job failed.'), r.cmd);
    }
    if (onTick) onTick(Date.now() - started);
    await sleep(delay);
    delay = Math.min(delay * 1.5, 2000);
  }
}

/** Start an async command and wait for it. */
export async function callAsync(command, params, onTick) {
  const r = await call(command, params);
  if (!r.jobid) return r;
  return waitForJob(r.jobid, onTick);
}
