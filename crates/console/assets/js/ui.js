// Building blocks shared by the pages: buttons, badges, tables, key/value views, dialogs, forms
// with labelled fields and inline errors, toasts, the job tray, tabs and paged lists.

import { h, append, replace, uid, time } from './dom.js';
import { ApiError, call, list, waitForJob } from './api.js';

// ---------------------------------------------------------------------------------------------
// Small pieces

export function button(label, onclick, opts = {}) {
  return h('button', {
    type: opts.type || 'button',
    class: ['btn', opts.kind && `btn-${opts.kind}`, opts.small && 'btn-small'],
    onclick,
    disabled: opts.disabled,
    title: opts.title,
    'aria-label': opts.ariaLabel,
    dataset: opts.data,
  }, label);
}

export function link(label, href, opts = {}) {
  return h('a', { href, class: opts.class, title: opts.title }, label);
}

const GOOD = ['enabled', 'running', 'up', 'active', 'ready', 'yes', 'true', 'succeeded', 'completed',
  'download complete'];
const BAD = ['error', 'down', 'alert', 'disconnected', 'failed', 'destroyed', 'expunging', 'not ready',
  'errorinmaintenance'];
const BUSY = ['starting', 'stopping', 'migrating', 'preparing', 'prepareformaintenance', 'creating',
  'connecting', 'rebooting', 'destroying', 'running job', 'maintenance'];

/** A colour-coded state label. The text is always shown; colour only reinforces it. */
export function badge(text, tone) {
  const t = String(text ?? '');
  const low = t.toLowerCase();
  const cls = tone || (GOOD.includes(low) ? 'good' : BAD.includes(low) ? 'bad'
    : BUSY.includes(low) ? 'busy' : 'neutral');
  return h('span', { class: `badge badge-${cls}` }, t);
}

/** An event level: ERROR red, WARN amber, INFO grey. */
export function levelBadge(level) {
  return badge(level, level === 'ERROR' ? 'bad' : level === 'WARN' ? 'busy' : 'neutral');
}

export function yesNo(v) {
  if (v === undefined || v === null) return '';
  const yes = v === true || v === 'true';
  return badge(yes ? 'Yes' : 'No', yes ? 'good' : 'neutral');
}

export function pathReady(v) {
  return v ? badge('Ready', 'good') : badge('Not ready', 'bad');
}

export function code(text) {
  return h('code', { class: 'mono' }, text ?? '');
}

export function spinner(label = 'Loading') {
  return h('span', { class: 'spinner', role: 'status', 'aria-label': label });
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, spinner(), ' ', text);
}

/** A page-level error with a retry button. */
export function errorBox(e, retry) {
  return h('div', { class: 'notice notice-error', role: 'alert' },
    h('p', {}, h('strong', {}, 'Could not load this page. '), errText(e)),
    retry ? button('Try again', retry) : null);
}

export function notice(kind, ...content) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : null }, ...content);
}

/** The plain-words text of an error. */
export function errText(e) {
  if (e instanceof ApiError) return e.message;
  if (e && e.message) return e.message;
  return String(e);
}

// ---------------------------------------------------------------------------------------------
// Page header, field lists, tables

export function pageHeader(title, opts = {}) {
  return h('header', { class: 'page-header' },
    h('div', { class: 'page-title' },
      opts.crumbs ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        opts.crumbs.map(([label, href]) => [h('a', { href }, label), ' / '])) : null,
      h('h1', { tabindex: '-1', id: 'page-title' }, title),
      opts.subtitle ? h('p', { class: 'subtitle' }, opts.subtitle) : null),
    opts.actions && opts.actions.length ? h('div', { class: 'toolbar' }, opts.actions) : null);
}

/** A definition list of [label, value] pairs; empty values show a dash. */
export function fieldList(pairs) {
  return h('dl', { class: 'fields' }, pairs.filter(Boolean).map(([k, v]) => [
    h('dt', {}, k),
    h('dd', {}, v === undefined || v === null || v === '' ? h('span', { class: 'muted' }, '—') : v),
  ]));
}

/** A map of details as a two-column table. */
export function kvTable(obj, empty = 'No details.') {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table kv' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', {}, entries.map(([k, v]) => h('tr', {},
      h('th', { scope: 'row' }, code(k)),
      h('td', {}, typeof v === 'object' ? code(JSON.stringify(v)) : String(v)))))));
}

function colClass(c) {
  const actions = c.label === 'Actions';
  return [c.class, c.wrap && 'wrap', c.trunc && 'trunc', (c.fit || actions) && 'fit', actions && 'actions']
    .filter(Boolean).join(' ') || null;
}

