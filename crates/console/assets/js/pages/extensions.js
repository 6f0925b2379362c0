// Extensions: the list, the details page (details, resources, custom actions, events) and the
// forms to create, edit, enable, disable, delete, register and unregister clusters.

import { h, replace, time } from '../dom.js';
import { call, can, list, listAll, mapParams } from '../api.js';
import {
  pageHeader, button, badge, levelBadge, yesNo, pathReady, code, fieldList, kvTable, table, tabs, listView,
  formDialog, textField, selectField, checkboxField, kvField, confirmDialog, runCall, toast,
  notice, created, loading, errorBox,
} from '../ui.js';
import { actionsTab } from './actions.js';

export async function renderExtensions(ctx) {
  const lv = listView({
    command: 'listExtensions',
    key: 'extension',
    params: { details: 'min' },
    caption: 'Extensions',
    empty: 'No extensions yet. Create one to orchestrate instances with your own executable.',
    columns: [
      { label: 'Name', render: (e) => h('a', { href: `#/extensions/${e.id}` }, e.name) },
      { label: 'State', render: (e) => badge(e.state) },
      { label: 'Type', key: 'type' },
      { label: 'Path', render: (e) => code(e.path), class: 'col-path', wrap: true },
      { label: 'Path ready', render: (e) => pathReady(e.pathready) },
      { label: 'User-defined', render: (e) => yesNo(e.isuserdefined) },
      created,
    ],
  });
  replace(ctx.view,
    pageHeader('Extensions', {
      subtitle: 'Executables that orchestrate instances on External clusters.',
      actions: [can('createExtension') ? button('Create extension', () => createExtension(ctx), { kind: 'primary', data: { action: 'create-extension' } }) : null],
    }),
    lv.el);
}

export function createExtension(ctx) {
  const fields = [
    textField({ name: 'name', label: 'Name', required: true, hint: 'Unique. Also names the executable\'s directory.' }),
    textField({ name: 'description', label: 'Description', multiline: true }),
    selectField({ name: 'type', label: 'Type', options: ['Orchestrator'], value: 'Orchestrator', required: true }),
    textField({
      name: 'path', label: 'Executable path',
      hint: 'Relative to the extensions directory. Leave empty to get a ready-made script <name>/<name>.sh that answers every standard action.',
    }),
    selectField({ name: 'state', label: 'State', options: ['Enabled', 'Disabled'], value: 'Enabled' }),
    checkboxField({ name: 'orchestratorrequirespreparevm', label: 'Run the "prepare" action before an instance\'s first start' }),
    kvField({ name: 'details', label: 'Details', itemLabel: 'detail', hint: 'Sent to the executable in every payload (externaldetails.extension).' }),
  ];
  return formDialog({
    title: 'Create extension',
    fields,
    submitLabel: 'Create',
    onSubmit: async (v) => {
      const r = await call('createExtension', {
        name: v.name, description: v.description, type: v.type, path: v.path, state: v.state,
        orchestratorrequirespreparevm: v.orchestratorrequirespreparevm ? 'true' : undefined,
        ...mapParams('details', v.details),
      });
      toast(`Extension ${r.extension.name} created.`, 'success');
      ctx.navigate(`/extensions/${r.extension.id}`);
      return r.extension;
    },
  });
}

function editExtension(ctx, ext) {
  const fields = [
    textField({ name: 'description', label: 'Description', multiline: true, value: ext.description }),
    checkboxField({ name: 'orchestratorrequirespreparevm', label: 'Run the "prepare" action before an instance\'s first start', value: !!ext.orchestratorrequirespreparevm }),
    kvField({ name: 'details', label: 'Details', itemLabel: 'detail', value: ext.details || {}, hint: 'Replaces all details.' }),
  ];
  return formDialog({
    title: `Edit ${ext.name}`,
    fields,
    onSubmit: async (v) => {
      const empty = Object.keys(v.details).length === 0;
      await call('updateExtension', {
        id: ext.id,
        description: v.description,
        orchestratorrequirespreparevm: String(v.orchestratorrequirespreparevm),
        ...(empty ? { cleanupdetails: Object.keys(ext.details || {}).length ? 'true' : undefined } : mapParams('details', v.details)),
      });
      toast(`Extension ${ext.name} updated.`, 'success');
      ctx.refresh();
    },
  });
}

