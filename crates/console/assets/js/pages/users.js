// Users: every user the caller may manage, or those of one account (#/users?account=…&domainid=…);
// create, edit, disable (an async job), enable, lock, delete, API keys; and "Change password"
// for the logged-in user, which needs its current password.

import { h, replace } from '../dom.js';
import { call, can, currentSession, listAll } from '../api.js';
import {
  pageHeader, button, code, listView, formDialog, textField, selectField, confirmDialog, runCall, runJob,
  toast, created, errText, fieldList, openDialog, notice,
} from '../ui.js';
import { stateBadge, userFields } from './accounts.js';

function isMe(u) {
  const s = currentSession();
  return !!s && u.id === s.userid;
}

/** The logged-in user changes its own password (the server asks for the current one). */
export function changePassword() {
  const s = currentSession();
  const fresh = textField({ name: 'password', label: 'New password', type: 'password', required: true, trim: false, autocomplete: 'new-password' });
  return formDialog({
    title: 'Change your password',
    intro: `The new password is for ${s.username}, from the next log-in on.`,
    fields: [
      textField({ name: 'currentpassword', label: 'Current password', type: 'password', required: true, trim: false, autocomplete: 'current-password' }),
      fresh,
      textField({ name: 'confirm', label: 'New password again', type: 'password', required: true, trim: false, autocomplete: 'new-password',
        check: (v) => (v === fresh.get() ? null : 'The two new passwords differ.') }),
    ],
    submitLabel: 'Change password',
    onSubmit: async (v) => {
      await call('updateUser', { id: s.userid, currentpassword: v.currentpassword, password: v.password });
      toast('Your password was changed.', 'success');
    },
  });
}

async function createUser(lv, account, domainid) {
  // Without an account in the address, pick one (its name and domain go to createUser).
  const accounts = account ? [] : await listAll('listAccounts', { listall: 'true' }, 'account');
  const fields = [
    account
      ? textField({ name: 'account', label: 'Account', value: account, disabled: true })
      : selectField({ name: 'accountid', label: 'Account', required: true, placeholder: 'Choose an account',
        options: accounts.map((a) => ({ value: a.id, label: `${a.name} (${a.domainpath})` })) }),
    ...userFields(),
  ];
  await formDialog({
    title: account ? `Add a user to ${account}` : 'Add user',
    fields,
    submitLabel: 'Add',
    onSubmit: async (v) => {
      const chosen = accounts.find((a) => a.id === v.accountid);
      const r = await call('createUser', {
        username: v.username, password: v.password, email: v.email, firstname: v.firstname, lastname: v.lastname,
        account: chosen ? chosen.name : account, domainid: chosen ? chosen.domainid : domainid,
      });
      toast(`User ${r.user ? r.user.username : v.username} added.`, 'success');
      lv.reload();
    },
  });
}

function editUser(lv, u) {
  const fields = [
    textField({ name: 'firstname', label: 'First name', required: true, value: u.firstname }),
    textField({ name: 'lastname', label: 'Last name', required: true, value: u.lastname }),
    textField({ name: 'email', label: 'Email', type: 'email', required: true, value: u.email }),
    textField({ name: 'timezone', label: 'Time zone', value: u.timezone, placeholder: 'Europe/Berlin' }),
  ];
  if (!isMe(u)) {
    fields.push(textField({ name: 'password', label: 'New password', type: 'password', trim: false, autocomplete: 'new-password',
      hint: 'Leave empty to keep the current password.' }));
  }
  return formDialog({
    title: `Edit user ${u.username}`,
    fields,
    onSubmit: async (v) => {
      await call('updateUser', { id: u.id, ...v });
      toast(`User ${u.username} saved.`, 'success');
      lv.reload();
    },
  });
}

async function lockUser(lv, u) {
  const ok = await confirmDialog({
    title: `Lock user ${u.username}?`,
    message: 'The user can no longer log in or call the API until it is enabled again.',
    confirmLabel: 'Lock',
    danger: true,
  });
  if (ok && await runCall(`Lock ${u.username}`, 'lockUser', { id: u.id })) lv.reload();
}

async function disableUser(lv, u) {
  const ok = await confirmDialog({
    title: `Disable user ${u.username}?`,
    message: 'The user loses its sessions at once and its API keys stop working.',
    confirmLabel: 'Disable',
    danger: true,
  });
  if (ok) runJob(`Disable ${u.username}`, 'disableUser', { id: u.id }, { onDone: () => lv.reload() });
}