/**
 * A table. columns: [{label, key?, render?(row), class?, wrap?, trunc?, fit?}]; rows: objects.
 * Cells stay on one line unless `wrap` is set; `trunc` cells share the width left over and cut
 * their text with an ellipsis (the whole text is in the tooltip); `fit` cells (and Actions) take
 * just the width of their content. Below 640px wide, rows become stacked cards.
 */
export function table({ columns, rows, empty = 'Nothing here yet.', caption, rowAttrs }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const cell = (c, row) => {
    const td = h('td', { class: colClass(c), 'data-label': c.label },
      c.render ? c.render(row) : (row[c.key] ?? ''));
    if (c.trunc) {
      const tip = typeof c.trunc === 'function' ? c.trunc(row) : td.textContent.trim();
      if (tip) td.title = tip;
    }
    return td;
  };
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'Table' },
    h('table', { class: 'table stack' },
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: colClass(c) }, c.label)))),
      h('tbody', {}, rows.map((row) => h('tr', rowAttrs ? rowAttrs(row) : {},
        columns.map((c) => cell(c, row)))))));
}

/** The "Created" column. */
export const created = { label: 'Created', class: 'date', fit: true, render: (r) => time(r.created, { short: true }) };

// ---------------------------------------------------------------------------------------------
// Toasts and the job tray

const toastRoot = () => document.getElementById('toasts');

export function toast(message, kind = 'info', opts = {}) {
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('div', { class: 'toast-body' }, message),
    button('Dismiss', () => el.remove(), { kind: 'link', small: true, ariaLabel: 'Dismiss message' }));
  toastRoot().append(el);
  const ttl = opts.ttl ?? (kind === 'error' ? 15000 : 6000);
  if (ttl > 0) setTimeout(() => el.remove(), ttl);
  return el;
}

/**
 * Follow an async job in the tray: shows progress, then a success or error toast. Resolves with
 * the job result, or null when it failed (the error was shown).
 */
export async function trackJob(label, jobid, { onDone } = {}) {
  const status = h('span', {}, 'started');
  const el = h('div', { class: 'toast toast-job', role: 'status', dataset: { jobid } },
    h('div', { class: 'toast-body' }, spinner('Running'), ' ', h('strong', {}, label), ' — ', status));
  toastRoot().append(el);
  try {
    const result = await waitForJob(jobid, (ms) => {
      status.textContent = `running for ${Math.round(ms / 1000)} s`;
    });
    el.remove();
    toast(`${label}: done.`, 'success');
    if (onDone) onDone(result);
    return result;
  } catch (e) {
    el.remove();
    toast(`${label} failed: ${errText(e)}`, 'error');
    if (onDone) onDone(null);
    return null;
  }
}

/** Call an async command and follow its job. */
export async function runJob(label, command, params, opts = {}) {
  try {
    const r = await call(command, params);
    if (!r.jobid) {
      toast(`${label}: done.`, 'success');
      if (opts.onDone) opts.onDone(r);
      return r;
    }
    return await trackJob(label, r.jobid, opts);
  } catch (e) {
    toast(`${label} failed: ${errText(e)}`, 'error');
    if (opts.onDone) opts.onDone(null);
    return null;
  }
}

/** Call a synchronous command with a toast for the outcome. Returns the response or null. */
export async function runCall(label, command, params, opts = {}) {
  try {
    const r = await call(command, params);
    if (!opts.quiet) toast(`${label}: done.`, 'success');
    return r;
  } catch (e) {
    toast(`${label} failed: ${errText(e)}`, 'error');
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Dialogs

/** Open a modal dialog. Returns {dialog, body, footer, close}. */
export function openDialog({ title, wide, onClose }) {
  const titleId = uid('dlg-title');
  const body = h('div', { class: 'dialog-body' });
  const footer = h('div', { class: 'dialog-footer' });
  const dialog = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId },
    h('div', { class: 'dialog-header' },
      h('h2', { id: titleId }, title),
      button('×', () => close(), { kind: 'ghost', ariaLabel: 'Close dialog', title: 'Close' })),
    body, footer);
  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (onClose) onClose();
  }
  dialog.addEventListener('close', close);
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, footer, close };
}

/** Ask for confirmation. Resolves true or false. */
export function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const d = openDialog({ title, onClose: () => resolve(answer) });
    append(d.body, h('p', {}, message));
    const ok = button(confirmLabel, () => { answer = true; d.close(); }, { kind: danger ? 'danger' : 'primary' });
    append(d.footer, button('Cancel', () => d.close()), ok);
    ok.focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Form fields. Each returns {name, el, get(), validate(), setError(msg), focus()}.