async function setState(ctx, ext, state) {
  const r = await runCall(`${state === 'Enabled' ? 'Enable' : 'Disable'} ${ext.name}`, 'updateExtension', { id: ext.id, state });
  if (r) ctx.refresh();
}

async function deleteExtension(ctx, ext) {
  const cleanup = checkboxField({ name: 'cleanup', label: 'Also delete the extension\'s files on every management server' });
  await formDialog({
    title: `Delete ${ext.name}?`,
    intro: 'The extension must have no registered clusters, custom actions or templates.',
    fields: [cleanup],
    submitLabel: 'Delete',
    danger: true,
    onSubmit: async (v) => {
      await call('deleteExtension', { id: ext.id, cleanup: String(v.cleanup) });
      toast(`Extension ${ext.name} deleted.`, 'success');
      ctx.navigate('/extensions');
    },
  });
}

async function registerCluster(ctx, ext) {
  const clusters = await listAll('listClusters', { hypervisor: 'External' }, 'cluster').catch(() => []);
  const free = clusters.filter((c) => !c.extensionid);
  const cluster = selectField({
    name: 'resourceid', label: 'Cluster', required: true, placeholder: free.length ? 'Choose a cluster' : 'No unregistered External clusters',
    options: free.map((c) => ({ value: c.id, label: `${c.name} (${c.zonename || 'zone'})` })),
    hint: 'Only External clusters without an extension are listed.',
  });
  await formDialog({
    title: `Register ${ext.name} with a cluster`,
    fields: [cluster, kvField({ name: 'details', label: 'Resource details', itemLabel: 'detail', hint: 'Sent as externaldetails.resourcemap.' })],
    submitLabel: 'Register',
    onSubmit: async (v) => {
      await call('registerExtension', { extensionid: ext.id, resourcetype: 'Cluster', resourceid: v.resourceid, ...mapParams('details', v.details) });
      toast('Cluster registered.', 'success');
      ctx.refresh();
    },
  });
}

async function unregister(ctx, ext, res) {
  const ok = await confirmDialog({
    title: 'Unregister cluster?',
    message: `Cluster ${res.name} will no longer be orchestrated by ${ext.name}. Its hosts stop working until another extension is registered.`,
    confirmLabel: 'Unregister',
    danger: true,
  });
  if (!ok) return;
  const r = await runCall(`Unregister ${res.name}`, 'unregisterExtension', { extensionid: ext.id, resourcetype: res.type || 'Cluster', resourceid: res.id });
  if (r) ctx.refresh();
}

