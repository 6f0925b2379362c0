// Infrastructure: zones, clusters (with the extension that orchestrates them) and hosts
// (details, maintenance, enable/disable, external details).

import { h, replace, time } from '../dom.js';
import { call, can, list, listAll, mapParams } from '../api.js';
import {
  pageHeader, button, badge, code, fieldList, kvTable, listView, formDialog, textField, selectField as select,
  kvField, confirmDialog, runCall, runJob, toast, created,
} from '../ui.js';

// ---------------------------------------------------------------------------------------------
// Zones

export async function renderZones(ctx) {
  const lv = listView({
    command: 'listZones', key: 'zone', caption: 'Zones',
    empty: 'No zones yet. A zone holds the clusters and hosts that run instances.',
    columns: [
      { label: 'Name', trunc: true, class: 'w-mid', render: (z) => h('strong', {}, z.name) },
      { label: 'Allocation', fit: true, render: (z) => badge(z.allocationstate) },
      { label: 'Network type', key: 'networktype' },
      { label: 'DNS', key: 'dns1' },
      { label: 'Description', key: 'description', trunc: true, class: 'w-mid' },
      { label: 'ID', trunc: true, class: 'w-wide', render: (z) => code(z.id) },
      {
        label: 'Actions', render: (z) => h('div', { class: 'row-actions' },
          can('updateZone') ? button(z.allocationstate === 'Enabled' ? 'Disable' : 'Enable', async () => {
            if (await runCall(`Update ${z.name}`, 'updateZone', { id: z.id, allocationstate: z.allocationstate === 'Enabled' ? 'Disabled' : 'Enabled' })) lv.reload();
          }, { small: true }) : null,
          can('deleteZone') ? button('Delete', async () => {
            if (await confirmDialog({ title: `Delete zone ${z.name}?`, message: 'The zone must be empty.', confirmLabel: 'Delete', danger: true })
              && await runCall(`Delete ${z.name}`, 'deleteZone', { id: z.id })) lv.reload();
          }, { small: true, kind: 'danger' }) : null),
      },
    ],
  });
  replace(ctx.view,
    pageHeader('Zones', {
      actions: [can('createZone') ? button('Add zone', () => formDialog({
        title: 'Add zone',
        fields: [
          textField({ name: 'name', label: 'Name', required: true }),
          textField({ name: 'description', label: 'Description' }),
          textField({ name: 'dns1', label: 'DNS server', placeholder: '8.8.8.8' }),
        ],
        submitLabel: 'Add',
        onSubmit: async (v) => {
          await call('createZone', v);
          toast(`Zone ${v.name} added.`, 'success');
          lv.reload();
        },
      }), { kind: 'primary', data: { action: 'add-zone' } }) : null],
    }),
    lv.el);
}

// ---------------------------------------------------------------------------------------------
// Clusters

async function addCluster(lv) {
  const [zones, exts] = await Promise.all([
    listAll('listZones', {}, 'zone'),
    can('listExtensions') ? listAll('listExtensions', { details: 'min' }, 'extension') : [],
  ]);
  const ext = select({ name: 'extensionid', label: 'Extension', placeholder: 'None (register later)',
    options: exts.map((e) => ({ value: e.id, label: `${e.name}${e.state !== 'Enabled' ? ' (disabled)' : ''}` })),
    hint: 'The extension whose executable runs this cluster\'s instances.' });
  const hyp = select({ name: 'hypervisor', label: 'Hypervisor', options: ['External'], value: 'External', required: true });
  await formDialog({
    title: 'Add cluster',
    fields: [
      textField({ name: 'clustername', label: 'Name', required: true }),
      select({ name: 'zoneid', label: 'Zone', required: true, placeholder: 'Choose a zone', options: zones.map((z) => ({ value: z.id, label: z.name })), value: zones.length === 1 ? zones[0].id : undefined }),
      hyp,
      ext,
      select({ name: 'arch', label: 'Architecture', options: ['x86_64', 'aarch64'], value: 'x86_64' }),
      kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Sent as externaldetails.resourcemap (needs an extension).' }),
    ],
    submitLabel: 'Add',
    onSubmit: async (v) => {
      await call('addCluster', {
        clustername: v.clustername, zoneid: v.zoneid, hypervisor: v.hypervisor, extensionid: v.extensionid,
        arch: v.arch, ...mapParams('externaldetails', v.externaldetails),
      });
      toast(`Cluster ${v.clustername} added.`, 'success');
      lv.reload();
    },
  });
}

