// Custom actions of an extension: the list, and the add/edit form with its parameter editor
// (name, type, validation format, value options, required), allowed roles, messages, timeout.

import { h, replace, uid } from '../dom.js';
import { call, can, list } from '../api.js';
import {
  button, badge, code, table, formDialog, textField, numberField, checkboxField, checkGroupField,
  kvField, confirmDialog, runCall, toast, loading, errorBox, created, errText,
} from '../ui.js';
import {
  PARAM_TYPES, FORMATS_FOR_TYPE, FORMAT_LABELS, ROLE_TYPES, checkActionName, checkParamDefinition,
  splitOptions,
} from '../validate.js';

export async function actionsTab(panel, ext) {
  replace(panel, loading());
  const reload = () => actionsTab(panel, ext);
  let items;
  try {
    ({ items } = await list('listCustomActions', { extensionid: ext.id, listall: 'true', page: 1, pagesize: 100 }, 'extensioncustomaction'));
  } catch (e) {
    replace(panel, errorBox(e, reload));
    return;
  }
  replace(panel,
    h('div', { class: 'toolbar toolbar-left' },
      can('addCustomAction') ? button('Add custom action', () => actionForm(ext, null, reload), { kind: 'primary', data: { action: 'add-custom-action' } }) : null),
    table({
      caption: 'Custom actions',
      rows: items,
      empty: 'No custom actions. Add one to let users run your executable\'s own operations on instances.',
      rowAttrs: (a) => ({ dataset: { action: a.name } }),
      columns: [
        { label: 'Name', trunc: true, class: 'w-wide', render: (a) => h('strong', {}, a.name) },
        { label: 'Description', key: 'description', trunc: true, class: 'w-mid' },
        { label: 'Enabled', fit: true, render: (a) => (a.enabled ? badge('Enabled', 'good') : badge('Disabled', 'neutral')) },
        // Every custom action is for instances today; the column appears when one is not.
        items.some((a) => a.resourcetype && a.resourcetype !== 'VirtualMachine') ? { label: 'Resource', key: 'resourcetype', fit: true } : null,
        { label: 'Roles', trunc: true, render: (a) => (a.allowedroletypes || []).join(', ') },
        { label: 'Parameters', trunc: (a) => paramTip(a.parameters || []), class: 'w-wide', render: (a) => paramSummary(a.parameters || []) },
        { label: 'Timeout', fit: true, render: (a) => `${a.timeout} s` },
        created,
        {
          label: 'Actions',
          render: (a) => h('div', { class: 'row-actions' },
            can('updateCustomAction') ? [
              button('Edit', () => actionForm(ext, a, reload), { small: true, data: { action: 'edit' } }),
              button(a.enabled ? 'Disable' : 'Enable', async () => {
                const r = await runCall(`${a.enabled ? 'Disable' : 'Enable'} ${a.name}`, 'updateCustomAction', { id: a.id, enabled: String(!a.enabled) });
                if (r) reload();
              }, { small: true, data: { action: a.enabled ? 'disable' : 'enable' } }),
            ] : null,
            can('deleteCustomAction') ? button('Delete', async () => {
              const ok = await confirmDialog({ title: `Delete ${a.name}?`, message: 'Users will no longer be able to run this action.', confirmLabel: 'Delete', danger: true });
              if (ok && await runCall(`Delete ${a.name}`, 'deleteCustomAction', { id: a.id })) reload();
            }, { small: true, kind: 'danger', data: { action: 'delete' } }) : null),
        },
      ].filter(Boolean),
    }));
}

/** One parameter's type in words: "number (Decimal) ∈ {1, 2, 3}". */
function paramText(p) {
  return [
    p.type.toLowerCase(),
    p.validationformat && p.validationformat !== 'NONE' ? ` (${FORMAT_LABELS[p.validationformat] || p.validationformat})` : '',
    p.valueoptions && p.valueoptions.length ? ` ∈ {${p.valueoptions.join(', ')}}` : '',
  ].join('');
}

/** The parameters on one line, `*` marking the required ones ("level* number ∈ {1, 2}; notify string (Email address)"). */
function paramSummary(params) {
  if (!params.length) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, params.map((p, i) => [i ? '; ' : '', code(p.name), p.required ? '*' : '', ' ', paramText(p)]));
}

/** The tooltip of the parameters cell: one parameter per line. */
function paramTip(params) {
  return params.map((p) => `${p.name}: ${paramText(p)}${p.required ? ', required' : ''}`).join('\n');
}

