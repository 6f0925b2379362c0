// Templates and service offerings, with the external details they pass to extensions.

import { h, replace, mib } from '../dom.js';
import { call, can, listAll, mapParams, isAdmin } from '../api.js';
import {
  pageHeader, button, badge, code, listView, formDialog, textField, numberField, selectField,
  kvField, confirmDialog, runCall, runJob, toast, created, yesNo,
} from '../ui.js';

/** External details: keys with the `External:` prefix, shown without it. */
function externalOf(details) {
  const out = {};
  for (const [k, v] of Object.entries(details || {})) {
    if (k.startsWith('External:')) out[k.slice('External:'.length)] = v;
  }
  return out;
}

/** Details on one line ("key = value; key = value"), for a `trunc` column. */
function detailList(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, entries.map(([k, v], i) => [i ? '; ' : '', code(k), ' = ', String(v)]));
}

/** The tooltip of a details cell: one detail per line. */
function detailTip(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${k} = ${v}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Templates

async function registerTemplate(lv) {
  const [zones, exts] = await Promise.all([
    listAll('listZones', {}, 'zone'),
    can('listExtensions') ? listAll('listExtensions', { details: 'min' }, 'extension') : [],
  ]);
  await formDialog({
    title: 'Register template',
    intro: 'External templates are not downloaded: they tell the extension what to create.',
    fields: [
      textField({ name: 'name', label: 'Name', required: true }),
      textField({ name: 'displaytext', label: 'Description' }),
      selectField({ name: 'zoneid', label: 'Zone', placeholder: 'All zones', options: zones.map((z) => ({ value: z.id, label: z.name })) }),
      selectField({ name: 'extensionid', label: 'Extension', placeholder: exts.length ? 'Choose an extension' : 'None', required: exts.length > 0,
        options: exts.map((e) => ({ value: e.id, label: e.name })), hint: 'Instances from this template are deployed by this extension.' }),
      selectField({ name: 'arch', label: 'Architecture', options: ['x86_64', 'aarch64'], value: 'x86_64' }),
      kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Sent to the extension with each instance (for example an image name).' }),
    ],
    submitLabel: 'Register',
    onSubmit: async (v) => {
      await call('registerTemplate', {
        name: v.name, displaytext: v.displaytext || v.name, zoneid: v.zoneid, extensionid: v.extensionid,
        hypervisor: 'External', format: 'EXTERNAL', url: 'external', arch: v.arch, ispublic: 'true',
        ...mapParams('externaldetails', v.externaldetails),
      });
      toast(`Template ${v.name} registered.`, 'success');
      lv.reload();
    },
  });
}

export async function renderTemplates(ctx) {
  const lv = listView({
    command: 'listTemplates', key: 'template', caption: 'Templates',
    params: { templatefilter: isAdmin() ? 'all' : 'executable' },
    empty: 'No templates yet.',
    rowAttrs: (t) => ({ dataset: { template: t.name } }),
    columns: [
      { label: 'Name', trunc: (t) => (t.displaytext && t.displaytext !== t.name ? `${t.name} — ${t.displaytext}` : t.name), class: 'w-wide', render: (t) => h('strong', {}, t.name) },
      { label: 'Status', fit: true, render: (t) => badge(t.isready ? 'Ready' : (t.status || 'Not ready')) },
      { label: 'Zone', trunc: true, render: (t) => t.zonename || 'All zones' },
      { label: 'Extension', trunc: true, render: (t) => (t.extensionid && can('listExtensions') ? h('a', { href: `#/extensions/${t.extensionid}` }, t.extensionname) : (t.extensionname || '')) },
      { label: 'External details', trunc: (t) => detailTip(externalOf(t.details)), class: 'w-wide', render: (t) => detailList(externalOf(t.details)) },
      { label: 'Public', fit: true, render: (t) => yesNo(t.ispublic) },
      created,
      {
        label: 'Actions', render: (t) => (can('deleteTemplate') ? button('Delete', async () => {
          if (await confirmDialog({ title: `Delete template ${t.name}?`, message: 'Instances already deployed keep running.', confirmLabel: 'Delete', danger: true })) {
            runJob(`Delete ${t.name}`, 'deleteTemplate', { id: t.id }, { onDone: () => lv.reload() });
          }
        }, { small: true, kind: 'danger', data: { action: 'delete' } }) : ''),
      },
    ],
  });
  replace(ctx.view,
    pageHeader('Templates', {
      actions: [can('registerTemplate') && can('listExtensions') ? button('Register template', () => registerTemplate(lv), { kind: 'primary', data: { action: 'register-template' } }) : null],
    }),
    lv.el);
}

// ---------------------------------------------------------------------------------------------
// Service offerings

function offeringForm(lv, o) {
  const editing = !!o;
  const fields = editing ? [
    textField({ name: 'name', label: 'Name', required: true, value: o.name }),
    textField({ name: 'displaytext', label: 'Description', value: o.displaytext }),
    kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', value: externalOf(o.serviceofferingdetails), hint: 'Replaces all external details.' }),
  ] : [
    textField({ name: 'name', label: 'Name', required: true }),
    textField({ name: 'displaytext', label: 'Description' }),
    numberField({ name: 'cpunumber', label: 'CPUs', required: true, value: '1', min: 1 }),
    numberField({ name: 'memory', label: 'Memory (MiB)', required: true, value: '1024', min: 1 }),
    numberField({ name: 'cpuspeed', label: 'CPU speed (MHz)', value: '1000' }),
    textField({ name: 'hosttags', label: 'Host tag' }),
    kvField({ name: 'externaldetails', label: 'External details', itemLabel: 'detail', hint: 'Sent to the extension with each instance of this size.' }),
  ];
  return formDialog({
    title: editing ? `Edit ${o.name}` : 'Add service offering',
    fields,
    submitLabel: editing ? 'Save' : 'Add',
    onSubmit: async (v) => {
      if (editing) {
        const empty = !Object.keys(v.externaldetails).length;
        await call('updateServiceOffering', {
          id: o.id, name: v.name, displaytext: v.displaytext,
          ...(empty ? { cleanupexternaldetails: 'true' } : mapParams('externaldetails', v.externaldetails)),
        });
      } else {
        await call('createServiceOffering', {
          name: v.name, displaytext: v.displaytext || v.name, cpunumber: v.cpunumber, memory: v.memory,
          cpuspeed: v.cpuspeed, hosttags: v.hosttags, ...mapParams('externaldetails', v.externaldetails),
        });
      }
      toast(`Service offering ${v.name} saved.`, 'success');
      lv.reload();
    },
  });
}

export async function renderOfferings(ctx) {
  const lv = listView({
    command: 'listServiceOfferings', key: 'serviceoffering', caption: 'Service offerings',
    empty: 'No service offerings yet.',
    columns: [
      { label: 'Name', trunc: true, class: 'w-mid', render: (o) => h('strong', {}, o.name) },
      { label: 'Description', key: 'displaytext', trunc: true, class: 'w-mid' },
      { label: 'CPUs', key: 'cpunumber', fit: true },
      { label: 'Memory', fit: true, render: (o) => mib(o.memory) },
      { label: 'Host tag', key: 'hosttags', trunc: true },
      { label: 'External details', trunc: (o) => detailTip(externalOf(o.serviceofferingdetails)), class: 'w-wide', render: (o) => detailList(externalOf(o.serviceofferingdetails)) },
      created,
      {
        label: 'Actions', render: (o) => h('div', { class: 'row-actions' },
          can('updateServiceOffering') ? button('Edit', () => offeringForm(lv, o), { small: true }) : null,
          can('deleteServiceOffering') ? button('Delete', async () => {
            if (await confirmDialog({ title: `Delete ${o.name}?`, message: 'Existing instances keep their size.', confirmLabel: 'Delete', danger: true })
              && await runCall(`Delete ${o.name}`, 'deleteServiceOffering', { id: o.id })) lv.reload();
          }, { small: true, kind: 'danger' }) : null),
      },
    ],
  });
  replace(ctx.view,
    pageHeader('Service offerings', {
      actions: [can('createServiceOffering') ? button('Add offering', () => offeringForm(lv, null), { kind: 'primary', data: { action: 'add-offering' } }) : null],
    }),
    lv.el);
}