function fieldShell(f, control, opts) {
  const hintId = opts.hint ? uid('hint') : null;
  const errId = uid('err');
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const labelEl = opts.label ? h('label', { for: control.id },
    opts.label, opts.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null) : null;
  f.el = h('div', { class: ['field', opts.inline && 'field-inline', opts.class] },
    opts.inline ? [control, labelEl] : [labelEl, control],
    opts.hint ? h('p', { class: 'hint', id: hintId }, opts.hint) : null, err);
  f.setError = (msg) => {
    if (msg) {
      err.textContent = msg;
      err.hidden = false;
      control.setAttribute('aria-invalid', 'true');
      control.setAttribute('aria-describedby', [hintId, errId].filter(Boolean).join(' '));
    } else {
      err.textContent = '';
      err.hidden = true;
      control.removeAttribute('aria-invalid');
      if (hintId) control.setAttribute('aria-describedby', hintId);
      else control.removeAttribute('aria-describedby');
    }
  };
  f.focus = () => control.focus();
  f.control = control;
  return f;
}

function requiredCheck(opts, v) {
  return opts.required && (v === '' || v === undefined || v === null) ? `${opts.label} is required.` : null;
}

export function textField(opts) {
  const id = uid(`f-${opts.name}`);
  const input = opts.multiline
    ? h('textarea', { id, name: opts.name, rows: opts.rows || 3, required: opts.required, placeholder: opts.placeholder })
    : h('input', {
      id, name: opts.name, type: opts.type || 'text', required: opts.required, placeholder: opts.placeholder,
      autocomplete: opts.autocomplete || 'off', inputmode: opts.inputmode, disabled: opts.disabled,
      spellcheck: opts.type === 'password' ? 'false' : null,
    });
  input.value = opts.value ?? '';
  const f = { name: opts.name };
  f.get = () => (opts.trim === false ? input.value : input.value.trim());
  f.validate = () => requiredCheck(opts, f.get()) || (opts.check ? opts.check(f.get()) : null);
  return fieldShell(f, input, opts);
}

export function numberField(opts) {
  return textField({
    ...opts,
    inputmode: 'numeric',
    check: (v) => {
      if (v === '') return null;
      if (!/^[0-9]+$/.test(v)) return `${opts.label} must be a whole number.`;
      if (opts.min !== undefined && Number(v) < opts.min) return `${opts.label} must be at least ${opts.min}.`;
      return opts.check ? opts.check(v) : null;
    },
  });
}

/** options: [{value, label}] or strings. */
export function selectField(opts) {
  const id = uid(`f-${opts.name}`);
  const sel = h('select', { id, name: opts.name, required: opts.required, disabled: opts.disabled });
  const f = { name: opts.name };
  f.setOptions = (options, value) => {
    replace(sel,
      opts.placeholder !== undefined ? h('option', { value: '' }, opts.placeholder) : null,
      options.map((o) => (typeof o === 'string' ? h('option', { value: o }, o)
        : h('option', { value: o.value }, o.label ?? o.value))));
    if (value !== undefined && value !== null) sel.value = String(value);
  };
  f.setOptions(opts.options || [], opts.value);
  f.get = () => sel.value;
  f.validate = () => requiredCheck(opts, f.get());
  if (opts.onchange) sel.addEventListener('change', () => opts.onchange(sel.value));
  return fieldShell(f, sel, opts);
}

export function checkboxField(opts) {
  const id = uid(`f-${opts.name}`);
  const box = h('input', { id, name: opts.name, type: 'checkbox', checked: !!opts.value, disabled: opts.disabled });
  const f = { name: opts.name };
  f.get = () => box.checked;
  f.validate = () => null;
  if (opts.onchange) box.addEventListener('change', () => opts.onchange(box.checked));
  return fieldShell(f, box, { ...opts, inline: true });
}

/** A group of checkboxes with one legend; get() returns the checked values. */
export function checkGroupField(opts) {
  const boxes = opts.options.map((o) => {
    const id = uid(`f-${opts.name}`);
    const box = h('input', { id, type: 'checkbox', name: opts.name, value: o.value,
      checked: (opts.value || []).includes(o.value), disabled: o.disabled });
    return { o, box, el: h('span', { class: 'check' }, box, h('label', { for: id }, o.label)) };
  });
  const err = h('p', { class: 'field-error', hidden: true });
  const f = {
    name: opts.name,
    el: h('fieldset', { class: 'field' }, h('legend', {}, opts.label),
      h('div', { class: 'check-row' }, boxes.map((b) => b.el)),
      opts.hint ? h('p', { class: 'hint' }, opts.hint) : null, err),
    get: () => boxes.filter((b) => b.box.checked).map((b) => b.o.value),
    validate: () => null,
    setError: (m) => { err.textContent = m || ''; err.hidden = !m; },
    focus: () => boxes[0] && boxes[0].box.focus(),
  };
  return f;
}

