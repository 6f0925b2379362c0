// The console shell: login state, navigation (only what `listApis` says this user may call),
// and a hash router (#/extensions/<id>...) so actions never reload the page.

import { h, replace } from './dom.js';
import { currentSession, loadApis, can, isAdmin, logout, onSessionExpired } from './api.js';
import { button, errorBox, loading, toast } from './ui.js';
import { renderLogin } from './pages/login.js';
import { renderOverview } from './pages/overview.js';
import { renderExtensions, renderExtension } from './pages/extensions.js';
import { renderZones, renderClusters, renderHosts, renderHost } from './pages/infra.js';
import { renderTemplates, renderOfferings } from './pages/catalog.js';
import { renderInstances, renderInstance } from './pages/instances.js';
import { renderEvents, renderAlerts } from './pages/events.js';
import { renderDomains } from './pages/domains.js';
import { renderAccounts } from './pages/accounts.js';
import { renderUsers, changePassword } from './pages/users.js';
import { renderRoles, renderRole } from './pages/roles.js';

const NAV = [
  { group: null, items: [{ path: '/', label: 'Overview', needs: 'listApis' }] },
  { group: 'Extensions', items: [{ path: '/extensions', label: 'Extensions', needs: 'listExtensions' }] },
  {
    group: 'Infrastructure',
    items: [
      { path: '/zones', label: 'Zones', needs: 'listZones', admin: true },
      { path: '/clusters', label: 'Clusters', needs: 'listClusters' },
      { path: '/hosts', label: 'Hosts', needs: 'listHosts' },
    ],
  },
  {
    group: 'Compute',
    items: [
      { path: '/instances', label: 'Instances', needs: 'listVirtualMachines' },
      { path: '/templates', label: 'Templates', needs: 'listTemplates' },
      { path: '/offerings', label: 'Service offerings', needs: 'listServiceOfferings' },
    ],
  },
  {
    // listAccounts and listUsers are open to every user (who sees only its own account):
    // these pages are for those who also administer a domain (listDomains).
    group: 'Administration',
    items: [
      { path: '/domains', label: 'Domains', needs: 'listDomains' },
      { path: '/accounts', label: 'Accounts', needs: ['listAccounts', 'listDomains'] },
      { path: '/users', label: 'Users', needs: ['listUsers', 'listDomains'] },
      { path: '/roles', label: 'Roles', needs: 'listRoles' },
    ],
  },
  {
    group: 'Activity',
    items: [
      { path: '/events', label: 'Events', needs: 'listEvents' },
      { path: '/alerts', label: 'Alerts', needs: 'listAlerts' },
    ],
  },
];

const ROUTES = [
  [/^\/$/, renderOverview],
  [/^\/extensions$/, renderExtensions],
  [/^\/extensions\/([^/]+)$/, renderExtension],
  [/^\/zones$/, renderZones],
  [/^\/clusters$/, renderClusters],
  [/^\/hosts$/, renderHosts],
  [/^\/hosts\/([^/]+)$/, renderHost],
  [/^\/templates$/, renderTemplates],
  [/^\/offerings$/, renderOfferings],
  [/^\/instances$/, renderInstances],
  [/^\/instances\/([^/]+)$/, renderInstance],
  [/^\/events$/, renderEvents],
  [/^\/alerts$/, renderAlerts],
  [/^\/domains$/, renderDomains],
  [/^\/accounts$/, renderAccounts],
  [/^\/users$/, renderUsers],
  [/^\/roles$/, renderRoles],
  [/^\/roles\/([^/]+)$/, renderRole],
];

const ROLE_NAMES = { 0: 'User', 1: 'Administrator', 2: 'Domain administrator', 3: 'Resource administrator' };

const root = document.getElementById('app');
let main = null;
let nav = null;
let renderSeq = 0;

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, qs] = raw.split('?');
  return { path: decodeURIComponent(path) || '/', query: new URLSearchParams(qs || '') };
}

/** Go to a console route such as '/extensions'. */
export function navigate(path) {
  location.hash = `#${path}`;
}

function visible(item) {
  const needs = Array.isArray(item.needs) ? item.needs : [item.needs];
  return needs.every(can) && (!item.admin || can('listHosts'));
}

