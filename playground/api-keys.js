// The console's API keys area (issue 25, `#/api-keys`): the workspace's
// keys a page at a time with their use (requests in the last 7 days by
// status class, in all, last used), create one with scopes, environment
// and expiry (the secret shown once in a dialog), edit, enable/disable,
// roll (the new secret shown once; the old one keeps working for the
// server's grace period) and delete (confirmed). Owners only: the API
// refuses collaborators, who see a note instead. Served at
// /playground/api-keys.js; load it after /playground/app.js. It keeps to
// its own <section> of dashboard.html (data-area="api-keys").
(function () {
  'use strict';

  var PAGE = 20;
  var KEY_FIELDS = 'id name description environment prefix scopes enabled status createdAt updatedAt expiresAt ' +
    'previousSecretExpiresAt lastUsedAt usageCount createdBy { email } usage(days: 7) { day total byStatusClass { statusClass count } }';
  var KEYS_QUERY = 'query($first: Int, $after: String, $last: Int, $before: String, $filter: ApiKeyFilterInput) { ' +
    'apiKeys(first: $first, after: $after, last: $last, before: $before, filter: $filter) { totalCount ' +
    'pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { ' + KEY_FIELDS + ' } } }';
  var SCOPES = [['READ', 'READ', 'queries and subscriptions'], ['WRITE', 'WRITE', 'mutations'],
    ['ADMIN', 'ADMIN', 'members and keys (with the owner role)']];
  var STATUS_TEXT = { ACTIVE: 'active', DISABLED: 'disabled', EXPIRED: 'expired' };

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, showBox = SY.showBox, button = SY.button, plural = SY.plural, errText = SY.errText;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('ak-panel');
  var body = $('ak-body');
  var ownersOnly = $('ak-owners-only');
  var errorBox = $('ak-error');
  var count = $('ak-count');
  var summary = $('ak-summary');
  var rows = $('ak-rows');
  var searchInput = $('ak-search');
  var envFilter = $('ak-env');
  var newerBtn = $('ak-newer');
  var olderBtn = $('ak-older');
  var pageText = $('ak-page');
  var formHolder = $('ak-form');
  var announce = SY.announcer($('ak-live'));

  // Where the shown page starts: { after } / { before } / {} (the newest).
  var cursor = {};
  var pageInfo = null;
  var rowParts = {};
  // The key whose edit form is open: editor.open (its id).
  var editor = SY.rowEditor({
    id: function (parts) { return parts.key.id; },
    heading: function (parts) { return 'Edit ' + parts.key.name; },
    form: function (box, parts, done) { return keyForm(box, parts.key, done); },
    saved: function (payload, parts) { announce('Saved ' + parts.key.name + '.'); load(); }
  });

  function statusPill(k) {
    var p = el('span', 'sy-pill sy-key-status', STATUS_TEXT[k.status] || k.status.toLowerCase());
    p.dataset.status = k.status;
    return p;
  }

  function envChip(env) {
    var c = el('span', 'sy-kind-chip', env === 'LIVE' ? 'live' : 'test');
    c.dataset.kind = env === 'LIVE' ? 'live' : 'test';
    return c;
  }

  function timeCell(iso, none) {
    var td = el('td');
    if (!iso) { td.className = 'sy-muted'; td.textContent = none; return td; }
    td.appendChild(SY.timeEl(iso));
    return td;
  }

  // "12" and under it "2xx 10 · 4xx 2".
  function usageCell(usage) {
    var td = el('td', 'sy-num');
    var total = 0;
    var byClass = {};
    (usage || []).forEach(function (d) {
      total += d.total;
      d.byStatusClass.forEach(function (c) { byClass[c.statusClass] = (byClass[c.statusClass] || 0) + c.count; });
    });
    td.appendChild(el('span', null, total));
    var classes = Object.keys(byClass).sort();
    if (classes.length) {
      td.appendChild(el('span', 'sy-usage-split sy-muted', classes.map(function (c) {
        return c.toLowerCase() + ' ' + byClass[c];
      }).join(' · ')));
    }
    return td;
  }

  // ---- the list ----
  function filter() {
    var f = {};
    if (searchInput.value.trim()) f.search = searchInput.value.trim();
    if (envFilter.value) f.environment = envFilter.value;
    return f;
  }

  var load = SY.oneAtATime(function () {
    var vars = { filter: filter() };
    if (cursor.before) { vars.last = PAGE; vars.before = cursor.before; } else { vars.first = PAGE; vars.after = cursor.after || null; }
    return SY.gql(KEYS_QUERY, vars).then(function (data) {
      showBox(errorBox, '');
      render(data.apiKeys);
    }, function (e) {
      if (e.code === 'FORBIDDEN') { ownersOnlyView(); return; }
      showBox(errorBox, 'Could not load the keys: ' + errText(e));
    });
  });

  function ownersOnlyView() {
    body.hidden = true;
    ownersOnly.hidden = false;
  }

  function render(conn) {
    pageInfo = conn.pageInfo;
    var keys = conn.nodes;
    // Paging back past the newest page lands on the newest page.
    if (!keys.length && (cursor.after || cursor.before)) { cursor = {}; load(); return; }
    var filtered = !!(filter().search || filter().environment);
    count.textContent = plural(conn.totalCount, 'key', 'keys');
    summary.textContent = conn.totalCount === 0
      ? (filtered ? 'No key matches.' : 'No keys yet. Create one below.')
      : plural(conn.totalCount, 'key', 'keys') + (filtered ? ' match' : '') +
        '. Request counts are updated every few seconds.';
    // Newer: keys before this page; older: keys after it (both sides of a cursor page).
    newerBtn.parentNode.hidden = !(pageInfo.hasNextPage || pageInfo.hasPreviousPage);
    newerBtn.disabled = !pageInfo.hasPreviousPage;
    olderBtn.disabled = !pageInfo.hasNextPage;
    pageText.textContent = keys.length ? keys.length + ' of ' + conn.totalCount + ' shown' : '';
    if (!keys.length) {
      rowParts = {};
      SY.placeholderRow(rows, filtered ? 'No key matches.' : 'No keys yet.', 8);
      return;
    }
    if (rows.querySelector('.sy-placeholder')) rows.textContent = '';
    SY.placeRows(rows, rowParts, keys, function (k) { return k.id; }, makeRow, updateRow,
      function (id) { if (editor.open === id) editor.open = null; });
  }

  function makeRow(k) {
    var tr = el('tr');
    tr.dataset.keyId = k.id;
    var d = SY.detailRow('ak-edit-' + k.id, 8);
    return { row: tr, detail: d.detail, cell: d.cell };
  }

  function updateRow(parts, k) {
    parts.key = k;
    var tr = parts.row;
    // A row whose confirm step is open keeps it; an unchanged row is left alone.
    if (parts.holder && parts.holder.dataset.confirming) return;
    var sig = JSON.stringify(k) + (editor.open === k.id);
    if (parts.sig === sig) return;
    parts.sig = sig;
    var focused = tr.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    tr.textContent = '';
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    th.appendChild(el('span', 'sy-oauth-app-name', k.name));
    th.appendChild(document.createTextNode(' '));
    th.appendChild(envChip(k.environment));
    var prefix = el('span', 'sy-oauth-desc');
    prefix.appendChild(el('code', null, k.prefix + '…'));
    if (k.createdBy) prefix.appendChild(document.createTextNode(' · acts as ' + k.createdBy.email));
    th.appendChild(prefix);
    if (k.description) th.appendChild(el('span', 'sy-oauth-desc sy-muted', k.description));
    tr.appendChild(th);
    tr.appendChild(el('td', 'sy-oauth-scopes', k.scopes.join(', ')));
    var st = el('td');
    st.appendChild(statusPill(k));
    if (k.previousSecretExpiresAt && Date.parse(k.previousSecretExpiresAt) > Date.now()) {
      var grace = el('span', 'sy-oauth-desc sy-muted', 'old secret until ');
      grace.appendChild(SY.timeEl(k.previousSecretExpiresAt));
      st.appendChild(grace);
    }
    tr.appendChild(st);
    tr.appendChild(timeCell(k.expiresAt, 'Never'));
    tr.appendChild(timeCell(k.lastUsedAt, 'Never'));
    tr.appendChild(usageCell(k.usage));
    tr.appendChild(el('td', 'sy-num', k.usageCount));

    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    parts.holder = holder;
    var edit = button('Edit', 'sy-button-secondary', 'Edit ' + k.name);
    edit.setAttribute('aria-expanded', String(editor.open === k.id));
    edit.setAttribute('aria-controls', 'ak-edit-' + k.id);
    var toggle = button(k.enabled ? 'Disable' : 'Enable', 'sy-button-secondary', (k.enabled ? 'Disable ' : 'Enable ') + k.name);
    var roll = button('Roll secret', 'sy-button-secondary', 'Roll secret of ' + k.name);
    var del = button('Delete', 'sy-button-danger', 'Delete ' + k.name);
    [edit, toggle, roll, del].forEach(function (b) { holder.appendChild(b); });
    td.appendChild(holder);
    tr.appendChild(td);
    edit.addEventListener('click', function () { editor.toggle(parts, edit); });
    toggle.addEventListener('click', function () { setEnabled(parts.key, !parts.key.enabled, toggle); });
    roll.addEventListener('click', function () { confirmRoll(parts.key, holder, roll); });
    del.addEventListener('click', function () { confirmDelete(parts.key, holder, del); });
    if (focused) {
      var again = holder.querySelector('[aria-label="' + focused + '"]') ||
        holder.querySelector('[aria-label$="' + k.name + '"]');
      if (again) again.focus();
    }
    if (editor.open === k.id && parts.detail.hidden) editor.show(parts, false);
  }

  // ---- create and edit: one form ----
  // Builds the key form in `holder`: empty to create, or filled from `k` to edit.
  function keyForm(holder, k, onDone) {
    var pre = k ? 'ak-e-' + k.id.slice(-8) + '-' : 'ak-n-';
    var form = el('form', 'sy-oauth-form');
    form.noValidate = true;
    var name = SY.formField(pre + 'name', 'Name', { maxLength: 100, value: k ? k.name : '' });
    var desc = SY.formField(pre + 'description', 'Description', { kind: 'textarea', rows: 2, maxLength: 500,
      optional: '(optional)', value: k ? k.description : '' });
    var env = k ? null : SY.choiceField(pre + 'env', 'Environment', pre + 'environment',
      [['TEST', 'Test', 'sk_test_…, for development'], ['LIVE', 'Live', 'sk_live_…, for production']],
      { type: 'radio', checked: ['TEST'] });
    var scopes = SY.choiceField(pre + 'scopes', 'Scopes', pre + 'scope', SCOPES,
      { checked: k ? k.scopes : ['READ'], optional: '(at least one)' });
    var expires = SY.formField(pre + 'expires', 'Expires', { kind: 'datetime-local',
      optional: '(optional: empty, it does not expire)', value: k ? SY.isoToLocal(k.expiresAt) : '',
      hint: 'Your local time. The key answers 401 from then on.' });
    var fields = { name: { input: name.input, error: name.error }, description: { input: desc.input, error: desc.error },
      scopes: { inputs: scopes.inputs, error: scopes.error }, expiresAt: { input: expires.input, error: expires.error } };
    [name, desc].forEach(function (f) { form.appendChild(f.wrap); });
    if (env) {
      form.appendChild(env.wrap);
      fields.environment = { inputs: env.inputs, error: env.error };
    }
    form.appendChild(scopes.wrap);
    form.appendChild(expires.wrap);
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var bar = SY.submitRow('Create key', k ? k.name : null, function () { onDone(null, true); });
    var submit = bar.submit;
    var result = bar.result;
    form.appendChild(bar.row);
    SY.clearOnInput(fields);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields, formError);
      var input = {
        name: name.input.value.trim(),
        description: desc.input.value.trim(),
        scopes: SY.checkedValues(scopes.inputs),
        expiresAt: SY.localToIso(expires.input.value)
      };
      if (expires.input.value && !input.expiresAt) {
        SY.showFieldErrors(fields, [{ field: ['input', 'expiresAt'], message: 'Not a date and time.' }], formError);
        return;
      }
      var name_ = input.name;
      var op;
      if (k) {
        input.id = k.id;
        op = SY.mutate('updateApiKey', 'UpdateApiKeyInput', input, 'apiKey { id }');
      } else {
        input.environment = SY.checkedValues(env.inputs)[0] || 'TEST';
        if (!input.description) delete input.description;
        input.idempotencyKey = 'console-' + Date.now() + '-' + Math.random().toString(36).slice(2);
        op = SY.mutate('createApiKey', 'CreateApiKeyInput', input, 'secret apiKey { id name prefix }');
      }
      submit.disabled = true;
      result.className = '';
      result.textContent = k ? 'Saving…' : 'Creating…';
      op.then(function (payload) {
        result.textContent = '';
        onDone(payload, false, name_);
      }, function (e) {
        SY.formRejected(e, result, fields, formError, k ? 'Not saved' : 'Not created', true);
      }).then(function () { submit.disabled = false; });
    });
    holder.appendChild(form);
    return { form: form, first: name.input };
  }

  function buildCreateForm() {
    formHolder.textContent = '';
    var f = keyForm(formHolder, null, function (payload, cancelled, keyName) {
      if (cancelled) return;
      buildCreateForm();
      announce('Created the key ' + keyName + '. Its secret is shown once in a dialog.');
      SY.onceDialog({
        title: 'Secret of the key ' + payload.apiKey.name,
        note: 'Copy it now and keep it where your program reads its configuration: it cannot be shown again. ' +
          'If it is lost, roll the key to get a new one.',
        value: payload.secret, label: 'API key secret', what: 'secret', focusBack: summary
      });
      cursor = {};
      load();
    });
    return f;
  }

  // ---- enable/disable, roll, delete ----
  function setEnabled(k, on, btn) {
    btn.disabled = true;
    SY.mutate('updateApiKey', 'UpdateApiKeyInput', { id: k.id, enabled: on }, 'apiKey { id enabled status }').then(function () {
      showBox(errorBox, '');
      announce((on ? 'Enabled ' : 'Disabled ') + k.name + '.');
      return load();
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not ' + (on ? 'enable ' : 'disable ') + k.name + ': ' + errText(e));
    });
  }

  function confirmRoll(k, holder, rollBtn) {
    SY.confirmStep(holder, 'A new secret; the current one keeps working for the grace period (24 h by default).',
      'Roll now', 'Cancel', 'the secret of ' + k.name, rollBtn, function (restore) {
        SY.mutate('rollApiKey', 'RollApiKeyInput', { id: k.id }, 'secret apiKey { id name }').then(function (p) {
          restore(false);
          showBox(errorBox, '');
          announce('New secret for ' + k.name + ' shown once in a dialog.');
          SY.onceDialog({
            title: 'New secret of the key ' + p.apiKey.name,
            note: 'Put it where the old one was: the old secret stops working when the grace period ends.',
            value: p.secret, label: 'New API key secret', what: 'secret', focusBack: summary
          });
          load();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not roll the secret of ' + k.name + ': ' + errText(e));
        });
      }, 'Rolling…');
  }

  function confirmDelete(k, holder, delBtn) {
    SY.confirmStep(holder, 'Requests with it get 401 at once.', 'Delete key', 'Cancel', 'the key ' + k.name, delBtn,
      function (restore) {
        SY.mutate('deleteApiKey', 'DeleteApiKeyInput', { id: k.id }, 'deletedId').then(function () {
          showBox(errorBox, '');
          announce('Deleted the key ' + k.name + '.');
          summary.focus();
          load();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + k.name + ': ' + errText(e));
        });
      }, 'Deleting…');
  }

  // ---- paging and filters ----
  newerBtn.addEventListener('click', function () {
    cursor = pageInfo && pageInfo.startCursor ? { before: pageInfo.startCursor } : {};
    load().then(function () { summary.focus(); });
  });
  olderBtn.addEventListener('click', function () {
    cursor = pageInfo && pageInfo.endCursor ? { after: pageInfo.endCursor } : {};
    load().then(function () { summary.focus(); });
  });
  var searchTimer = null;
  searchInput.addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { cursor = {}; load(); }, 300);
  });
  envFilter.addEventListener('change', function () { cursor = {}; load(); });

  // ================= start =================
  SY.whenShown('api-keys', function () {
    SY.viewer().then(function (v) {
      if (!v) return;
      panel.hidden = false;
      if (v.role !== 'OWNER') { ownersOnlyView(); return; }
      body.hidden = false;
      buildCreateForm();
      load();
      // Usage counters move on their own: read the page again every 30 s while shown.
      setInterval(function () {
        if (document.visibilityState === 'visible' && panel.getClientRects().length && !editor.open) load();
      }, 30000);
    });
  });
})();