/**
 * An editor for a string→string map (extension details, external details...). Rows of key and
 * value inputs; get() returns an object.
 */
export function kvField(opts) {
  const rows = h('div', { class: 'kv-rows' });
  const err = h('p', { class: 'field-error', hidden: true });
  const legendId = uid('kv');
  let n = 0;
  function addRow(k = '', v = '') {
    n += 1;
    const key = h('input', { type: 'text', class: 'kv-key', 'aria-label': `${opts.label}: key ${n}`,
      placeholder: 'key', value: k, autocomplete: 'off', name: `${opts.name}-key` });
    const val = h('input', { type: opts.secret ? 'password' : 'text', class: 'kv-value',
      'aria-label': `${opts.label}: value ${n}`, placeholder: 'value', value: v, autocomplete: 'off',
      name: `${opts.name}-value` });
    const row = h('div', { class: 'kv-row' }, key, val,
      button('Remove', () => { row.remove(); }, { small: true, kind: 'ghost', ariaLabel: `Remove ${opts.label} row ${n}` }));
    rows.append(row);
    return key;
  }
  for (const [k, v] of Object.entries(opts.value || {})) addRow(k, v);
  const f = {
    name: opts.name,
    el: h('fieldset', { class: 'field kv-field', 'aria-labelledby': legendId },
      h('legend', { id: legendId }, opts.label),
      opts.hint ? h('p', { class: 'hint' }, opts.hint) : null,
      rows,
      button(`Add ${opts.itemLabel || 'entry'}`, () => addRow().focus(), { small: true, data: { add: opts.name } }),
      err),
    get() {
      const out = {};
      for (const row of rows.querySelectorAll('.kv-row')) {
        const k = row.querySelector('.kv-key').value.trim();
        if (k) out[k] = row.querySelector('.kv-value').value;
      }
      return out;
    },
    validate() {
      const seen = new Set();
      for (const row of rows.querySelectorAll('.kv-row')) {
        const k = row.querySelector('.kv-key').value.trim();
        const v = row.querySelector('.kv-value').value;
        if (!k && v) return 'Every value needs a key.';
        if (k && seen.has(k)) return `The key "${k}" appears twice.`;
        seen.add(k);
      }
      return null;
    },
    setError(m) { err.textContent = m || ''; err.hidden = !m; },
    focus() { const i = rows.querySelector('input'); if (i) i.focus(); },
    addRow,
  };
  return f;
}

/** Static content inside a form (no value). */
export function staticField(content) {
  return { name: null, el: h('div', { class: 'field' }, content), get: () => undefined, validate: () => null, setError() {}, focus() {} };
}

// ---------------------------------------------------------------------------------------------
// Form dialogs

/**
 * A dialog with a form. `fields` is a list of field objects; `onSubmit(values, fields)` may
 * throw (ApiError text is shown in the dialog) or return a value. Resolves with that value, or
 * undefined when cancelled.
 */