export async function renderExtension(ctx) {
  const [id] = ctx.params;
  const { items } = await list('listExtensions', { id, details: 'all' }, 'extension');
  if (!ctx.alive()) return;
  const ext = items[0];
  if (!ext) {
    replace(ctx.view, pageHeader('Extension not found', { crumbs: [['Extensions', '#/extensions']] }),
      h('p', {}, 'It may have been deleted.'));
    return;
  }
  const actions = [];
  if (can('updateExtension')) {
    actions.push(button('Edit', () => editExtension(ctx, ext), { data: { action: 'edit-extension' } }));
    actions.push(ext.state === 'Enabled'
      ? button('Disable', () => setState(ctx, ext, 'Disabled'), { data: { action: 'disable-extension' } })
      : button('Enable', () => setState(ctx, ext, 'Enabled'), { data: { action: 'enable-extension' } }));
  }
  if (can('registerExtension')) actions.push(button('Register cluster', () => registerCluster(ctx, ext), { data: { action: 'register-cluster' } }));
  if (can('deleteExtension') && ext.isuserdefined) {
    actions.push(button('Delete', () => deleteExtension(ctx, ext), { kind: 'danger', data: { action: 'delete-extension' } }));
  }
  const warn = !ext.pathready ? notice('warn', h('strong', {}, 'Path not ready. '),
    'The executable ', code(ext.path), ' is missing, not executable, or differs between management servers. ',
    'Instance operations and custom actions of this extension fail until it is fixed.') : null;

  const tabList = [
    {
      id: 'details', label: 'Details', render: (panel) => replace(panel,
        fieldList([
          ['Name', ext.name],
          ['ID', code(ext.id)],
          ['Description', ext.description],
          ['Type', ext.type],
          ['State', badge(ext.state)],
          ['Path', code(ext.path)],
          ['Path ready', pathReady(ext.pathready)],
          ['User-defined', yesNo(ext.isuserdefined)],
          ['Prepare before first start', yesNo(!!ext.orchestratorrequirespreparevm)],
          ['Created', time(ext.created)],
        ]),
        h('h2', {}, 'Details'),
        kvTable(ext.details, 'No details. Details are passed to the executable in every payload.')),
    },
    {
      id: 'resources', label: `Resources (${(ext.resources || []).length})`, render: (panel) => replace(panel,
        table({
          caption: 'Registered resources',
          rows: ext.resources || [],
          empty: 'Not registered with any cluster. Register a cluster to deploy instances through this extension.',
          columns: [
            { label: 'Name', key: 'name', trunc: true, class: 'w-mid' },
            { label: 'Type', key: 'type', fit: true },
            { label: 'ID', trunc: true, class: 'w-wide', render: (r) => code(r.id) },
            {
              label: 'Details', class: 'w-mid', trunc: (r) => Object.entries(r.details || {}).map(([k, v]) => `${k} = ${v}`).join('\n'),
              render: (r) => h('span', {}, Object.entries(r.details || {}).map(([k, v], i) => [i ? '; ' : '', code(k), ' = ', v])),
            },
            created,
            {
              label: 'Actions', render: (r) => (can('unregisterExtension')
                ? button('Unregister', () => unregister(ctx, ext, r), { small: true, data: { action: 'unregister' } }) : ''),
            },
          ],
        })),
    },
    { id: 'actions', label: 'Custom actions', render: (panel) => actionsTab(panel, ext) },
    { id: 'events', label: 'Events', render: (panel) => eventsTab(panel, ext) },
  ];
  replace(ctx.view,
    pageHeader(ext.name, {
      crumbs: [['Extensions', '#/extensions']],
      subtitle: ext.description || `${ext.type} extension`,
      actions,
    }),
    warn,
    tabs(tabList, ctx.query.get('tab')));
}

async function eventsTab(panel, ext) {
  replace(panel, loading());
  try {
    const [own, acts] = await Promise.all([
      list('listEvents', { resourceid: ext.id, page: 1, pagesize: 50 }, 'event'),
      listAll('listCustomActions', { extensionid: ext.id, listall: 'true' }, 'extensioncustomaction').catch(() => []),
    ]);
    let rows = own.items;
    if (acts.length) {
      const ids = new Set(acts.map((a) => a.id));
      const ev = await list('listEvents', { resourcetype: 'ExtensionCustomAction', page: 1, pagesize: 100 }, 'event');
      rows = rows.concat(ev.items.filter((e) => ids.has(e.resourceid)));
      rows.sort((a, b) => String(b.created).localeCompare(String(a.created)));
    }
    replace(panel, table({
      caption: 'Events',
      rows,
      empty: 'No events for this extension.',
      columns: [
        { label: 'Type', render: (e) => code(e.type) },
        { label: 'Level', render: (e) => levelBadge(e.level) },
        { label: 'Description', key: 'description', wrap: true },
        { label: 'By', key: 'username' },
        created,
      ],
    }));
  } catch (e) {
    replace(panel, errorBox(e, () => eventsTab(panel, ext)));
  }
}
