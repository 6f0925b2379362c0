// Run Action: pick an enabled custom action of the instance's extension, fill in a form built
// from its parameters (checked before sending), follow the job, then show the result message
// and the executable's output. Output of the form {"printmessage": "true", "message": ...} is
// rendered as a table (objects, lists of objects) or as text.

import { h, replace, uid, toApiDate } from '../dom.js';
import { call, list, waitForJob } from '../api.js';
import {
  openDialog, button, selectField, textField, checkboxField, spinner, errText, notice, code,
} from '../ui.js';
import { checkParamValue, splitOptions, FORMAT_LABELS } from '../validate.js';

function describe(p) {
  const bits = [p.type.toLowerCase()];
  if (p.validationformat && p.validationformat !== 'NONE') bits.push(FORMAT_LABELS[p.validationformat] || p.validationformat);
  return bits.join(', ');
}

/** A DATE field: a local date-time picker whose value is sent as YYYY-MM-DDTHH:mm:ssZ (UTC). */
function dateField(p, label) {
  const id = uid('f-date');
  const input = h('input', { id, name: `param-${p.name}`, type: 'datetime-local', step: '1', required: p.required });
  const shown = h('p', { class: 'hint', id: uid('hint') }, 'Your local time; sent in UTC.');
  const err = h('p', { class: 'field-error', hidden: true });
  input.setAttribute('aria-describedby', shown.id);
  const toApi = () => {
    if (!input.value) return '';
    const d = new Date(input.value);
    return Number.isNaN(d.getTime()) ? input.value : toApiDate(d);
  };
  input.addEventListener('input', () => {
    shown.textContent = input.value ? `Sent as ${toApi()}` : 'Your local time; sent in UTC.';
  });
  return {
    name: p.name,
    el: h('div', { class: 'field' },
      h('label', { for: id }, label, p.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
      input, shown, err),
    get: toApi,
    validate: () => checkParamValue(p, toApi()),
    setError(m) {
      err.textContent = m || '';
      err.hidden = !m;
      if (m) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    },
    focus: () => input.focus(),
  };
}

/** The form field for one custom-action parameter. */
export function paramField(p) {
  const label = `${p.name} (${describe(p)})`;
  const options = splitOptions(p.valueoptions);
  if (p.type === 'BOOLEAN') {
    const f = checkboxField({ name: `param-${p.name}`, label: p.name });
    return { ...f, name: p.name, get: () => (f.get() ? 'true' : 'false') };
  }
  if (p.type === 'DATE') return dateField(p, label);
  let f;
  if (options.length) {
    f = selectField({
      name: `param-${p.name}`, label, required: p.required,
      placeholder: p.required ? 'Choose a value' : 'No value', options,
    });
  } else {
    const type = p.validationformat === 'PASSWORD' ? 'password'
      : p.validationformat === 'EMAIL' ? 'email' : p.validationformat === 'URL' ? 'url' : 'text';
    f = textField({
      name: `param-${p.name}`, label, required: p.required, type,
      inputmode: p.type === 'NUMBER' ? (p.validationformat === 'DECIMAL' ? 'decimal' : 'numeric') : undefined,
      placeholder: p.validationformat === 'EMAIL' ? 'name@example.com' : p.validationformat === 'URL' ? 'https://'
        : p.validationformat === 'UUID' ? 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx' : undefined,
      trim: p.validationformat !== 'PASSWORD',
    });
  }
  const get = f.get;
  return { ...f, name: p.name, validate: () => checkParamValue(p, get()) };
}

// ---------------------------------------------------------------------------------------------
// Output rendering

function cell(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return code(JSON.stringify(v));
  return String(v);
}

/** Render a `printmessage` message: string → text, object → key/value table, list → table. */
export function renderMessage(message) {
  if (typeof message === 'string') return h('pre', { class: 'output' }, message);
  if (Array.isArray(message)) {
    if (message.length && message.every((m) => m && typeof m === 'object' && !Array.isArray(m))) {
      const cols = [];
      for (const m of message) for (const k of Object.keys(m)) if (!cols.includes(k)) cols.push(k);
      return h('div', { class: 'table-wrap' }, h('table', { class: 'table output-table' },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, message.map((m) => h('tr', {}, cols.map((c) => h('td', {}, cell(m[c]))))))));
    }
    return h('ul', { class: 'output-list' }, message.map((m) => h('li', {}, cell(m))));
  }
  if (message && typeof message === 'object') {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'table kv output-table' },
      h('tbody', {}, Object.entries(message).map(([k, v]) => h('tr', {},
        h('th', { scope: 'row' }, k), h('td', {}, cell(v)))))));
  }
  return h('pre', { class: 'output' }, String(message ?? ''));
}

/** Render the executable's output (result.details). */
export function renderOutput(details) {
  if (details === undefined || details === null || details === '') return h('p', { class: 'muted' }, 'No output.');
  let parsed = null;
  if (typeof details === 'string') {
    try { parsed = JSON.parse(details); } catch { parsed = null; }
  } else {
    parsed = details;
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)
    && (parsed.printmessage === true || parsed.printmessage === 'true')) {
    return renderMessage(parsed.message);
  }
  if (parsed && typeof parsed === 'object') return h('pre', { class: 'output' }, JSON.stringify(parsed, null, 2));
  return h('pre', { class: 'output' }, String(details));
}

// ---------------------------------------------------------------------------------------------
// The dialog