export function formDialog({ title, intro, fields, submitLabel = 'Save', onSubmit, wide, danger }) {
  return new Promise((resolve) => {
    let result;
    const d = openDialog({ title, wide, onClose: () => resolve(result) });
    const formError = h('div', { class: 'notice notice-error form-error', role: 'alert', hidden: true });
    const submit = button(submitLabel, null, { type: 'submit', kind: danger ? 'danger' : 'primary' });
    const cancel = button('Cancel', () => d.close());
    const form = h('form', { class: 'form', novalidate: true },
      intro ? h('p', { class: 'intro' }, intro) : null,
      fields.map((f) => f.el),
      formError,
      h('div', { class: 'form-actions' }, cancel, submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError.hidden = true;
      let first = null;
      for (const f of fields) {
        const msg = f.validate();
        f.setError(msg);
        if (msg && !first) first = f;
      }
      if (first) {
        formError.textContent = 'Please correct the highlighted fields.';
        formError.hidden = false;
        first.focus();
        return;
      }
      const values = {};
      for (const f of fields) if (f.name) values[f.name] = f.get();
      submit.disabled = true;
      cancel.disabled = true;
      const label = submit.textContent;
      replace(submit, spinner('Working'), ' Working…');
      try {
        result = await onSubmit(values, fields);
        d.close();
      } catch (e) {
        formError.textContent = errText(e);
        formError.hidden = false;
        submit.disabled = false;
        cancel.disabled = false;
        replace(submit, label);
        formError.setAttribute('tabindex', '-1');
        formError.focus();
      }
    });
    d.body.append(form);
    d.footer.remove();
    const firstInput = form.querySelector('input:not([type=hidden]):not([disabled]), select, textarea');
    if (firstInput) firstInput.focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Tabs

/** tabs: [{id, label, render(panel)}]. Returns the element. */
export function tabs(list, initial) {
  const bar = h('div', { class: 'tabs', role: 'tablist' });
  const panel = h('div', { class: 'tab-panel', role: 'tabpanel', tabindex: '0' });
  const btns = list.map((t) => h('button', {
    type: 'button', role: 'tab', class: 'tab', id: `tab-${t.id}`, 'aria-controls': 'tab-panel',
    'aria-selected': 'false', tabindex: '-1', dataset: { tab: t.id },
    onclick: () => select(t.id, true),
    onkeydown: (ev) => {
      const i = list.findIndex((x) => x.id === t.id);
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        const j = (i + (ev.key === 'ArrowRight' ? 1 : list.length - 1)) % list.length;
        select(list[j].id, true);
      }
    },
  }, t.label));
  panel.id = 'tab-panel';
  bar.append(...btns);
  function select(id, focus) {
    list.forEach((t, i) => {
      const on = t.id === id;
      btns[i].setAttribute('aria-selected', on ? 'true' : 'false');
      btns[i].tabIndex = on ? 0 : -1;
      if (on) {
        if (focus) {
          btns[i].focus();
          // Remember the tab in the address, so a refresh after an action stays on it.
          const [path, qs] = location.hash.split('?');
          const q = new URLSearchParams(qs || '');
          q.set('tab', id);
          history.replaceState(null, '', `${path}?${q}`);
        }
        panel.setAttribute('aria-labelledby', btns[i].id);
        panel.replaceChildren();
        Promise.resolve(t.render(panel)).catch((e) => panel.replaceChildren(errorBox(e)));
      }
    });
  }
  select(initial && list.some((t) => t.id === initial) ? initial : list[0].id, false);
  return h('div', { class: 'tabs-wrap' }, bar, panel);
}

// ---------------------------------------------------------------------------------------------
// Paged lists with search

/**
 * A list backed by a list command: search box, optional filters, table, pager.
 * Returns {el, reload()}.
 */
export function listView({ command, key, params = {}, columns, empty, pageSize = 20, search = true,
  filters = [], caption, rowAttrs, transform }) {
  let page = 1;
  let keyword = '';
  const body = h('div', { class: 'list-body' }, loading());
  const pager = h('div', { class: 'pager' });
  const searchInput = h('input', { type: 'search', id: uid('search'), name: 'keyword', placeholder: 'Search by name',
    'aria-label': `Search ${caption || 'list'}` });
  const bar = h('form', { class: 'list-bar', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    keyword = searchInput.value.trim();
    page = 1;
    reload();
  } },
  search ? [searchInput, button('Search', null, { type: 'submit' })] : null,
  filters.map((f) => f.el));
  for (const f of filters) {
    f.control.addEventListener('change', () => { page = 1; reload(); });
  }
  async function reload() {
    const p = { ...params, page, pagesize: pageSize };
    if (keyword) p.keyword = keyword;
    for (const f of filters) {
      const v = f.get();
      if (v !== '' && v !== false) p[f.name] = v;
    }
    try {
      const r = await list(command, p, key);
      const rows = transform ? transform(r.items) : r.items;
      replace(body, table({ columns, rows, empty, caption, rowAttrs }));
      const pages = Math.max(1, Math.ceil(r.count / pageSize));
      const more = page < pages || (r.items.length === pageSize && r.count <= r.items.length);
      replace(pager,
        page > 1 || more ? [
          button('Previous', () => { page -= 1; reload(); }, { disabled: page <= 1, small: true }),
          h('span', { class: 'muted' }, ` Page ${page}${r.count > r.items.length ? ` of ${pages}` : ''} `),
          button('Next', () => { page += 1; reload(); }, { disabled: !more, small: true }),
        ] : null,
        h('span', { class: 'muted count' }, `${r.count} ${r.count === 1 ? 'item' : 'items'}`));
    } catch (e) {
      replace(body, errorBox(e, reload));
      replace(pager);
    }
  }
  reload();
  return { el: h('div', { class: 'list' }, bar, body, pager), reload };
}
