// Instances: the list with their state, the deploy form, start/stop/reboot/destroy/recover, the
// details page and Run Action.

import { h, replace, time, mib } from '../dom.js';
import { call, can, list, listAll, mapParams, isAdmin } from '../api.js';
import {
  pageHeader, button, badge, code, fieldList, kvTable, listView, formDialog, textField, selectField,
  checkboxField, kvField, trackJob, toast, created, errText, table, yesNo,
} from '../ui.js';
import { runActionDialog } from './runaction.js';

/** Jobs in flight per instance id → label, so rows show "Stopping…" until the job ends. */
const pending = new Map();

const LIFECYCLE = {
  start: { label: 'Start', command: 'startVirtualMachine', busy: 'Starting', when: (vm) => vm.state === 'Stopped' },
  stop: { label: 'Stop', command: 'stopVirtualMachine', busy: 'Stopping', when: (vm) => vm.state === 'Running' },
  reboot: { label: 'Reboot', command: 'rebootVirtualMachine', busy: 'Rebooting', when: (vm) => vm.state === 'Running' },
};

function stateBadge(vm) {
  const p = pending.get(vm.id);
  return p ? badge(`${p}…`, 'busy') : badge(vm.state);
}

async function lifecycle(vm, kind, after) {
  const op = LIFECYCLE[kind];
  pending.set(vm.id, op.busy);
  after();
  try {
    const r = await call(op.command, { id: vm.id });
    await trackJob(`${op.label} ${vm.name}`, r.jobid);
  } catch (e) {
    toast(`${op.label} ${vm.name} failed: ${errText(e)}`, 'error');
  } finally {
    pending.delete(vm.id);
    after();
  }
}

async function destroy(vm, after) {
  const fields = [];
  if (isAdmin() && can('expungeVirtualMachine')) {
    fields.push(checkboxField({ name: 'expunge', label: 'Expunge now (the extension deletes it; cannot be recovered)' }));
  }
  await formDialog({
    title: `Destroy ${vm.name}?`,
    intro: 'The extension stops the instance. A destroyed instance can be recovered until it is expunged.',
    fields,
    submitLabel: 'Destroy',
    danger: true,
    onSubmit: async (v) => {
      const r = await call('destroyVirtualMachine', { id: vm.id, expunge: v.expunge ? 'true' : undefined });
      pending.set(vm.id, 'Destroying');
      after();
      trackJob(`Destroy ${vm.name}`, r.jobid).finally(() => { pending.delete(vm.id); after(); });
    },
  });
}

async function recover(vm, after) {
  try {
    await call('recoverVirtualMachine', { id: vm.id });
    toast(`${vm.name} recovered; it is stopped.`, 'success');
  } catch (e) {
    toast(`Recover ${vm.name} failed: ${errText(e)}`, 'error');
  }
  after();
}

/** The buttons for one instance. */
function vmActions(vm, after, opts = {}) {
  const busy = pending.has(vm.id);
  const out = [];
  for (const [kind, op] of Object.entries(LIFECYCLE)) {
    if (opts.small && kind === 'reboot') continue;
    if (can(op.command) && op.when(vm)) {
      out.push(button(op.label, () => lifecycle(vm, kind, after), { small: opts.small, disabled: busy, data: { action: kind } }));
    }
  }
  if (can('runCustomAction') && can('listCustomActions') && !['Destroyed', 'Expunging', 'Error'].includes(vm.state)) {
    out.push(button('Run action', () => runActionDialog(vm, after), { small: opts.small, kind: 'primary', disabled: busy, data: { action: 'run-action' } }));
  }
  if (vm.state === 'Destroyed' && can('recoverVirtualMachine')) {
    out.push(button('Recover', () => recover(vm, after), { small: opts.small, data: { action: 'recover' } }));
  }
  if (can('destroyVirtualMachine') && !['Destroyed', 'Expunging'].includes(vm.state)) {
    out.push(button('Destroy', () => destroy(vm, after), { small: opts.small, kind: 'danger', disabled: busy, data: { action: 'destroy' } }));
  }
  return h('div', { class: 'row-actions' }, out);
}

