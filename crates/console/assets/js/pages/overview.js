// The overview: counts for what this user may see, extensions whose path is not ready, and the
// latest alerts.

import { h, replace, time } from '../dom.js';
import { can, listAll, list, currentSession } from '../api.js';
import { pageHeader, badge, table, notice } from '../ui.js';

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

/** A readable name for an alert. */
export function alertName(a) {
  if (a.type === 33) return 'Extension path not ready';
  const n = String(a.name || a.type || '');
  return n.replace(/^ALERT\.TYPE\./, '').toLowerCase().replace(/\./g, ' ')
    .replace(/^./, (c) => c.toUpperCase());
}
