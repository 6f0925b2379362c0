// Roles: the list (create, clone, import, edit, delete) and a role's page with its permission rules in
// the order they are checked: add a rule, flip allow/deny, move a rule up or down (the whole new
// order goes to updateRolePermission as `ruleorder`), delete a rule.

import { h, replace } from '../dom.js';
import { call, can, list } from '../api.js';
import {
  pageHeader, button, badge, code, fieldList, listView, table, formDialog, textField, selectField,
  checkboxField, confirmDialog, runCall, toast, yesNo, loading, errorBox, errText, notice,
} from '../ui.js';

const TYPES = ['User', 'DomainAdmin', 'ResourceAdmin', 'Admin'];

function permissionBadge(p) {
  return badge(p, p === 'allow' ? 'good' : 'bad');
}

/** Create a role: a new one of a type, or a clone of `from` with its rules. */
function createRole(ctx, from) {
  const fields = [
    textField({ name: 'name', label: 'Name', required: true, value: from ? `${from.name} (copy)` : '' }),
    from ? null : selectField({ name: 'type', label: 'Type', required: true, options: TYPES, value: 'User',
      hint: 'Without rules, a role allows what the default role of its type allows.' }),
    textField({ name: 'description', label: 'Description', value: from ? from.description : '' }),
    checkboxField({ name: 'ispublic', label: 'Public (domain administrators see it)', value: from ? from.ispublic !== false : true }),
  ].filter(Boolean);
  return formDialog({
    title: from ? `Clone ${from.name}` : 'Create role',
    intro: from ? `The new role gets the type (${from.type}) and every rule of ${from.name}.` : null,
    fields,
    submitLabel: from ? 'Clone' : 'Create',
    onSubmit: async (v) => {
      const r = await call('createRole', {
        name: v.name, type: v.type, roleid: from ? from.id : undefined, description: v.description, ispublic: String(v.ispublic),
      });
      toast(`Role ${r.role.name} created.`, 'success');
      ctx.navigate(`/roles/${r.role.id}`);
    },
  });
}

/** The lines of the import form: "rule allow|deny [description]" → rules, or an error text. */
export function parseRuleLines(text) {
  const rules = [];
  const lines = String(text || '').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const [i, line] of lines.entries()) {
    const [rule, permission, ...rest] = line.split(/\s+/);
    if (!['allow', 'deny'].includes((permission || '').toLowerCase())) {
      return { error: `Line ${i + 1}: write the rule, then allow or deny (${line}).` };
    }
    rules.push({ rule, permission: permission.toLowerCase(), description: rest.join(' ') });
  }
  return lines.length ? { rules } : { error: 'Write at least one rule.' };
}

function importRole(ctx) {
  return formDialog({
    title: 'Import role',
    intro: 'A role with its rules in one step, in the order written.',
    fields: [
      textField({ name: 'name', label: 'Name', required: true }),
      selectField({ name: 'type', label: 'Type', required: true, options: TYPES, value: 'User' }),
      textField({ name: 'description', label: 'Description' }),
      textField({ name: 'rules', label: 'Rules', required: true, multiline: true, rows: 6, trim: false,
        placeholder: 'listVirtualMachines allow\nlist* deny Nothing else to read',
        hint: 'One rule per line: the command or pattern, allow or deny, then an optional description.',
        check: (v) => parseRuleLines(v).error || null }),
      checkboxField({ name: 'forced', label: 'Replace a role of the same name (its type, description and rules)' }),
    ],
    submitLabel: 'Import',
    onSubmit: async (v) => {
      const params = { name: v.name, type: v.type, description: v.description, forced: v.forced ? 'true' : undefined };
      parseRuleLines(v.rules).rules.forEach((r, i) => {
        params[`rules[${i}].rule`] = r.rule;
        params[`rules[${i}].permission`] = r.permission;
        if (r.description) params[`rules[${i}].description`] = r.description;
      });
      const r = await call('importRole', params);
      toast(`Role ${r.role.name} imported.`, 'success');
      ctx.navigate(`/roles/${r.role.id}`);
    },
  });
}

