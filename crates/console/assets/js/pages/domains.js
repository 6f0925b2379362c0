// Domains: the tree (every domain the caller may see, in path order and indented by level),
// adding a child domain, renaming or changing the network domain, deleting with a cleanup choice.

import { h, replace } from '../dom.js';
import { call, can, listAll } from '../api.js';
import {
  pageHeader, button, code, table, formDialog, textField, selectField, checkboxField, trackJob,
  toast, created, loading, errorBox,
} from '../ui.js';

/** Every domain the caller may see, ordered as a tree (by path). */
export async function domainTree() {
  const domains = await listAll('listDomains', { listall: 'true' }, 'domain');
  return domains.sort((a, b) => pathKey(a).localeCompare(pathKey(b)));
}

// Sort children right after their parent: compare the path segments, not the raw text
// ("ROOT/a-b" would otherwise come between "ROOT/a" and "ROOT/a/c").
function pathKey(d) {
  return String(d.path || '').split('/').join('\u0000');
}

/** Options for a domain picker: the path of every domain. */
export function domainOptions(domains) {
  return domains.map((d) => ({ value: d.id, label: d.path }));
}

function addDomain(reload, domains, parent) {
  return formDialog({
    title: parent ? `Add a domain under ${parent.path}` : 'Add domain',
    fields: [
      selectField({ name: 'parentdomainid', label: 'Parent domain', required: true, options: domainOptions(domains),
        value: parent ? parent.id : domains[0] && domains[0].id }),
      textField({ name: 'name', label: 'Name', required: true, hint: 'Unique among the parent\'s domains; it becomes part of the path.' }),
      textField({ name: 'networkdomain', label: 'Network domain', placeholder: 'example.internal', hint: 'DNS suffix for the networks of this domain. Optional.' }),
    ],
    submitLabel: 'Add',
    onSubmit: async (v) => {
      const r = await call('createDomain', v);
      toast(`Domain ${r.domain ? r.domain.path : v.name} added.`, 'success');
      reload();
    },
  });
}

function editDomain(reload, d) {
  return formDialog({
    title: `Edit ${d.path}`,
    fields: [
      textField({ name: 'name', label: 'Name', required: true, value: d.name, hint: 'Renaming changes the path of this domain and of every domain below it.' }),
      textField({ name: 'networkdomain', label: 'Network domain', value: d.networkdomain, hint: 'Leave empty to remove it.' }),
    ],
    onSubmit: async (v) => {
      await call('updateDomain', { id: d.id, name: v.name, networkdomain: v.networkdomain }, { keepEmpty: true });
      toast(`Domain ${v.name} saved.`, 'success');
      reload();
    },
  });
}

function deleteDomain(reload, d) {
  return formDialog({
    title: `Delete domain ${d.path}?`,
    intro: 'Without cleanup, a domain that still has accounts or child domains is not deleted.',
    fields: [checkboxField({ name: 'cleanup', label: 'Also delete its child domains and accounts, with their instances' })],
    submitLabel: 'Delete',
    danger: true,
    onSubmit: async (v) => {
      const r = await call('deleteDomain', { id: d.id, cleanup: String(v.cleanup) });
      trackJob(`Delete ${d.path}`, r.jobid, { onDone: () => reload() });
    },
  });
}

export async function renderDomains(ctx) {
  const body = h('div', { class: 'list-body' }, loading());
  let domains = [];
  async function reload() {
    try {
      domains = await domainTree();
    } catch (e) {
      if (ctx.alive()) replace(body, errorBox(e, reload));
      return;
    }
    if (!ctx.alive()) return;
    const top = Math.min(...domains.map((d) => Number(d.level) || 0));
    replace(body, table({
      caption: 'Domains',
      rows: domains,
      empty: 'No domains.',
      rowAttrs: (d) => ({ dataset: { domain: d.path } }),
      columns: [
        {
          label: 'Name', trunc: (d) => d.path, class: 'w-wide',
          render: (d) => h('span', { class: 'tree-name', dataset: { level: String((Number(d.level) || 0) - top) } },
            h('strong', {}, d.name)),
        },
        { label: 'Path', trunc: true, class: 'w-wide', render: (d) => code(d.path) },
        { label: 'Network domain', key: 'networkdomain', trunc: true },
        { label: 'ID', trunc: true, class: 'w-mid', render: (d) => code(d.id) },
        created,
        {
          label: 'Actions', render: (d) => h('div', { class: 'row-actions' },
            can('createDomain') ? button('Add child', () => addDomain(reload, domains, d), { small: true, data: { action: 'add-child' } }) : null,
            can('updateDomain') && d.parentdomainid ? button('Edit', () => editDomain(reload, d), { small: true, data: { action: 'edit-domain' } }) : null,
            can('deleteDomain') && d.parentdomainid ? button('Delete', () => deleteDomain(reload, d), { small: true, kind: 'danger', data: { action: 'delete-domain' } }) : null),
        },
      ],
    }));
  }
  replace(ctx.view,
    pageHeader('Domains', {
      subtitle: 'Domains group accounts in a tree; a domain administrator manages everything below its domain.',
      actions: [can('createDomain') ? button('Add domain', () => addDomain(reload, domains), { kind: 'primary', data: { action: 'add-domain' } }) : null],
    }),
    body);
  await reload();
}