async function deleteUser(lv, u) {
  const ok = await confirmDialog({
    title: `Delete user ${u.username}?`,
    message: 'The account and its resources stay. This cannot be undone.',
    confirmLabel: 'Delete',
    danger: true,
  });
  if (ok && await runCall(`Delete ${u.username}`, 'deleteUser', { id: u.id })) lv.reload();
}

/** The user's API key and secret key, with a button to generate new ones. */
async function userKeys(u) {
  const d = openDialog({ title: `API keys of ${u.username}` });
  const show = (k) => replace(d.body,
    k && k.apikey
      ? fieldList([['API key', code(k.apikey)], ['Secret key', code(k.secretkey)]])
      : h('p', { class: 'muted' }, 'No API keys yet.'));
  try {
    show(can('getUserKeys') ? (await call('getUserKeys', { id: u.id })).userkeys : null);
  } catch (e) {
    replace(d.body, notice('error', errText(e)));
  }
  if (can('registerUserKeys')) {
    d.footer.append(button('Generate new keys', async () => {
      const ok = await confirmDialog({
        title: 'Generate new keys?', message: 'Clients using the current keys stop working.', confirmLabel: 'Generate', danger: true,
      });
      if (!ok) return;
      const r = await runCall(`Keys for ${u.username}`, 'registerUserKeys', { id: u.id });
      if (r) show(r.userkeys || r);
    }, { data: { action: 'register-keys' } }));
  }
  d.footer.append(button('Close', () => d.close()));
}

function userActions(lv, u) {
  const out = [];
  const me = isMe(u);
  if (can('updateUser') && !me) out.push(button('Edit', () => editUser(lv, u), { small: true, data: { action: 'edit-user' } }));
  if (can('updateUser') && me) out.push(button('Change password', () => changePassword(), { small: true, data: { action: 'change-password' } }));
  if (!me && !u.isdefault && u.state === 'enabled') {
    if (can('lockUser')) out.push(button('Lock', () => lockUser(lv, u), { small: true, data: { action: 'lock-user' } }));
    if (can('disableUser')) out.push(button('Disable', () => disableUser(lv, u), { small: true, data: { action: 'disable-user' } }));
  }
  if (u.state !== 'enabled' && can('enableUser')) {
    out.push(button('Enable', async () => {
      if (await runCall(`Enable ${u.username}`, 'enableUser', { id: u.id })) lv.reload();
    }, { small: true, data: { action: 'enable-user' } }));
  }
  if (can('getUserKeys') || can('registerUserKeys')) out.push(button('Keys', () => userKeys(u), { small: true, data: { action: 'user-keys' } }));
  if (can('deleteUser') && !me && !u.isdefault) out.push(button('Delete', () => deleteUser(lv, u), { small: true, kind: 'danger', data: { action: 'delete-user' } }));
  return h('div', { class: 'row-actions' }, out);
}

export async function renderUsers(ctx) {
  const account = ctx.query.get('account') || '';
  const domainid = ctx.query.get('domainid') || '';
  const lv = listView({
    command: 'listUsers', key: 'user', caption: 'Users',
    params: account ? { account, domainid, listall: 'true' } : { listall: 'true' },
    empty: account ? 'This account has no users.' : 'No users.',
    rowAttrs: (u) => ({ dataset: { user: u.username } }),
    columns: [
      { label: 'Username', trunc: true, class: 'w-mid', render: (u) => h('strong', {}, u.username) },
      { label: 'Name', trunc: true, render: (u) => [u.firstname, u.lastname].filter(Boolean).join(' ') },
      { label: 'Email', key: 'email', trunc: true },
      { label: 'State', fit: true, class: 'state', render: (u) => stateBadge(u.state) },
      {
        label: 'Account', trunc: true,
        render: (u) => (account ? u.account
          : h('a', { href: `#/users?${new URLSearchParams({ account: u.account, domainid: u.domainid })}` }, u.account)),
      },
      { label: 'Role', key: 'rolename', trunc: true },
      { label: 'Domain', key: 'domain', trunc: true },
      created,
      { label: 'Actions', render: (u) => userActions(lv, u) },
    ],
  });
  replace(ctx.view,
    pageHeader(account ? `Users of ${account}` : 'Users', {
      crumbs: account ? [['Accounts', '#/accounts'], ['Users', '#/users']] : null,
      subtitle: account ? null : 'Every user you may manage. Open an account to see only its users.',
      actions: [can('createUser') ? button('Add user', () => createUser(lv, account, domainid || undefined).catch((e) => toast(errText(e), 'error')), { kind: 'primary', data: { action: 'add-user' } }) : null],
    }),
    lv.el);
}