function editRole(after, role) {
  return formDialog({
    title: `Edit role ${role.name}`,
    fields: [
      textField({ name: 'name', label: 'Name', required: true, value: role.name }),
      selectField({ name: 'type', label: 'Type', required: true, options: TYPES, value: role.type,
        hint: 'The type of a role that accounts have cannot change.' }),
      textField({ name: 'description', label: 'Description', value: role.description }),
      checkboxField({ name: 'ispublic', label: 'Public (domain administrators see it)', value: role.ispublic !== false }),
    ],
    onSubmit: async (v) => {
      await call('updateRole', {
        id: role.id, name: v.name !== role.name ? v.name : undefined, type: v.type !== role.type ? v.type : undefined,
        description: v.description, ispublic: String(v.ispublic),
      });
      toast(`Role ${v.name} saved.`, 'success');
      after();
    },
  });
}

async function deleteRole(after, role) {
  const ok = await confirmDialog({
    title: `Delete role ${role.name}?`,
    message: 'A role that an account has cannot be deleted.',
    confirmLabel: 'Delete',
    danger: true,
  });
  if (ok && await runCall(`Delete ${role.name}`, 'deleteRole', { id: role.id })) after();
}

function roleActions(ctx, role, after, opts = {}) {
  const out = [];
  const editable = !role.isdefault;
  if (can('createRole')) out.push(button('Clone', () => createRole(ctx, role), { small: opts.small, data: { action: 'clone-role' } }));
  if (editable && can('updateRole')) out.push(button('Edit', () => editRole(after, role), { small: opts.small, data: { action: 'edit-role' } }));
  if (editable && can('deleteRole')) out.push(button('Delete', () => deleteRole(opts.afterDelete || after, role), { small: opts.small, kind: 'danger', data: { action: 'delete-role' } }));
  return h('div', { class: 'row-actions' }, out);
}

export async function renderRoles(ctx) {
  const type = selectField({ name: 'type', label: 'Type', placeholder: 'Any type', options: TYPES });
  let lv = null;
  const after = () => { if (ctx.alive() && lv) lv.reload(); };
  lv = listView({
    command: 'listRoles', key: 'role', caption: 'Roles', filters: [type],
    empty: 'No roles.',
    rowAttrs: (r) => ({ dataset: { role: r.name } }),
    columns: [
      { label: 'Name', trunc: true, class: 'w-mid', render: (r) => h('a', { href: `#/roles/${r.id}` }, r.name) },
      { label: 'Type', key: 'type', fit: true },
      { label: 'Description', key: 'description', trunc: true, class: 'w-wide' },
      { label: 'Default', fit: true, render: (r) => yesNo(r.isdefault) },
      { label: 'Public', fit: true, render: (r) => yesNo(r.ispublic) },
      { label: 'Actions', render: (r) => roleActions(ctx, r, after, { small: true }) },
    ],
  });
  replace(ctx.view,
    pageHeader('Roles', {
      subtitle: 'A role\'s rules are checked in order; the first that matches a command allows or denies it.',
      actions: [
        can('importRole') ? button('Import role', () => importRole(ctx), { data: { action: 'import-role' } }) : null,
        can('createRole') ? button('Create role', () => createRole(ctx), { kind: 'primary', data: { action: 'create-role' } }) : null,
      ],
    }),
    lv.el);
}

export async function renderRole(ctx) {
  const [id] = ctx.params;
  const { items } = await list('listRoles', { id }, 'role');
  if (!ctx.alive()) return;
  const role = items[0];
  if (!role) {
    replace(ctx.view, pageHeader('Role not found', { crumbs: [['Roles', '#/roles']] }), h('p', {}, 'It may have been deleted.'));
    return;
  }
  const rules = h('section', { class: 'panel', id: 'rules', 'aria-labelledby': 'rules-title' });
  replace(ctx.view,
    pageHeader(role.name, {
      crumbs: [['Roles', '#/roles']],
      subtitle: role.description || `${role.type} role`,
      actions: [roleActions(ctx, role, () => ctx.refresh(), { afterDelete: () => ctx.navigate('/roles') })],
    }),
    h('section', { class: 'panel' }, fieldList([
      ['Name', role.name],
      ['ID', code(role.id)],
      ['Type', role.type],
      ['Description', role.description],
      ['Default', yesNo(role.isdefault)],
      ['Public', yesNo(role.ispublic)],
    ])),
    can('listRolePermissions') ? rules : null);
  if (can('listRolePermissions')) await rulesSection(rules, role);
}