function buildShell() {
  const s = currentSession();
  const role = ROLE_NAMES[s.type] || 'User';
  nav = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Main' },
    NAV.map((g) => {
      const items = g.items.filter(visible);
      if (!items.length) return null;
      return h('div', { class: 'nav-group' },
        g.group ? h('p', { class: 'nav-heading' }, g.group) : null,
        h('ul', {}, items.map((it) => h('li', {},
          h('a', { href: `#${it.path}`, dataset: { path: it.path } }, it.label)))));
    }));
  const menuBtn = h('button', {
    type: 'button', class: 'btn btn-ghost menu-toggle', 'aria-expanded': 'false', 'aria-controls': 'sidebar',
    onclick: () => {
      const open = document.body.classList.toggle('nav-open');
      menuBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
    },
  }, 'Menu');
  main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const header = h('header', { class: 'topbar' },
    menuBtn,
    h('a', { class: 'brand', href: '#/', 'aria-label': 'Trellis' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }),
      h('span', { class: 'brand-name' }, 'Trellis')),
    h('div', { class: 'topbar-right' },
      h('span', { class: 'user', id: 'current-user' },
        h('strong', {}, s.username), ' ', h('span', { class: 'role' }, role)),
      can('updateUser') ? button([h('span', { class: 'wide-only' }, 'Change '), 'password'], () => changePassword(),
        { kind: 'ghost', data: { action: 'change-password' } }) : null,
      button('Log out', async () => {
        await logout();
        showLogin('You have logged out.');
      }, { kind: 'ghost', data: { action: 'logout' } })));
  replace(root, header, h('div', { class: 'layout' }, nav, main));
  document.body.dataset.role = isAdmin() ? 'admin' : 'user';
}

function markNav(path) {
  if (!nav) return;
  for (const a of nav.querySelectorAll('a')) {
    const p = a.dataset.path;
    const on = p === '/' ? path === '/' : path === p || path.startsWith(`${p}/`);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (!currentSession()) {
    showLogin();
    return;
  }
  if (!main) {
    replace(root, loading('Loading the console…'));
    try {
      await loadApis();
    } catch (e) {
      if (!currentSession()) return;
      replace(root, errorBox(e, route));
      return;
    }
    if (!currentSession()) return;
    buildShell();
  }
  const { path, query } = parseHash();
  document.body.classList.remove('nav-open');
  markNav(path);
  const seq = ++renderSeq;
  const view = h('div', { class: 'view' });
  replace(main, view);
  const found = ROUTES.map(([re, fn]) => [path.match(re), fn]).find(([m]) => m);
  const ctx = {
    view,
    query,
    params: found ? found[0].slice(1) : [],
    alive: () => seq === renderSeq,
    refresh: () => { if (seq === renderSeq) route(); },
    navigate,
  };
  if (!found) {
    replace(view, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  // A page behind a menu entry this user does not get (an old link, the address of another
  // user's session) is not rendered either.
  const entry = NAV.flatMap((g) => g.items).find((it) => it.path !== '/' && (path === it.path || path.startsWith(`${it.path}/`)));
  if (entry && !visible(entry)) {
    replace(view, h('h1', { id: 'not-allowed' }, 'Not available'),
      h('p', {}, `Your role does not allow the ${entry.label} page. `, h('a', { href: '#/' }, 'Go to the overview.')));
    document.title = 'Not available · Trellis';
    return;
  }
  view.append(loading());
  try {
    await found[1](ctx);
  } catch (e) {
    if (ctx.alive()) replace(view, errorBox(e, ctx.refresh));
  }
  if (ctx.alive()) {
    const title = view.querySelector('h1');
    document.title = title ? `${title.textContent} · Trellis` : 'Trellis console';
  }
}

function showLogin(message) {
  main = null;
  nav = null;
  document.title = 'Log in · Trellis';
  delete document.body.dataset.role;
  renderLogin(root, message, () => {
    if (!location.hash || location.hash === '#/login') location.hash = '#/';
    route();
  });
}

onSessionExpired((msg) => {
  for (const d of document.querySelectorAll('dialog')) d.remove();
  showLogin(msg);
  toast(msg, 'error');
});

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a.skip-link');
  if (a) {
    ev.preventDefault();
    const m = document.getElementById('main');
    if (m) m.focus();
  }
});

// Following a link to the page already shown (its menu entry, the brand, a breadcrumb) changes
// nothing in the address, so no hashchange fires: render the page again, with fresh data.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest('a[href^="#/"]');
  if (!a || !main || !root.contains(a)) return;
  if (a.getAttribute('href') !== location.hash) return;
  ev.preventDefault();
  route();
});

window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#/') || location.hash === '') route();
});

route();