export async function renderClusters(ctx) {
  const lv = listView({
    command: 'listClusters', key: 'cluster', caption: 'Clusters',
    empty: 'No clusters yet.',
    columns: [
      { label: 'Name', trunc: true, class: 'w-mid', render: (c) => h('strong', {}, c.name) },
      { label: 'Zone', key: 'zonename', trunc: true },
      { label: 'Hypervisor', key: 'hypervisortype', fit: true },
      {
        label: 'Extension', trunc: true, render: (c) => (c.extensionid
          ? (can('listExtensions') ? h('a', { href: `#/extensions/${c.extensionid}` }, c.extensionname) : c.extensionname)
          : h('span', { class: 'muted' }, c.hypervisortype === 'External' ? 'not registered' : '—')),
      },
      { label: 'Allocation', fit: true, render: (c) => badge(c.allocationstate) },
      { label: 'Arch', key: 'arch', fit: true },
      {
        label: 'Actions', render: (c) => h('div', { class: 'row-actions' },
          can('updateCluster') ? button(c.allocationstate === 'Enabled' ? 'Disable' : 'Enable', async () => {
            if (await runCall(`Update ${c.name}`, 'updateCluster', { id: c.id, allocationstate: c.allocationstate === 'Enabled' ? 'Disabled' : 'Enabled' })) lv.reload();
          }, { small: true }) : null,
          can('updateCluster') && c.extensionid ? button('External details', () => formDialog({
            title: `External details of ${c.name}`,
            fields: [kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Replaces the details of the cluster\'s extension registration.' })],
            onSubmit: async (v) => {
              await call('updateCluster', { id: c.id, ...mapParams('externaldetails', v.externaldetails) });
              toast('Details saved.', 'success');
              lv.reload();
            },
          }), { small: true }) : null,
          can('deleteCluster') ? button('Delete', async () => {
            if (await confirmDialog({ title: `Delete cluster ${c.name}?`, message: 'The cluster must have no hosts. Its extension registration is removed.', confirmLabel: 'Delete', danger: true })
              && await runCall(`Delete ${c.name}`, 'deleteCluster', { id: c.id })) lv.reload();
          }, { small: true, kind: 'danger' }) : null),
      },
    ],
  });
  replace(ctx.view,
    pageHeader('Clusters', {
      subtitle: 'External clusters are orchestrated by the extension registered with them.',
      actions: [can('addCluster') ? button('Add cluster', () => addCluster(lv), { kind: 'primary', data: { action: 'add-cluster' } }) : null],
    }),
    lv.el);
}

// ---------------------------------------------------------------------------------------------
// Hosts

async function addHost(lv) {
  const clusters = await listAll('listClusters', {}, 'cluster');
  await formDialog({
    title: 'Add host',
    fields: [
      select({ name: 'clusterid', label: 'Cluster', required: true, placeholder: 'Choose a cluster',
        options: clusters.map((c) => ({ value: c.id, label: `${c.name} — ${c.zonename}${c.extensionname ? ` (${c.extensionname})` : ''}` })) }),
      textField({ name: 'url', label: 'Host name or URL', required: true, hint: 'For External hosts any name; it becomes the host\'s name.' }),
      textField({ name: 'username', label: 'Username' }),
      textField({ name: 'password', label: 'Password', type: 'password', trim: false }),
      textField({ name: 'hosttags', label: 'Host tags', hint: 'Comma-separated.' }),
      kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Sent as externaldetails.host.' }),
    ],
    submitLabel: 'Add',
    onSubmit: async (v) => {
      const c = clusters.find((x) => x.id === v.clusterid);
      await call('addHost', {
        zoneid: c.zoneid, podid: c.podid, clusterid: c.id, hypervisor: c.hypervisortype, url: v.url,
        username: v.username, password: v.password, hosttags: v.hosttags, ...mapParams('externaldetails', v.externaldetails),
      });
      toast(`Host ${v.url} added.`, 'success');
      lv.reload();
    },
  });
}

