// The login page: username, password and domain, posted to the CloudStack `login` command.

import { h, replace } from '../dom.js';
import { login } from '../api.js';
import { errText, spinner } from '../ui.js';

export function renderLogin(root, message, onDone) {
  const err = h('div', { class: 'notice notice-error', role: 'alert', id: 'login-error', hidden: true });
  const info = message ? h('div', { class: 'notice notice-info', role: 'status' }, message) : null;
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const domain = h('input', { id: 'login-domain', name: 'domain', autocomplete: 'off', placeholder: '/', value: '' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'form login-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), pass),
    h('details', { class: 'field' }, h('summary', {}, 'Domain'),
      h('div', { class: 'field' }, h('label', { for: 'login-domain' }, 'Domain path'), domain,
        h('p', { class: 'hint' }, 'Leave empty for the ROOT domain.'))),
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    if (!user.value.trim() || !pass.value) {
      err.textContent = 'Enter your username and password.';
      err.hidden = false;
      (user.value.trim() ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    replace(submit, spinner('Logging in'), ' Logging in…');
    try {
      await login(user.value.trim(), pass.value, domain.value.trim() || '/');
      onDone();
    } catch (e) {
      err.textContent = e.code === 531 || e.code === 401
        ? 'The username or password is not correct.'
        : errText(e);
      err.hidden = false;
      submit.disabled = false;
      replace(submit, 'Log in');
      pass.select();
      pass.focus();
    }
  });
  replace(root, h('div', { class: 'login-page' },
    h('main', { class: 'login-card', id: 'main', tabindex: '-1' },
      h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Trellis'),
      h('h1', {}, 'Log in'),
      h('p', { class: 'muted' }, 'Management console for CloudStack Extensions.'),
      info, err, form)));
  user.focus();
}