async function deployForm(after) {
  const zones = await listAll('listZones', {}, 'zone');
  const offerings = await listAll('listServiceOfferings', {}, 'serviceoffering');
  const template = selectField({ name: 'templateid', label: 'Template', required: true, placeholder: 'Choose a zone first', options: [] });
  async function loadTemplates(zoneid) {
    if (!zoneid) { template.setOptions([]); return; }
    const ts = await listAll('listTemplates', { templatefilter: 'executable', zoneid }, 'template').catch(() => []);
    template.setOptions(ts.map((t) => ({ value: t.id, label: `${t.name}${t.extensionname ? ` (${t.extensionname})` : ''}` })),
      ts.length === 1 ? ts[0].id : undefined);
  }
  const zone = selectField({ name: 'zoneid', label: 'Zone', required: true, placeholder: 'Choose a zone',
    options: zones.map((z) => ({ value: z.id, label: z.name })), value: zones.length === 1 ? zones[0].id : undefined,
    onchange: loadTemplates });
  if (zones.length === 1) await loadTemplates(zones[0].id);
  await formDialog({
    title: 'Deploy instance',
    fields: [
      textField({ name: 'name', label: 'Name', hint: 'Host name; letters, digits and "-". Generated when empty.' }),
      textField({ name: 'displayname', label: 'Display name' }),
      zone,
      template,
      selectField({ name: 'serviceofferingid', label: 'Service offering', required: true, placeholder: 'Choose a size',
        options: offerings.map((o) => ({ value: o.id, label: `${o.name} — ${o.cpunumber} CPU, ${mib(o.memory)}` })),
        value: offerings.length === 1 ? offerings[0].id : undefined }),
      kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Sent to the extension as externaldetails.virtualmachine.' }),
      checkboxField({ name: 'startvm', label: 'Start the instance after creating it', value: true }),
    ],
    submitLabel: 'Deploy',
    onSubmit: async (v) => {
      const r = await call('deployVirtualMachine', {
        zoneid: v.zoneid, templateid: v.templateid, serviceofferingid: v.serviceofferingid, name: v.name,
        displayname: v.displayname, startvm: String(v.startvm), ...mapParams('externaldetails', v.externaldetails),
      });
      const label = `Deploy ${v.name || 'instance'}`;
      if (r.id) pending.set(r.id, 'Deploying');
      after();
      trackJob(label, r.jobid).finally(() => { if (r.id) pending.delete(r.id); after(); });
    },
  });
}

export async function renderInstances(ctx) {
  const state = selectField({ name: 'state', label: 'State', placeholder: 'Any state', options: ['Running', 'Stopped', 'Starting', 'Stopping', 'Destroyed', 'Error'] });
  let lv = null;
  const after = () => { if (ctx.alive() && lv) lv.reload(); };
  lv = listView({
    command: 'listVirtualMachines', key: 'virtualmachine', caption: 'Instances', filters: [state],
    params: isAdmin() ? { listall: 'true' } : {},
    empty: 'No instances yet. Deploy one from a template.',
    rowAttrs: (vm) => ({ dataset: { vm: vm.name } }),
    columns: [
      {
        label: 'Name', trunc: (vm) => (vm.displayname && vm.displayname !== vm.name ? `${vm.displayname} (${vm.name})` : vm.name),
        class: 'w-wide', render: (vm) => h('a', { href: `#/instances/${vm.id}` }, vm.displayname || vm.name),
      },
      { label: 'State', fit: true, render: stateBadge },
      { label: 'Zone', key: 'zonename', trunc: true },
      { label: 'Host', key: 'hostname', trunc: true, class: 'w-mid' },
      { label: 'Template', key: 'templatename', trunc: true, class: 'w-mid' },
      { label: 'Extension', key: 'extensionname', trunc: true },
      isAdmin() ? { label: 'Account', key: 'account', trunc: true } : null,
      created,
      { label: 'Actions', render: (vm) => vmActions(vm, after, { small: true }) },
    ].filter(Boolean),
  });
  replace(ctx.view,
    pageHeader('Instances', {
      actions: [can('deployVirtualMachine') ? button('Deploy instance', () => deployForm(after).catch((e) => toast(errText(e), 'error')), { kind: 'primary', data: { action: 'deploy' } }) : null],
    }),
    lv.el);
}

