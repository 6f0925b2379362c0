// Small DOM utilities. Everything the console shows is built with these: text goes in as text
// nodes, never as HTML, so values from the API cannot inject markup.

const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'indeterminate', 'open']);

/** Create an element: h('button', {class: 'btn', onclick: fn}, 'Save'). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  const later = [];
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (PROPS.has(k)) {
      later.push([k, v]);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  for (const [k, v] of later) el[k] = v;
  return el;
}

/** Append children: strings, numbers, nodes, arrays of those; null/false skipped. */
export function append(parent, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === true) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

/** Replace all children of an element. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let seq = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix = 'id') {
  seq += 1;
  return `${prefix}-${seq}`;
}

/** Parse CloudStack's `2026-11-22T22:27:33+0000` (and ISO forms) into a Date, or null. */
export function parseDate(s) {
  if (!s) return null;
  const fixed = String(s).replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const d = new Date(fixed);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, '0');

/**
 * A <time> element showing a date in the browser's local time, YYYY-MM-DD HH:mm:ss; with
 * `short`, without the seconds (tables), the full time in its tooltip.
 */
export function time(s, opts = {}) {
  const d = parseDate(s);
  if (!d) return s ? String(s) : '';
  const minutes = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const full = `${minutes}:${pad(d.getSeconds())}`;
  return h('time', { datetime: d.toISOString(), title: opts.short ? full : String(s) }, opts.short ? minutes : full);
}

/** Format a Date as CloudStack's `YYYY-MM-DDTHH:mm:ssZ` in UTC. */
export function toApiDate(d) {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** Memory in MiB as a short text. */
export function mib(n) {
  if (n === undefined || n === null || n === '') return '';
  const v = Number(n);
  if (!Number.isFinite(v)) return String(n);
  return v >= 1024 && v % 1024 === 0 ? `${v / 1024} GiB` : `${v} MiB`;
}
