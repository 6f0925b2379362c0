// Accounts: the list with state, role and domain; create (with its first user), rename, change
// role or network domain, lock, disable (locking or disabling), enable, delete.

import { h, replace } from '../dom.js';
import { call, can, listAll, currentSession } from '../api.js';
import {
  pageHeader, button, badge, code, listView, formDialog, textField, selectField, confirmDialog,
  runCall, trackJob, toast, created, errText,
} from '../ui.js';
import { domainTree, domainOptions } from './domains.js';

const STATE_TONE = { enabled: 'good', disabled: 'bad', locked: 'busy' };

/** The state of an account or user: enabled, disabled or locked. */
export function stateBadge(state) {
  return badge(state, STATE_TONE[String(state).toLowerCase()] || 'neutral');
}

/** Options for a role picker: "name (type)". */
export function roleOptions(roles) {
  return roles.map((r) => ({ value: r.id, label: `${r.name} (${r.type})` }));
}

/** Roles the caller may see (an empty list when it may not list roles). */
export async function visibleRoles() {
  return can('listRoles') ? listAll('listRoles', {}, 'role') : [];
}

/** Whether this is the caller's own account, or the system admin account. */
function protectedAccount(a) {
  const s = currentSession();
  return a.isdefault || (s && a.name === s.account && a.domainid === s.domainid);
}

/** The fields of a new user; shared with the Users page. */
export function userFields() {
  return [
    textField({ name: 'username', label: 'Username', required: true, autocomplete: 'off' }),
    textField({ name: 'password', label: 'Password', type: 'password', required: true, trim: false, autocomplete: 'new-password' }),
    textField({ name: 'email', label: 'Email', type: 'email', required: true,
      check: (v) => (/^[^@\s]+@[^@\s]+$/.test(v) ? null : 'Email must look like name@example.com.') }),
    textField({ name: 'firstname', label: 'First name', required: true }),
    textField({ name: 'lastname', label: 'Last name', required: true }),
  ];
}

async function createAccount(lv) {
  const [domains, roles] = await Promise.all([domainTree(), visibleRoles()]);
  const user = roles.find((r) => r.name === 'User' && r.isdefault) || roles.find((r) => r.type === 'User');
  const roleField = roles.length
    ? selectField({ name: 'roleid', label: 'Role', required: true, options: roleOptions(roles), value: user && user.id,
      hint: 'The role decides which commands the account\'s users may call.' })
    : selectField({ name: 'accounttype', label: 'Account type', required: true, value: '0',
      options: [{ value: '0', label: 'User' }, { value: '2', label: 'Domain administrator' }] });
  await formDialog({
    title: 'Create account',
    intro: 'An account is created with its first user.',
    fields: [
      textField({ name: 'account', label: 'Account name', hint: 'Leave empty to name the account after the user.' }),
      selectField({ name: 'domainid', label: 'Domain', required: true, options: domainOptions(domains),
        value: domains[0] && domains[0].id }),
      roleField,
      ...userFields(),
    ],
    submitLabel: 'Create',
    onSubmit: async (v) => {
      const r = await call('createAccount', v);
      toast(`Account ${r.account ? r.account.name : v.account || v.username} created.`, 'success');
      lv.reload();
    },
  });
}

async function editAccount(lv, a) {
  const roles = (await visibleRoles()).filter((r) => r.type === a.roletype);
  const fields = [
    textField({ name: 'newname', label: 'Name', required: true, value: a.name }),
    roles.length > 1 && can('listRoles')
      ? selectField({ name: 'roleid', label: 'Role', options: roleOptions(roles), value: a.roleid,
        hint: `Only roles of the account's type (${a.roletype}) can be chosen.` })
      : null,
    textField({ name: 'networkdomain', label: 'Network domain', value: a.networkdomain, hint: 'Leave empty to remove it.' }),
  ].filter(Boolean);
  await formDialog({
    title: `Edit account ${a.name}`,
    fields,
    onSubmit: async (v) => {
      await call('updateAccount', {
        id: a.id,
        newname: v.newname !== a.name ? v.newname : undefined,
        roleid: v.roleid && v.roleid !== a.roleid ? v.roleid : undefined,
        networkdomain: v.networkdomain,
      }, { keepEmpty: true });
      toast(`Account ${v.newname} saved.`, 'success');
      lv.reload();
    },
  });
}