/** The rules of a role, in order, with the buttons to change them. */
async function rulesSection(panel, role) {
  const editable = !role.isdefault;
  const title = h('h2', { id: 'rules-title' }, 'Rules');
  replace(panel, title, loading());
  let perms;
  try {
    perms = (await list('listRolePermissions', { roleid: role.id }, 'rolepermission')).items;
  } catch (e) {
    replace(panel, title, errorBox(e, () => rulesSection(panel, role)));
    return;
  }
  const reload = () => rulesSection(panel, role);
  async function move(i, by) {
    const ids = perms.map((p) => p.id);
    [ids[i], ids[i + by]] = [ids[i + by], ids[i]];
    if (await runCall('Move rule', 'updateRolePermission', { roleid: role.id, ruleorder: ids.join(',') }, { quiet: true })) reload();
  }
  async function flip(p) {
    const permission = p.permission === 'allow' ? 'deny' : 'allow';
    if (await runCall(`${permission === 'allow' ? 'Allow' : 'Deny'} ${p.rule}`, 'updateRolePermission', { roleid: role.id, ruleid: p.id, permission }, { quiet: true })) reload();
  }
  async function remove(p) {
    const ok = await confirmDialog({ title: `Delete rule ${p.rule}?`, message: 'Commands it matched fall to the next rule, or to the role\'s type.', confirmLabel: 'Delete', danger: true });
    if (ok && await runCall(`Delete rule ${p.rule}`, 'deleteRolePermission', { id: p.id })) reload();
  }
  const actions = (p, i) => h('div', { class: 'row-actions' },
    can('updateRolePermission') ? [
      button(p.permission === 'allow' ? 'Deny' : 'Allow', () => flip(p), { small: true, data: { action: 'flip-rule' } }),
      button('Up', () => move(i, -1), { small: true, disabled: i === 0, ariaLabel: `Move ${p.rule} up`, data: { action: 'rule-up' } }),
      button('Down', () => move(i, 1), { small: true, disabled: i === perms.length - 1, ariaLabel: `Move ${p.rule} down`, data: { action: 'rule-down' } }),
    ] : null,
    can('deleteRolePermission') ? button('Delete', () => remove(p), { small: true, kind: 'danger', data: { action: 'delete-rule' } }) : null);
  replace(panel,
    h('div', { class: 'section-head' }, title,
      editable && can('createRolePermission') ? button('Add rule', () => addRule(role, reload), { kind: 'primary', data: { action: 'add-rule' } }) : null),
    editable ? h('p', { class: 'hint' }, 'The first rule that matches a command decides. A command no rule matches is allowed when the role\'s type allows it.')
      : notice('info', 'Default roles cannot be changed: they have no rules and allow what their type allows. Clone one to make a role with rules.'),
    table({
      caption: `Rules of ${role.name}`,
      rows: perms,
      empty: 'No rules: the role allows what its type allows.',
      rowAttrs: (p) => ({ dataset: { rule: p.rule } }),
      columns: [
        { label: '#', fit: true, render: (p) => String(perms.indexOf(p) + 1) },
        { label: 'Rule', trunc: true, class: 'w-wide', render: (p) => code(p.rule) },
        { label: 'Permission', fit: true, class: 'permission', render: (p) => permissionBadge(p.permission) },
        { label: 'Description', key: 'description', trunc: true, class: 'w-wide' },
        editable ? { label: 'Actions', render: (p) => actions(p, perms.indexOf(p)) } : null,
      ].filter(Boolean),
    }));
}

function addRule(role, after) {
  return formDialog({
    title: `Add a rule to ${role.name}`,
    intro: 'The rule is added at the end; move it up to check it earlier.',
    fields: [
      textField({ name: 'rule', label: 'Rule', required: true, placeholder: 'listVirtualMachines or list*',
        hint: 'A command name, or a pattern where * matches any letters.' }),
      selectField({ name: 'permission', label: 'Permission', required: true, value: 'allow', options: [
        { value: 'allow', label: 'Allow' }, { value: 'deny', label: 'Deny' }] }),
      textField({ name: 'description', label: 'Description' }),
    ],
    submitLabel: 'Add',
    onSubmit: async (v) => {
      await call('createRolePermission', { roleid: role.id, ...v });
      toast(`Rule ${v.rule} added.`, 'success');
      after();
    },
  }).catch((e) => toast(errText(e), 'error'));
}