export async function runActionDialog(vm, after) {
  const d = openDialog({ title: `Run action on ${vm.displayname || vm.name}`, wide: true });
  d.footer.remove();
  d.body.append(h('p', { class: 'loading' }, spinner(), ' Loading actions…'));
  let actions;
  try {
    ({ items: actions } = await list('listCustomActions', { resourcetype: 'VirtualMachine', resourceid: vm.id, enabled: 'true' }, 'extensioncustomaction'));
  } catch (e) {
    replace(d.body, notice('error', errText(e)), h('div', { class: 'form-actions' }, button('Close', () => d.close())));
    return;
  }
  if (!actions.length) {
    replace(d.body,
      h('p', {}, `The extension of this instance${vm.extensionname ? ` (${vm.extensionname})` : ''} has no enabled custom actions you may run.`),
      h('div', { class: 'form-actions' }, button('Close', () => d.close())));
    return;
  }

  const formError = h('div', { class: 'notice notice-error form-error', role: 'alert', hidden: true, id: 'run-action-error' });
  const paramBox = h('div', { class: 'params' });
  const about = h('p', { class: 'hint action-about' });
  const progress = h('div', { class: 'job-progress', role: 'status', hidden: true, id: 'run-action-progress' });
  const result = h('section', { class: 'result', id: 'run-action-result', hidden: true, 'aria-live': 'polite', tabindex: '-1' });
  let fields = [];
  let current = null;

  function showAction(id) {
    current = actions.find((a) => a.id === id) || null;
    fields = current ? (current.parameters || []).map(paramField) : [];
    replace(about, current ? (current.description || `Runs "${current.name}" of ${current.extensionname}.`) : '');
    replace(paramBox, fields.length ? fields.map((f) => f.el)
      : (current ? h('p', { class: 'muted' }, 'This action has no parameters.') : null));
  }
  const picker = selectField({
    name: 'customactionid', label: 'Action', required: true,
    placeholder: actions.length > 1 ? 'Choose an action' : undefined,
    options: actions.map((a) => ({ value: a.id, label: a.name })),
    value: actions.length === 1 ? actions[0].id : undefined,
    onchange: showAction,
  });
  picker.control.id = 'run-action-select';
  picker.el.querySelector('label').setAttribute('for', 'run-action-select');
  showAction(picker.get());

  const submit = button('Run', null, { type: 'submit', kind: 'primary', data: { action: 'run' } });
  const cancel = button('Cancel', () => d.close());
  const form = h('form', { class: 'form', novalidate: true, id: 'run-action-form' },
    picker.el, about, paramBox, formError, h('div', { class: 'form-actions' }, cancel, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    formError.hidden = true;
    if (!current) {
      picker.setError('Choose an action.');
      picker.focus();
      return;
    }
    picker.setError(null);
    let first = null;
    for (const f of fields) {
      const m = f.validate();
      f.setError(m);
      if (m && !first) first = f;
    }
    if (first) {
      formError.textContent = 'Some values are not valid. Please correct the highlighted fields.';
      formError.hidden = false;
      first.focus();
      return;
    }
    const params = { customactionid: current.id, resourcetype: 'VirtualMachine', resourceid: vm.id };
    for (const f of fields) {
      const v = f.get();
      if (v !== '' && v !== undefined) params[`parameters[0].${f.name}`] = v;
    }
    submit.disabled = true;
    cancel.disabled = true;
    const started = Date.now();
    const label = h('span', {}, 'submitting…');
    replace(progress, spinner('Running'), ' ', h('strong', {}, `Running ${current.name}`), ' — ', label,
      h('progress', { class: 'progress', 'aria-label': 'Job progress' }));
    progress.hidden = false;
    result.hidden = true;
    try {
      const r = await call('runCustomAction', params);
      label.textContent = `job ${r.jobid}`;
      const jr = await waitForJob(r.jobid, (ms) => { label.textContent = `job running for ${Math.round(ms / 1000)} s`; });
      showResult(jr.customactionresult || jr, Date.now() - started);
    } catch (e) {
      progress.hidden = true;
      formError.textContent = errText(e);
      formError.hidden = false;
      formError.setAttribute('tabindex', '-1');
      formError.focus();
    } finally {
      submit.disabled = false;
      cancel.disabled = false;
    }
  });

  function showResult(res, ms) {
    progress.hidden = true;
    const ok = res.success === true || res.success === 'true';
    const r = res.result || {};
    replace(result,
      h('h3', {}, `Result of ${current.name}`),
      h('div', { class: `notice ${ok ? 'notice-success' : 'notice-error'}`, id: 'run-action-status', dataset: { success: String(ok) } },
        h('strong', {}, ok ? 'Succeeded: ' : 'Failed: '), r.message || (ok ? 'The action completed.' : 'The action failed.'),
        h('span', { class: 'muted' }, ` (${(ms / 1000).toFixed(1)} s)`)),
      h('h4', {}, 'Output'),
      h('div', { class: 'output-box', id: 'run-action-output' }, renderOutput(r.details)),
      h('div', { class: 'form-actions' },
        button('Run again', () => { result.hidden = true; form.hidden = false; const f = fields[0] || picker; f.focus(); }),
        button('Close', () => d.close(), { kind: 'primary', data: { action: 'close-result' } })));
    form.hidden = true;
    result.hidden = false;
    result.focus();
    if (after) after();
  }

  replace(d.body, form, progress, result);
  (fields[0] || picker).focus();
}