/** The parameter editor: one row per parameter. Works like a form field. */
function paramsEditor(initial) {
  const rows = h('div', { class: 'param-rows' });
  const err = h('p', { class: 'field-error', hidden: true, role: 'alert' });
  let n = 0;

  function addRow(p = {}) {
    n += 1;
    const i = n;
    const ids = { name: uid('pn'), type: uid('pt'), fmt: uid('pf'), opts: uid('po'), req: uid('pr') };
    const name = h('input', { id: ids.name, class: 'p-name', value: p.name || '', autocomplete: 'off', name: `param-${i}-name` });
    const type = h('select', { id: ids.type, class: 'p-type', name: `param-${i}-type` },
      PARAM_TYPES.map((t) => h('option', { value: t }, t)));
    type.value = p.type || 'STRING';
    const fmt = h('select', { id: ids.fmt, class: 'p-format', name: `param-${i}-format` });
    const opts = h('input', { id: ids.opts, class: 'p-options', autocomplete: 'off', name: `param-${i}-options`,
      placeholder: 'e.g. 1,2,3', value: splitOptions(p.valueoptions).join(',') });
    const req = h('input', { id: ids.req, class: 'p-required', type: 'checkbox', checked: !!p.required, name: `param-${i}-required` });
    function syncFormats(value) {
      const allowed = FORMATS_FOR_TYPE[type.value];
      replace(fmt, allowed.map((f) => h('option', { value: f }, FORMAT_LABELS[f])));
      fmt.value = allowed.includes(value) ? value : 'NONE';
      fmt.disabled = allowed.length === 1;
      const optionsAllowed = type.value === 'STRING' || type.value === 'NUMBER';
      opts.disabled = !optionsAllowed;
      if (!optionsAllowed) opts.value = '';
    }
    type.addEventListener('change', () => syncFormats(fmt.value));
    syncFormats(p.validationformat || 'NONE');
    const row = h('fieldset', { class: 'param-row', dataset: { param: String(i) } },
      h('legend', { class: 'sr-only' }, `Parameter ${i}`),
      h('div', { class: 'field' }, h('label', { for: ids.name }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: ids.type }, 'Type'), type),
      h('div', { class: 'field' }, h('label', { for: ids.fmt }, 'Validation'), fmt),
      h('div', { class: 'field' }, h('label', { for: ids.opts }, 'Value options'), opts),
      h('div', { class: 'field field-inline' }, req, h('label', { for: ids.req }, 'Required')),
      button('Remove', () => row.remove(), { small: true, kind: 'ghost', ariaLabel: `Remove parameter ${i}` }));
    rows.append(row);
    return name;
  }
  for (const p of initial || []) addRow(p);

  function values() {
    return [...rows.querySelectorAll('.param-row')].map((r) => ({
      name: r.querySelector('.p-name').value.trim(),
      type: r.querySelector('.p-type').value,
      validationformat: r.querySelector('.p-format').value,
      valueoptions: r.querySelector('.p-options').value,
      required: r.querySelector('.p-required').checked,
    }));
  }
  return {
    name: 'parameters',
    el: h('fieldset', { class: 'field params-field' },
      h('legend', {}, 'Parameters'),
      h('p', { class: 'hint' }, 'What the user fills in when running the action. Value options are comma-separated; the user then picks one.'),
      rows,
      button('Add parameter', () => addRow().focus(), { small: true, data: { add: 'parameter' } }),
      err),
    get: values,
    validate() {
      const seen = new Set();
      for (const p of values()) {
        const e = checkParamDefinition(p);
        if (e) return e;
        if (seen.has(p.name)) return `The parameter name "${p.name}" appears twice.`;
        seen.add(p.name);
      }
      return null;
    },
    setError(m) { err.textContent = m || ''; err.hidden = !m; },
    focus() { const i = rows.querySelector('input'); if (i) i.focus(); },
  };
}

/** Add (action null) or edit a custom action. */
export function actionForm(ext, action, reload) {
  const editing = !!action;
  const a = action || {};
  const fields = [
    textField({ name: 'name', label: 'Name', required: true, value: a.name, disabled: editing,
      hint: editing ? 'The name cannot be changed. It is passed to the executable as the action.' : 'Passed to the executable as the action. Letters, digits, spaces, "_" and "-".',
      check: editing ? null : checkActionName }),
    textField({ name: 'description', label: 'Description', multiline: true, value: a.description }),
    checkboxField({ name: 'enabled', label: 'Enabled (users can run it)', value: editing ? !!a.enabled : true }),
    checkGroupField({ name: 'allowedroletypes', label: 'Allowed roles',
      options: ROLE_TYPES.map((r) => ({ value: r, label: r })), value: a.allowedroletypes || ['Admin'],
      hint: 'Administrators can always run actions.' }),
    paramsEditor(a.parameters),
    numberField({ name: 'timeout', label: 'Timeout (seconds)', value: a.timeout ?? 5, min: 1 }),
    textField({ name: 'successmessage', label: 'Success message', value: a.successmessage,
      hint: 'Placeholders: {{actionName}}, {{extensionName}}, {{resourceName}}.' }),
    textField({ name: 'errormessage', label: 'Error message', value: a.errormessage }),
    kvField({ name: 'details', label: 'Details', itemLabel: 'detail', value: a.details || {},
      hint: 'Sent to the executable as externaldetails.action.' }),
  ];
  return formDialog({
    title: editing ? `Edit custom action ${a.name}` : `Add custom action to ${ext.name}`,
    wide: true,
    fields,
    submitLabel: editing ? 'Save' : 'Add',
    onSubmit: async (v) => {
      const params = {
        description: v.description,
        enabled: String(v.enabled),
        allowedroletypes: v.allowedroletypes.join(','),
        timeout: v.timeout,
        successmessage: v.successmessage,
        errormessage: v.errormessage,
        resourcetype: 'VirtualMachine',
      };
      v.parameters.forEach((p, i) => {
        params[`parameters[${i}].name`] = p.name;
        params[`parameters[${i}].type`] = p.type;
        params[`parameters[${i}].validationformat`] = p.validationformat;
        const o = splitOptions(p.valueoptions);
        if (o.length) params[`parameters[${i}].valueoptions`] = o.join(',');
        params[`parameters[${i}].required`] = String(p.required);
      });
      for (const [k, val] of Object.entries(v.details)) params[`details[0].${k}`] = val;
      if (editing) {
        if (!v.parameters.length && (a.parameters || []).length) params.cleanupparameters = 'true';
        if (!Object.keys(v.details).length && Object.keys(a.details || {}).length) params.cleanupdetails = 'true';
        await call('updateCustomAction', { id: a.id, ...params });
        toast(`Custom action ${a.name} saved.`, 'success');
      } else {
        await call('addCustomAction', { extensionid: ext.id, name: v.name, ...params });
        toast(`Custom action ${v.name} added.`, 'success');
      }
      reload();
    },
  }).catch((e) => toast(errText(e), 'error'));
}