export async function renderInstance(ctx) {
  const [id] = ctx.params;
  const { items } = await list('listVirtualMachines', { id, ...(isAdmin() ? { listall: 'true' } : {}) }, 'virtualmachine');
  if (!ctx.alive()) return;
  const vm = items[0];
  if (!vm) {
    replace(ctx.view, pageHeader('Instance not found', { crumbs: [['Instances', '#/instances']] }), h('p', {}, 'It may have been expunged.'));
    return;
  }
  const after = () => ctx.refresh();
  replace(ctx.view,
    pageHeader(vm.displayname || vm.name, {
      crumbs: [['Instances', '#/instances']],
      subtitle: `Instance ${vm.instancename || vm.name}`,
      actions: [vmActions(vm, after)],
    }),
    h('section', { class: 'panel' },
      fieldList([
        ['State', stateBadge(vm)],
        ['Power state', vm.powerstate],
        ['Name', vm.name],
        ['Instance name', code(vm.instancename)],
        ['ID', code(vm.id)],
        ['Zone', vm.zonename],
        ['Host', vm.hostid && can('listHosts') ? h('a', { href: `#/hosts/${vm.hostid}` }, vm.hostname) : vm.hostname],
        ['Template', vm.templatename],
        ['Service offering', `${vm.serviceofferingname} (${vm.cpunumber} CPU, ${mib(vm.memory)})`],
        ['Extension', vm.extensionid && can('listExtensions') ? h('a', { href: `#/extensions/${vm.extensionid}` }, vm.extensionname) : vm.extensionname],
        ['Account', vm.account],
        ['Created', time(vm.created)],
      ])),
    nicSection(vm),
    h('section', { class: 'panel' }, h('h2', {}, 'Details'), kvTable(vm.details, 'No details.')));
}

/** The instance's NICs (listVirtualMachines returns them under `nic`), the default one first. */
function nicSection(vm) {
  const nics = [...(vm.nic || [])].sort((a, b) => Number(a.deviceid ?? 0) - Number(b.deviceid ?? 0));
  return h('section', { class: 'panel', id: 'nics', 'aria-labelledby': 'nics-title' },
    h('h2', { id: 'nics-title' }, `Network interfaces (${nics.length})`),
    table({
      caption: 'Network interfaces',
      rows: nics,
      empty: 'No network interfaces. The zone had no network when the instance was deployed.',
      rowAttrs: (n) => ({ dataset: { nic: n.id || '' } }),
      columns: [
        { label: 'MAC address', fit: true, class: 'mac', render: (n) => code(n.macaddress) },
        {
          label: 'Network', trunc: (n) => [n.networkname, n.networkid].filter(Boolean).join('\n'), class: 'w-wide',
          render: (n) => [h('span', { class: 'net-name' }, n.networkname || '—'), n.networkid ? h('span', { class: 'sub mono net-id' }, n.networkid) : null],
        },
        { label: 'IP address', fit: true, class: 'ip', render: (n) => (n.ipaddress ? code(n.ipaddress) : h('span', { class: 'muted' }, 'none')) },
        { label: 'Netmask', fit: true, render: (n) => (n.netmask ? code(n.netmask) : '') },
        { label: 'Gateway', fit: true, render: (n) => (n.gateway ? code(n.gateway) : '') },
        { label: 'Type', key: 'type', fit: true },
        { label: 'Default', fit: true, render: (n) => yesNo(n.isdefault) },
      ],
    }));
}