export async function renderHosts(ctx) {
  const state = select({ name: 'state', label: 'State', placeholder: 'Any state', options: ['Up', 'Down', 'Disconnected', 'Alert'] });
  const lv = listView({
    command: 'listHosts', key: 'host', caption: 'Hosts', filters: [state],
    empty: 'No hosts yet.',
    columns: [
      { label: 'Name', trunc: true, class: 'w-wide', render: (x) => h('a', { href: `#/hosts/${x.id}` }, x.name) },
      { label: 'State', fit: true, render: (x) => badge(x.state) },
      { label: 'Resource state', fit: true, render: (x) => badge(x.resourcestate) },
      { label: 'Cluster', key: 'clustername', trunc: true },
      { label: 'Zone', key: 'zonename', trunc: true },
      {
        label: 'Extension', trunc: true, render: (x) => (x.extensionid && can('listExtensions')
          ? h('a', { href: `#/extensions/${x.extensionid}` }, x.extensionname) : (x.extensionname || '')),
      },
      created,
    ],
  });
  replace(ctx.view,
    pageHeader('Hosts', {
      actions: [can('addHost') ? button('Add host', () => addHost(lv), { kind: 'primary', data: { action: 'add-host' } }) : null],
    }),
    lv.el);
}

export async function renderHost(ctx) {
  const [id] = ctx.params;
  const { items } = await list('listHosts', { id }, 'host');
  if (!ctx.alive()) return;
  const x = items[0];
  if (!x) {
    replace(ctx.view, pageHeader('Host not found', { crumbs: [['Hosts', '#/hosts']] }));
    return;
  }
  const inMaint = ['Maintenance', 'PrepareForMaintenance', 'ErrorInMaintenance'].includes(x.resourcestate);
  const actions = [];
  if (!inMaint && can('prepareHostForMaintenance')) {
    actions.push(button('Enable maintenance', async () => {
      if (await confirmDialog({ title: `Put ${x.name} into maintenance?`, message: 'Instances on it are stopped (External hosts cannot migrate them).', confirmLabel: 'Enable maintenance' })) {
        runJob(`Maintenance for ${x.name}`, 'prepareHostForMaintenance', { id: x.id }, { onDone: () => ctx.refresh() });
        setTimeout(() => ctx.refresh(), 400);
      }
    }, { data: { action: 'maintenance' } }));
  }
  if (inMaint && can('cancelHostMaintenance')) {
    actions.push(button('Cancel maintenance', () => {
      runJob(`Cancel maintenance for ${x.name}`, 'cancelHostMaintenance', { id: x.id }, { onDone: () => ctx.refresh() });
    }, { data: { action: 'cancel-maintenance' } }));
  }
  if (can('updateHost') && !inMaint) {
    const enabled = x.resourcestate === 'Enabled';
    actions.push(button(enabled ? 'Disable' : 'Enable', async () => {
      if (await runCall(`${enabled ? 'Disable' : 'Enable'} ${x.name}`, 'updateHost', { id: x.id, allocationstate: enabled ? 'Disable' : 'Enable' })) ctx.refresh();
    }));
  }
  if (can('updateHost')) {
    actions.push(button('Edit external details', () => formDialog({
      title: `External details of ${x.name}`,
      fields: [kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', value: x.details || {}, hint: 'Replaces all external details of the host.' })],
      onSubmit: async (v) => {
        const empty = !Object.keys(v.externaldetails).length;
        await call('updateHost', { id: x.id, ...(empty ? { cleanupexternaldetails: 'true' } : mapParams('externaldetails', v.externaldetails)) });
        toast('Details saved.', 'success');
        ctx.refresh();
      },
    })));
  }
  if (can('deleteHost')) {
    actions.push(button('Delete', async () => {
      if (await confirmDialog({ title: `Delete host ${x.name}?`, message: 'Instances placed on it lose their host.', confirmLabel: 'Delete', danger: true })
        && await runCall(`Delete ${x.name}`, 'deleteHost', { id: x.id, forced: 'true' })) ctx.navigate('/hosts');
    }, { kind: 'danger' }));
  }
  replace(ctx.view,
    pageHeader(x.name, { crumbs: [['Hosts', '#/hosts']], subtitle: `${x.hypervisor} host in ${x.clustername}`, actions }),
    h('section', { class: 'panel' },
      fieldList([
        ['ID', code(x.id)],
        ['State', badge(x.state)],
        ['Resource state', badge(x.resourcestate)],
        ['Type', x.type],
        ['Hypervisor', x.hypervisor],
        ['Zone', x.zonename],
        ['Pod', x.podname],
        ['Cluster', x.clustername],
        ['Extension', x.extensionid && can('listExtensions') ? h('a', { href: `#/extensions/${x.extensionid}` }, x.extensionname) : x.extensionname],
        ['IP address', x.ipaddress],
        ['Architecture', x.arch],
        ['Host tags', x.hosttags],
        ['Capabilities', x.capabilities],
        ['Created', time(x.created)],
      ])),
    h('section', { class: 'panel' }, h('h2', {}, 'External details'), kvTable(x.details, 'No external details.')));
}

