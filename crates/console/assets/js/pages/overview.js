// The overview: counts for what this user may see, extensions whose path is not ready, and the
// latest alerts.

import { h, replace, time } from '../dom.js';
import { can, listAll, list, currentSession } from '../api.js';
import { pageHeader, badge, table, notice, code } from '../ui.js';

function card(label, value, href, detail) {
  return h('a', { class: 'card', href },
    h('span', { class: 'card-label' }, label),
    h('span', { class: 'card-value' }, String(value)),
    detail ? h('span', { class: 'card-detail' }, detail) : null);
}

export async function renderOverview(ctx) {
  const s = currentSession();
  const jobs = [];
  const want = (cmd, fn) => { if (can(cmd)) jobs.push(fn().catch(() => null)); else jobs.push(Promise.resolve(null)); };
  want('listExtensions', () => listAll('listExtensions', { details: 'min' }, 'extension'));
  want('listZones', () => listAll('listZones', {}, 'zone'));
  want('listHosts', () => listAll('listHosts', {}, 'host'));
  want('listVirtualMachines', () => listAll('listVirtualMachines', {}, 'virtualmachine'));
  want('listAlerts', () => list('listAlerts', { page: 1, pagesize: 5 }, 'alert'));
  const [exts, zones, hosts, vms, alerts] = await Promise.all(jobs);
  if (!ctx.alive()) return;

  const cards = [];
  if (exts) {
    const notReady = exts.filter((e) => !e.pathready);
    cards.push(card('Extensions', exts.length, '#/extensions',
      notReady.length ? `${notReady.length} not ready` : 'all paths ready'));
  }
  if (zones && can('listHosts')) cards.push(card('Zones', zones.length, '#/zones'));
  if (hosts) {
    const up = hosts.filter((x) => x.state === 'Up').length;
    cards.push(card('Hosts', hosts.length, '#/hosts', `${up} up`));
  }
  if (vms) {
    const running = vms.filter((v) => v.state === 'Running').length;
    cards.push(card('Instances', vms.length, '#/instances', `${running} running`));
  }

  const parts = [
    pageHeader('Overview', { subtitle: `Welcome, ${s.firstname || s.username}.` }),
    zones && !zones.length && can('createZone') ? gettingStarted() : null,
    h('section', { class: 'cards', 'aria-label': 'Summary' }, cards),
  ];
  if (exts) {
    const notReady = exts.filter((e) => !e.pathready && e.state === 'Enabled');
    if (notReady.length) {
      parts.push(notice('warn',
        h('strong', {}, 'Extension path not ready: '),
        notReady.map((e, i) => [i ? ', ' : '', h('a', { href: `#/extensions/${e.id}` }, e.name)]),
        '. Their executables are missing or not executable; operations on them will fail.'));
    }
  }
  if (alerts) {
    parts.push(h('section', { class: 'panel' },
      h('h2', {}, 'Latest alerts'),
      table({
        caption: 'Latest alerts',
        rows: alerts.items,
        empty: 'No alerts.',
        columns: [
          { label: 'Alert', render: (a) => badge(alertName(a), a.type === 33 ? 'bad' : 'neutral') },
          { label: 'Description', key: 'description', wrap: true },
          { label: 'Sent', render: (a) => time(a.sent) },
        ],
      }),
      h('p', {}, h('a', { href: '#/alerts' }, 'All alerts'))));
  }
  if (!can('listExtensions') && vms) {
    parts.push(h('section', { class: 'panel' }, h('h2', {}, 'Your instances'),
      h('p', {}, h('a', { href: '#/instances' }, 'Manage your instances'),
        ' — start, stop and run the actions your administrator made available.')));
  }
  replace(ctx.view, ...parts);
}

/** For an empty install (no zone yet): the two ways to get to a first instance. */
function gettingStarted() {
  const step = (title, ...text) => h('li', {}, h('strong', {}, title), ' ', ...text);
  return h('section', { class: 'panel getting-started', id: 'getting-started', 'aria-labelledby': 'getting-started-title' },
    h('h2', { id: 'getting-started-title' }, 'Getting started'),
    h('p', {}, 'There are no zones yet, so nothing can be deployed. Two ways to a first instance:'),
    h('div', { class: 'start-ways' },
      h('div', { class: 'start-way' },
        h('h3', {}, 'Try it on this machine'),
        h('p', {}, 'Run ', code('trellis quickstart'), ' (with its own data directory, or after stopping this server). It starts a '
          + 'server seeded with a zone, a cluster bound to the built-in Local extension (QEMU on this machine), a host, service '
          + 'offerings, a template and a network, and prints a ready-to-run deploy command.')),
      h('div', { class: 'start-way' },
        h('h3', {}, 'Set it up here'),
        h('ol', { class: 'start-steps' },
          step('Add a zone', '— ', h('a', { href: '#/zones', dataset: { action: 'start-add-zone' } }, 'Zones'), '.'),
          step('Choose an extension', 'that orchestrates your instances — ', h('a', { href: '#/extensions' }, 'Extensions'),
            ' (built-in ones, or create your own).'),
          step('Add a cluster and a host', 'bound to that extension — ', h('a', { href: '#/clusters' }, 'Clusters'), ', ',
            h('a', { href: '#/hosts' }, 'Hosts'), '.'),
          step('Register a template and a service offering', '— ', h('a', { href: '#/templates' }, 'Templates'), ', ',
            h('a', { href: '#/offerings' }, 'Service offerings'), '.'),
          step('Deploy an instance', '— ', h('a', { href: '#/instances' }, 'Instances'), '.')))));
}

/** A readable name for an alert. */
export function alertName(a) {
  if (a.type === 33) return 'Extension path not ready';
  const n = String(a.name || a.type || '');
  return n.replace(/^ALERT\.TYPE\./, '').toLowerCase().replace(/\./g, ' ')
    .replace(/^./, (c) => c.toUpperCase());
}
