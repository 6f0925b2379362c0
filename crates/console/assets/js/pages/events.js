// Events and alerts. Alerts include "extension path not ready", raised while an enabled
// extension's executable is missing or differs between management servers.

import { h, replace, time } from '../dom.js';
import { can, isAdmin } from '../api.js';
import {
  pageHeader, badge, levelBadge, code, listView, selectField, textField, created, notice,
} from '../ui.js';
import { alertName } from './overview.js';

export async function renderEvents(ctx) {
  const level = selectField({ name: 'level', label: 'Level', placeholder: 'Any level', options: ['INFO', 'WARN', 'ERROR'] });
  const type = textField({ name: 'type', label: 'Type', placeholder: 'e.g. EXTENSION.CREATE' });
  const lv = listView({
    command: 'listEvents', key: 'event', caption: 'Events', filters: [level, type],
    params: isAdmin() ? { listall: 'true' } : {},
    empty: 'No events match.',
    pageSize: 25,
    columns: [
      { label: 'Type', render: (e) => code(e.type) },
      { label: 'Level', render: (e) => levelBadge(e.level) },
      { label: 'Description', key: 'description', wrap: true },
      { label: 'Resource', render: (e) => resourceLink(e) },
      { label: 'By', key: 'username' },
      created,
    ],
  });
  replace(ctx.view, pageHeader('Events', { subtitle: 'What happened, newest first.' }), lv.el);
}

function resourceLink(e) {
  if (!e.resourceid) return '';
  const routes = { Extension: 'extensions', VirtualMachine: 'instances', Host: 'hosts' };
  const r = routes[e.resourcetype];
  const label = `${e.resourcetype}`;
  if (r && (r !== 'extensions' || can('listExtensions')) && (r !== 'hosts' || can('listHosts'))) {
    return h('a', { href: `#/${r}/${e.resourceid}`, title: e.resourceid }, label);
  }
  return h('span', { title: e.resourceid }, label);
}

export async function renderAlerts(ctx) {
  const kind = selectField({ name: 'type', label: 'Kind', placeholder: 'All alerts', options: [{ value: '33', label: 'Extension path not ready' }] });
  const lv = listView({
    command: 'listAlerts', key: 'alert', caption: 'Alerts', filters: [kind], search: true,
    empty: 'No alerts.',
    pageSize: 25,
    columns: [
      { label: 'Alert', render: (a) => badge(alertName(a), a.type === 33 ? 'bad' : 'neutral') },
      { label: 'Description', key: 'description', wrap: true },
      { label: 'Sent', render: (a) => time(a.sent) },
    ],
  });
  replace(ctx.view,
    pageHeader('Alerts', { subtitle: 'Conditions that need an administrator.' }),
    notice('info', 'An ', h('strong', {}, 'Extension path not ready'), ' alert means an enabled extension\'s executable is missing, not executable, or different between management servers. Fix the file, and the alert stops on the next check.'),
    lv.el);
}