async function lockAccount(lv, a) {
  const ok = await confirmDialog({
    title: `Lock account ${a.name}?`,
    message: 'Its users can no longer log in or call the API. Its instances keep running.',
    confirmLabel: 'Lock',
    danger: true,
  });
  if (ok && await runCall(`Lock ${a.name}`, 'lockAccount', { account: a.name, domainid: a.domainid })) lv.reload();
}

async function disableAccount(lv, a) {
  await formDialog({
    title: `Disable account ${a.name}?`,
    fields: [selectField({
      name: 'lock', label: 'How', required: true, value: 'false',
      options: [
        { value: 'false', label: 'Disable: its users cannot log in, its running instances are stopped' },
        { value: 'true', label: 'Lock only: its users cannot log in, its instances keep running' },
      ],
    })],
    submitLabel: 'Disable',
    danger: true,
    onSubmit: async (v) => {
      const r = await call('disableAccount', { id: a.id, lock: v.lock });
      trackJob(`${v.lock === 'true' ? 'Lock' : 'Disable'} ${a.name}`, r.jobid, { onDone: () => lv.reload() });
    },
  });
}

async function enableAccount(lv, a) {
  if (await runCall(`Enable ${a.name}`, 'enableAccount', { id: a.id })) lv.reload();
}

async function deleteAccount(lv, a) {
  const ok = await confirmDialog({
    title: `Delete account ${a.name}?`,
    message: 'Its users are deleted and its instances are expunged through their extensions. This cannot be undone.',
    confirmLabel: 'Delete',
    danger: true,
  });
  if (!ok) return;
  try {
    const r = await call('deleteAccount', { id: a.id });
    trackJob(`Delete ${a.name}`, r.jobid, { onDone: () => lv.reload() });
  } catch (e) {
    toast(`Delete ${a.name} failed: ${errText(e)}`, 'error');
  }
}

function accountActions(lv, a) {
  const out = [];
  const mine = protectedAccount(a);
  if (can('updateAccount')) out.push(button('Edit', () => editAccount(lv, a).catch((e) => toast(errText(e), 'error')), { small: true, data: { action: 'edit-account' } }));
  if (a.state === 'enabled' && !mine) {
    if (can('lockAccount')) out.push(button('Lock', () => lockAccount(lv, a), { small: true, data: { action: 'lock' } }));
    if (can('disableAccount')) out.push(button('Disable', () => disableAccount(lv, a), { small: true, data: { action: 'disable' } }));
  }
  if (a.state !== 'enabled' && can('enableAccount')) out.push(button('Enable', () => enableAccount(lv, a), { small: true, data: { action: 'enable' } }));
  if (can('deleteAccount') && !mine) out.push(button('Delete', () => deleteAccount(lv, a), { small: true, kind: 'danger', data: { action: 'delete-account' } }));
  return h('div', { class: 'row-actions' }, out);
}

export async function renderAccounts(ctx) {
  const domains = await domainTree().catch(() => []);
  if (!ctx.alive()) return;
  const domain = selectField({ name: 'domainid', label: 'Domain', placeholder: 'Every domain', options: domainOptions(domains) });
  const state = selectField({ name: 'state', label: 'State', placeholder: 'Any state', options: ['enabled', 'disabled', 'locked'] });
  const lv = listView({
    command: 'listAccounts', key: 'account', caption: 'Accounts', filters: [domain, state],
    params: { listall: 'true' },
    empty: 'No accounts.',
    rowAttrs: (a) => ({ dataset: { account: a.name } }),
    columns: [
      {
        label: 'Name', trunc: true, class: 'w-mid',
        render: (a) => (can('listUsers')
          ? h('a', { href: `#/users?${new URLSearchParams({ account: a.name, domainid: a.domainid })}`, title: `Users of ${a.name}` }, a.name)
          : h('strong', {}, a.name)),
      },
      { label: 'State', fit: true, class: 'state', render: (a) => stateBadge(a.state) },
      { label: 'Role', trunc: true, class: 'role', render: (a) => a.rolename },
      { label: 'Type', key: 'roletype', fit: true },
      { label: 'Domain', trunc: true, class: 'w-mid domain', render: (a) => code(a.domainpath) },
      { label: 'Users', fit: true, render: (a) => String((a.user || []).length) },
      created,
      { label: 'Actions', render: (a) => accountActions(lv, a) },
    ],
  });
  replace(ctx.view,
    pageHeader('Accounts', {
      subtitle: 'An account owns instances and other resources; its users log in to it.',
      actions: [can('createAccount') ? button('Create account', () => createAccount(lv).catch((e) => toast(errText(e), 'error')), { kind: 'primary', data: { action: 'create-account' } }) : null],
    }),
    lv.el);
}
