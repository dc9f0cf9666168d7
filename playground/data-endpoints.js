// The console's Data endpoints area (issue 25, `#/data-endpoints`): the
// workspace's endpoints with this month's use against the quota; an
// endpoint's records, their status updated live over the recordStatus
// subscription, with a link to post one in the sandbox. Owners also create
// and edit endpoints (slug, name, JSON Schema, monthly quota, expiry; the
// callback signing secret shown once), enable/disable, rotate the callback
// secret, delete (confirmed), add and remove an endpoint's collaborator
// webhooks, and manage the data keys (`tm_…`, for every endpoint: create —
// the secret shown once — disable/enable, roll, revoke, and a test key in
// one click). Collaborators see the endpoints and records only: the API
// refuses them the rest. Served at /playground/data-endpoints.js; load it
// after /playground/app.js and /playground/vendor/graphql-ws.min.js. It
// keeps to its own <section> of dashboard.html (data-area="data-endpoints").
(function () {
  'use strict';

  var EP_FIELDS = 'id slug name schema enabled monthlyQuota subscriptionExpiresAt createdAt updatedAt usageThisMonth';
  var ENDPOINTS_QUERY = 'query { dataEndpoints(first: 100) { totalCount pageInfo { hasNextPage } nodes { ' + EP_FIELDS + ' } } }';
  var REC_FIELDS = 'id endpointId environment status operation data error createdAt updatedAt processedAt callbackStatus callbackError';
  var RECORDS_QUERY = 'query($f: RecordFilterInput) { records(first: 20, filter: $f) { totalCount nodes { ' + REC_FIELDS + ' } } }';
  var RECORDS_SUBSCRIPTION = 'subscription { recordStatus { ' + REC_FIELDS + ' } }';
  var COLLAB_QUERY = 'query { webhooks(first: 100) { nodes { id url endpointId enabled disabledReason createdAt } } }';
  var KEYS_QUERY = 'query { dataKeys(first: 100) { totalCount nodes { id name userId environment prefix enabled createdAt } } }';
  var MEMBERS_QUERY = 'query { members(first: 100) { nodes { user { id email } } } }';
  var MAX_RECORDS = 50;

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, showBox = SY.showBox, button = SY.button, plural = SY.plural, errText = SY.errText;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('de-panel');
  var errorBox = $('de-error');
  var summary = $('de-summary');
  var rows = $('de-rows');
  var recSection = $('de-records');
  var recTitle = $('de-records-title');
  var recSummary = $('de-records-summary');
  var recRows = $('de-record-rows');
  var recLive = $('de-records-live');
  var sandboxLink = $('de-sandbox-link');
  var collabBox = $('de-collab');
  var newSection = $('de-new');
  var formHolder = $('de-form');
  var keySection = $('dk-section');
  var keySummary = $('dk-summary');
  var keyRows = $('dk-rows');
  var keyTestBtn = $('dk-test');
  var keyFormHolder = $('dk-form');
  var announce = SY.announcer($('de-live'));

  var me = null;
  var isOwner = false;
  var endpoints = [];
  var byId = {};
  var rowParts = {};
  var editor = SY.rowEditor({   // editor.open: the endpoint id whose edit form is open
    id: function (parts) { return parts.ep.id; },
    heading: function (parts) { return 'Edit ' + parts.ep.name; },
    form: function (box, parts, done) { return endpointForm(box, parts.ep, done); },
    saved: function (payload) { announce('Saved ' + payload.dataEndpoint.name + '.'); load(); }
  });
  var current = null;         // endpoint id whose records are shown
  var records = [];
  var recParts = {};
  var openData = {};
  var rGen = 0;
  var emails = {};            // user id → email, for the data keys

  function envChip(env) {
    var c = el('span', 'sy-kind-chip', env === 'LIVE' ? 'live' : 'test');
    c.dataset.kind = env === 'LIVE' ? 'live' : 'test';
    return c;
  }

  function chip(text, status) {
    var c = el('span', 'sy-status-chip', text);
    c.dataset.status = status;
    return c;
  }

  function expired(ep) {
    return ep.subscriptionExpiresAt && Date.parse(ep.subscriptionExpiresAt) <= Date.now();
  }

  function timeCell(iso, none) {
    var td = el('td');
    if (!iso) { td.className = 'sy-muted'; td.textContent = none; return td; }
    td.appendChild(SY.timeEl(iso));
    return td;
  }

  // ================= endpoints =================
  var load = SY.oneAtATime(function () {
    return SY.gql(ENDPOINTS_QUERY).then(function (data) {
      showBox(errorBox, '');
      render(data.dataEndpoints);
    }, function (e) {
      showBox(errorBox, 'Could not load the endpoints: ' + errText(e));
      if (!endpoints.length) SY.placeholderRow(rows, 'The endpoints could not be loaded.', 6);
    });
  });

  function render(conn) {
    endpoints = conn.nodes;
    byId = {};
    endpoints.forEach(function (ep) { byId[ep.id] = ep; });
    summary.textContent = conn.totalCount === 0
      ? (isOwner ? 'No endpoints yet. Create one below.' : 'No endpoints yet.')
      : plural(conn.totalCount, 'endpoint', 'endpoints') +
        (conn.pageInfo.hasNextPage ? ' (the newest ' + endpoints.length + ' shown)' : '') +
        '. Request counts are this calendar month’s (UTC).';
    if (!endpoints.length) {
      rowParts = {};
      SY.placeholderRow(rows, 'No endpoints yet.', 6);
    } else {
      if (rows.querySelector('.sy-placeholder')) rows.textContent = '';
      SY.placeRows(rows, rowParts, endpoints, function (ep) { return ep.id; }, makeRow, updateRow, function (id) {
        if (editor.open === id) editor.open = null;
        if (current === id) closeRecords(false);
      });
    }
    if (current && byId[current]) recTitle.textContent = 'Records of ' + byId[current].name;
  }

  function makeRow(ep) {
    var tr = el('tr');
    tr.dataset.endpointId = ep.id;
    var d = SY.detailRow('de-edit-' + ep.id, 6);
    return { row: tr, detail: d.detail, cell: d.cell };
  }

  function updateRow(parts, ep) {
    var sig = JSON.stringify(ep) + (current === ep.id);
    parts.ep = ep;
    if (parts.sig === sig) return;
    if (parts.holder && parts.holder.dataset.confirming) return;
    parts.sig = sig;
    var tr = parts.row;
    var focused = tr.contains(document.activeElement) ? document.activeElement.textContent : null;
    tr.textContent = '';
    tr.className = current === ep.id ? 'sy-row-current' : '';
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    th.appendChild(el('span', 'sy-oauth-app-name', ep.name));
    var path = el('span', 'sy-oauth-desc');
    path.appendChild(el('code', null, '/api/v1/data/' + ep.slug));
    th.appendChild(path);
    tr.appendChild(th);
    var st = el('td');
    var state = !ep.enabled ? 'disabled' : expired(ep) ? 'expired' : 'enabled';
    var pill = el('span', 'sy-pill sy-ep-status', state);
    pill.dataset.status = state;
    st.appendChild(pill);
    tr.appendChild(st);
    var use = el('td', 'sy-num sy-ep-usage');
    use.appendChild(el('span', null, ep.usageThisMonth + ' / ' + (ep.monthlyQuota == null ? '∞' : ep.monthlyQuota)));
    if (ep.monthlyQuota) {
      var pct = Math.min(100, Math.round(100 * ep.usageThisMonth / ep.monthlyQuota));
      var meter = el('meter', 'sy-quota-meter');
      meter.min = 0;
      meter.max = ep.monthlyQuota;
      meter.value = Math.min(ep.usageThisMonth, ep.monthlyQuota);
      meter.high = ep.monthlyQuota * 0.8;
      meter.setAttribute('aria-label', pct + '% of the monthly quota used');
      use.appendChild(meter);
    }
    tr.appendChild(use);
    tr.appendChild(el('td', ep.schema ? null : 'sy-muted', ep.schema ? 'JSON Schema' + schemaSummary(ep.schema) : 'Any JSON object'));
    tr.appendChild(timeCell(ep.subscriptionExpiresAt, 'Never'));

    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    parts.holder = holder;
    var recBtn = button('Records', 'sy-button-secondary', 'Records of ' + ep.name);
    recBtn.setAttribute('aria-pressed', String(current === ep.id));
    holder.appendChild(recBtn);
    recBtn.addEventListener('click', function () { openRecords(parts.ep.id, true); });
    if (isOwner) {
      var edit = button('Edit', 'sy-button-secondary', 'Edit ' + ep.name);
      edit.setAttribute('aria-expanded', String(editor.open === ep.id));
      edit.setAttribute('aria-controls', 'de-edit-' + ep.id);
      var toggle = button(ep.enabled ? 'Disable' : 'Enable', 'sy-button-secondary', (ep.enabled ? 'Disable ' : 'Enable ') + ep.name);
      var rotate = button('Rotate callback secret', 'sy-button-secondary', 'Rotate the callback secret of ' + ep.name);
      var del = button('Delete', 'sy-button-danger', 'Delete ' + ep.name);
      [edit, toggle, rotate, del].forEach(function (b) { holder.appendChild(b); });
      edit.addEventListener('click', function () { editor.toggle(parts, edit); });
      toggle.addEventListener('click', function () { setEnabled(parts.ep, !parts.ep.enabled, toggle); });
      rotate.addEventListener('click', function () { confirmRotate(parts.ep, holder, rotate); });
      del.addEventListener('click', function () { confirmDelete(parts.ep, holder, del); });
    }
    td.appendChild(holder);
    tr.appendChild(td);
    if (focused) {
      var again = Array.prototype.find.call(holder.querySelectorAll('button'), function (b) { return b.textContent === focused; });
      if (again) again.focus();
    }
    if (editor.open === ep.id && parts.detail.hidden) editor.show(parts, false);
  }

  // " (order_id, amount required)"
  function schemaSummary(s) {
    var req = s && Array.isArray(s.required) ? s.required : [];
    return req.length ? ' (' + req.join(', ') + ' required)' : '';
  }

  function setEnabled(ep, on, btn) {
    btn.disabled = true;
    SY.mutate('updateDataEndpoint', 'UpdateDataEndpointInput', { id: ep.id, enabled: on }, 'dataEndpoint { id enabled }').then(function () {
      showBox(errorBox, '');
      announce((on ? 'Enabled ' : 'Disabled ') + ep.name + '.');
      load();
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not ' + (on ? 'enable ' : 'disable ') + ep.name + ': ' + errText(e));
    });
  }

  function confirmRotate(ep, holder, btn) {
    SY.confirmStep(holder, 'Callbacks are signed with the new secret at once.', 'Rotate now', 'Cancel',
      'the callback secret of ' + ep.name, btn, function (restore) {
        SY.mutate('rotateDataEndpointSecret', 'RotateDataEndpointSecretInput', { id: ep.id }, 'secret dataEndpoint { id name }')
          .then(function (p) {
            restore(false);
            showBox(errorBox, '');
            SY.onceDialog({
              title: 'New callback secret of ' + p.dataEndpoint.name,
              note: 'Callbacks (X-Webhook-Callback) carry Standard Webhooks signatures made with it from now on; the ' +
                'old secret no longer signs.',
              value: p.secret, label: 'Callback signing secret', what: 'secret', focusBack: btn
            });
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not rotate the secret of ' + ep.name + ': ' + errText(e));
          });
      }, 'Rotating…');
  }

  function confirmDelete(ep, holder, btn) {
    SY.confirmStep(holder, 'Its records, usage and collaborator webhooks go too; its URL answers 404.', 'Delete endpoint',
      'Cancel', 'the endpoint ' + ep.name, btn, function (restore) {
        SY.mutate('deleteDataEndpoint', 'DeleteDataEndpointInput', { id: ep.id }, 'deletedId').then(function () {
          showBox(errorBox, '');
          announce('Deleted the endpoint ' + ep.name + '.');
          if (current === ep.id) closeRecords(false);
          summary.focus();
          load();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + ep.name + ': ' + errText(e));
        });
      }, 'Deleting…');
  }

  // ---- create and edit: one form ----
  function endpointForm(holder, ep, onDone) {
    var pre = ep ? 'de-e-' + ep.id.slice(-8) + '-' : 'de-n-';
    var form = el('form', 'sy-oauth-form');
    form.noValidate = true;
    var fields = {};
    var slug = null;
    if (!ep) {
      slug = SY.formField(pre + 'slug', 'Slug', { code: true, maxLength: 64, placeholder: 'orders',
        hint: 'a-z, 0-9, - and _; records are sent to /api/v1/data/{slug}. It cannot be changed later.' });
      form.appendChild(slug.wrap);
      fields.slug = { input: slug.input, error: slug.error };
    }
    var name = SY.formField(pre + 'name', 'Name', { maxLength: 100, value: ep ? ep.name : '' });
    var schema = SY.formField(pre + 'schema', 'JSON Schema', { kind: 'textarea', code: true, rows: 6,
      optional: '(optional: empty takes any JSON object)',
      value: ep && ep.schema ? JSON.stringify(ep.schema, null, 2) : '',
      placeholder: '{"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}}' });
    var quota = SY.formField(pre + 'quota', 'Monthly quota', { kind: 'number', min: 1,
      optional: '(requests per calendar month, UTC; empty: unlimited)', value: ep && ep.monthlyQuota != null ? ep.monthlyQuota : '' });
    var expires = SY.formField(pre + 'expires', 'Subscription expires', { kind: 'datetime-local',
      optional: '(optional; your local time)', value: ep ? SY.isoToLocal(ep.subscriptionExpiresAt) : '',
      hint: 'From then on the endpoint answers 403.' });
    [name, schema].forEach(function (f) { form.appendChild(f.wrap); });
    var grid = el('div', 'sy-form-grid');
    grid.appendChild(quota.wrap);
    grid.appendChild(expires.wrap);
    form.appendChild(grid);
    fields.name = { input: name.input, error: name.error };
    fields.schema = { input: schema.input, error: schema.error };
    fields.monthlyQuota = { input: quota.input, error: quota.error };
    fields.subscriptionExpiresAt = { input: expires.input, error: expires.error };
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var bar = SY.submitRow('Create endpoint', ep ? ep.name : null, function () { onDone(null, true); });
    var submit = bar.submit;
    var result = bar.result;
    form.appendChild(bar.row);
    SY.clearOnInput(fields);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields, formError);
      var errors = [];
      var input = { name: name.input.value.trim() };
      var s = schema.input.value.trim();
      input.schema = null;
      if (s) {
        try { input.schema = JSON.parse(s); } catch (e) {
          errors.push({ field: ['input', 'schema'], message: 'Not valid JSON: ' + e.message });
        }
      }
      var q = quota.input.value.trim();
      input.monthlyQuota = q === '' ? null : Number(q);
      if (q !== '' && !/^\d+$/.test(q)) errors.push({ field: ['input', 'monthlyQuota'], message: 'A whole number.' });
      input.subscriptionExpiresAt = SY.localToIso(expires.input.value);
      if (expires.input.value && !input.subscriptionExpiresAt) {
        errors.push({ field: ['input', 'subscriptionExpiresAt'], message: 'Not a date and time.' });
      }
      if (errors.length) {
        result.className = 'sy-inline-error';
        result.textContent = 'Not sent: ' + plural(errors.length, 'problem', 'problems') + ' to fix.';
        SY.showFieldErrors(fields, errors, formError);
        return;
      }
      var op;
      if (ep) {
        input.id = ep.id;
        op = SY.mutate('updateDataEndpoint', 'UpdateDataEndpointInput', input, 'dataEndpoint { id name }');
      } else {
        input.slug = slug.input.value.trim();
        if (input.schema == null) delete input.schema;
        if (input.monthlyQuota == null) delete input.monthlyQuota;
        if (input.subscriptionExpiresAt == null) delete input.subscriptionExpiresAt;
        input.idempotencyKey = 'console-' + Date.now() + '-' + Math.random().toString(36).slice(2);
        op = SY.mutate('createDataEndpoint', 'CreateDataEndpointInput', input, 'secret dataEndpoint { id name slug }');
      }
      submit.disabled = true;
      result.className = '';
      result.textContent = ep ? 'Saving…' : 'Creating…';
      op.then(function (payload) {
        result.textContent = '';
        onDone(payload, false);
      }, function (e) {
        SY.formRejected(e, result, fields, formError, ep ? 'Not saved' : 'Not created', true);
      }).then(function () { submit.disabled = false; });
    });
    holder.appendChild(form);
    return { form: form, first: slug ? slug.input : name.input };
  }

  function buildCreateForm() {
    formHolder.textContent = '';
    endpointForm(formHolder, null, function (payload) {
      buildCreateForm();
      var ep = payload.dataEndpoint;
      announce('Created the endpoint ' + ep.name + '. Its callback signing secret is shown once in a dialog.');
      load().then(function () { openRecords(ep.id, false); });
      SY.onceDialog({
        title: 'Callback signing secret of ' + ep.name,
        note: 'Processing results sent to an X-Webhook-Callback URL are signed with it (Standard Webhooks). It cannot ' +
          'be shown again; rotate it to get a new one.',
        value: payload.secret, label: 'Callback signing secret', what: 'secret', focusBack: recTitle
      });
    });
  }

  // ================= one endpoint's records =================
  function openRecords(id, focus) {
    var ep = byId[id];
    if (!ep) return;
    var was = current;
    current = id;
    Object.keys(rowParts).forEach(function (k) { updateRow(rowParts[k], rowParts[k].ep); });
    recSection.hidden = false;
    recTitle.textContent = 'Records of ' + ep.name;
    sandboxLink.href = '/sandbox?endpoint=' + encodeURIComponent(ep.slug);
    sandboxLink.setAttribute('aria-label', 'Post a record to ' + ep.name + ' in the sandbox');
    if (was !== id) { loadRecords(); if (isOwner) loadCollab(); }
    if (focus) { recTitle.focus(); recSection.scrollIntoView({ block: 'start' }); }
  }

  function closeRecords(focus) {
    var was = current;
    current = null;
    rGen++;
    recSection.hidden = true;
    records = [];
    recParts = {};
    openData = {};
    recRows.textContent = '';
    Object.keys(rowParts).forEach(function (k) { updateRow(rowParts[k], rowParts[k].ep); });
    if (focus && was && rowParts[was]) rowParts[was].holder.querySelector('button').focus();
  }

  $('de-records-close').addEventListener('click', function () { closeRecords(true); });

  function loadRecords() {
    var g = ++rGen;
    records = [];
    recParts = {};
    openData = {};
    SY.placeholderRow(recRows, 'Loading…', 7);
    recSummary.textContent = 'Loading records…';
    return SY.gql(RECORDS_QUERY, { f: { endpointId: current } }).then(function (data) {
      if (g !== rGen) return;
      records = data.records.nodes;
      renderRecords(data.records.totalCount);
    }, function (e) {
      if (g !== rGen) return;
      SY.placeholderRow(recRows, 'The records could not be loaded.', 7);
      recSummary.textContent = 'Could not load the records: ' + e.message;
    });
  }

  function renderRecords(total) {
    recSummary.textContent = records.length
      ? (total != null && total > records.length ? 'The newest ' + records.length + ' of ' + total + ' records'
        : plural(records.length, 'record', 'records')) + '. Their status changes as they are processed.'
      : 'No records yet. Post one from the sandbox, or with a data key: they appear here once processed.';
    if (!records.length) { recParts = {}; SY.placeholderRow(recRows, 'No records yet.', 7); return; }
    if (recRows.querySelector('.sy-placeholder')) recRows.textContent = '';
    SY.placeRows(recRows, recParts, records, function (r) { return r.id; }, makeRecordRow, updateRecordRow,
      function (id) { delete openData[id]; });
  }

  function makeRecordRow(r) {
    var tr = el('tr');
    tr.dataset.recordId = r.id;
    var d = SY.detailRow('de-data-' + r.id, 7);
    return { row: tr, detail: d.detail, cell: d.cell };
  }

  function updateRecordRow(parts, r) {
    var sig = JSON.stringify(r);
    parts.r = r;
    if (parts.sig === sig) return;
    parts.sig = sig;
    var tr = parts.row;
    var hadFocus = tr.contains(document.activeElement);
    tr.textContent = '';
    tr.className = r.status === 'FAILED' ? 'sy-row-warn' : '';
    var th = el('th');
    th.scope = 'row';
    th.appendChild(el('code', null, r.id));
    tr.appendChild(th);
    var env = el('td');
    env.appendChild(envChip(r.environment));
    tr.appendChild(env);
    tr.appendChild(el('td', null, r.operation.toLowerCase()));
    var st = el('td', 'sy-rec-status');
    st.appendChild(chip(r.status.toLowerCase(), r.status.toLowerCase()));
    if (r.error) {
      var err = el('span', 'sy-oauth-desc sy-inline-error', r.error);
      st.appendChild(err);
    }
    tr.appendChild(st);
    var cb = el('td');
    if (r.callbackStatus) {
      var c = chip(r.callbackStatus.toLowerCase(), r.callbackStatus === 'DELIVERED' ? 'processed'
        : r.callbackStatus === 'FAILED' ? 'failed' : 'queued');
      cb.appendChild(c);
      if (r.callbackError) cb.appendChild(el('span', 'sy-oauth-desc sy-inline-error', r.callbackError));
    } else {
      SY.dashCell(cb);
    }
    tr.appendChild(cb);
    tr.appendChild(timeCell(r.updatedAt, '—'));
    var td = el('td', 'sy-oauth-actions');
    var b = button('Data', 'sy-button-secondary', 'Data of ' + r.id);
    b.setAttribute('aria-expanded', String(!!openData[r.id]));
    b.setAttribute('aria-controls', 'de-data-' + r.id);
    td.appendChild(b);
    tr.appendChild(td);
    b.addEventListener('click', function () {
      if (openData[r.id]) {
        delete openData[r.id];
        parts.detail.hidden = true;
        b.setAttribute('aria-expanded', 'false');
      } else {
        openData[r.id] = true;
        b.setAttribute('aria-expanded', 'true');
        fillData(parts);
      }
    });
    if (openData[r.id]) fillData(parts);
    if (hadFocus) b.focus();
  }

  function fillData(parts) {
    var r = parts.r;
    parts.cell.textContent = '';
    var box = el('div', 'sy-oauth-authz');
    box.appendChild(el('h4', null, r.id + ' · ' + r.status.toLowerCase()));
    box.appendChild(r.data == null ? el('p', 'sy-muted sy-small', r.status === 'DELETED' ? 'Deleted.' : 'No data yet.')
      : SY.jsonBlock(r.data, 'Data of ' + r.id));
    parts.cell.appendChild(box);
    parts.detail.hidden = false;
  }

  // A record from the subscription: its row changes, or a new one is added.
  var recNews = 0;
  var recNewsTimer = null;
  function onRecord(r) {
    feed.touched();
    if (byId[r.endpointId]) loadSoon();   // usage this month moved
    if (r.endpointId !== current) return;
    var i = -1;
    records.forEach(function (x, j) { if (x.id === r.id) i = j; });
    var fresh = i < 0;
    if (fresh) {
      records.unshift(r);
      records.sort(function (a, b) { return a.id < b.id ? 1 : -1; });
      if (records.length > MAX_RECORDS) records.length = MAX_RECORDS;
    } else {
      records[i] = r;
    }
    renderRecords(null);
    var parts = recParts[r.id];
    if (parts) {
      parts.row.classList.add('sy-row-new');
      setTimeout(function () { parts.row.classList.remove('sy-row-new'); }, 3000);
    }
    recNews++;
    if (!recNewsTimer) {
      recNewsTimer = setTimeout(function () {
        recNewsTimer = null;
        recLive.textContent = recNews === 1 ? 'Record ' + r.id + ' is ' + r.status.toLowerCase() + '.'
          : recNews + ' record changes.';
        recNews = 0;
      }, 1200);
    }
  }

  var loadSoonTimer = null;
  function loadSoon() {
    if (loadSoonTimer) return;
    loadSoonTimer = setTimeout(function () { loadSoonTimer = null; load(); }, 2000);
  }

  var feed = SY.liveFeed({
    area: 'data-endpoints', pill: $('de-status'), updated: $('de-updated'), errorBox: errorBox, what: 'the records',
    query: RECORDS_SUBSCRIPTION, field: 'recordStatus', onData: onRecord,
    onConnected: function (again) {
      if (again && current) loadRecords();
      feed.setStatus('live');
    }
  });
  setInterval(function () { feed.renderUpdated(); }, 5000);

  // ---- an endpoint's collaborator webhooks (owners) ----
  function loadCollab() {
    var id = current;
    collabBox.hidden = false;
    collabBox.textContent = '';
    var h = el('h4', 'sy-h4', 'Collaborator webhooks');
    collabBox.appendChild(h);
    collabBox.appendChild(el('p', 'sy-hint sy-catalog-hint', 'They receive this endpoint’s processing results ' +
      '(record.*) with at most 3 retries, 60 s apart. Their deliveries are in the Webhooks area.'));
    var list = el('ul', 'sy-plain-list sy-collab-list');
    collabBox.appendChild(list);
    SY.gql(COLLAB_QUERY).then(function (data) {
      if (id !== current) return;
      var mine = data.webhooks.nodes.filter(function (w) { return w.endpointId === id; });
      if (!mine.length) list.appendChild(el('li', 'sy-muted sy-small', 'None yet.'));
      mine.forEach(function (w) {
        var li = el('li', 'sy-row-actions');
        li.appendChild(el('code', null, w.url));
        if (!w.enabled) li.appendChild(el('span', 'sy-inline-error', w.disabledReason ? 'disabled: ' + w.disabledReason : 'disabled'));
        var del = button('Remove', 'sy-button-danger', 'Remove the collaborator webhook ' + w.url);
        li.appendChild(del);
        del.addEventListener('click', function () {
          SY.confirmStep(li, 'It stops receiving results.', 'Remove webhook', 'Cancel', w.url, del, function (restore) {
            SY.mutate('deleteWebhook', 'DeleteWebhookInput', { id: w.id }, 'deletedId').then(function () {
              announce('Removed the collaborator webhook ' + w.url + '.');
              loadCollab();
            }, function (e) {
              restore(true);
              showBox(errorBox, 'Could not remove it: ' + errText(e));
            });
          }, 'Removing…');
        });
        list.appendChild(li);
      });
    }, function (e) {
      list.appendChild(el('li', 'sy-inline-error', 'Could not load them: ' + e.message));
    });
    var form = el('form', 'sy-inline sy-collab-form');
    form.noValidate = true;
    var f = SY.formField('de-collab-url', 'Add a collaborator webhook', { kind: 'url', code: true,
      placeholder: 'https://partner.example/results' });
    form.appendChild(f.wrap);
    var add = el('button', 'sy-button sy-button-small', 'Add');
    add.type = 'submit';
    add.setAttribute('aria-label', 'Add the collaborator webhook');
    form.appendChild(add);
    var fields = { url: { input: f.input, error: f.error } };
    SY.clearOnInput(fields);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields);
      add.disabled = true;
      SY.mutate('createCollaboratorWebhook', 'CreateCollaboratorWebhookInput', { endpointId: id, url: f.input.value.trim() },
        'secret webhook { id url }').then(function (p) {
        announce('Added the collaborator webhook ' + p.webhook.url + '.');
        loadCollab();
        SY.onceDialog({
          title: 'Signing secret of ' + p.webhook.url,
          note: 'The collaborator verifies the webhook-signature header with it. It cannot be shown again; rotate it ' +
            'in the Webhooks area to get a new one.',
          value: p.secret, label: 'Collaborator webhook signing secret', what: 'secret', focusBack: recTitle
        });
      }, function (e) {
        add.disabled = false;
        if (e.userErrors) SY.showFieldErrors(fields, e.userErrors.map(function (u) {
          return { field: ['input', 'url'], message: u.message };
        }));
        else SY.showFieldErrors(fields, [{ field: ['input', 'url'], message: e.message }]);
      });
    });
    collabBox.appendChild(form);
  }

  // ================= data keys (owners) =================
  var loadKeys = SY.oneAtATime(function () {
    return SY.gql(KEYS_QUERY).then(function (data) {
      renderKeys(data.dataKeys);
    }, function (e) {
      if (e.code === 'FORBIDDEN') { keySection.hidden = true; return; }
      keySummary.textContent = 'Could not load the data keys: ' + e.message;
    });
  });

  function renderKeys(conn) {
    var list = conn.nodes;
    keySummary.textContent = list.length ? plural(conn.totalCount, 'data key', 'data keys') +
      ', ' + list.filter(function (k) { return !k.enabled; }).length + ' disabled.' : 'No data keys yet.';
    keyRows.textContent = '';
    if (!list.length) { SY.placeholderRow(keyRows, 'No data keys yet.', 5); return; }
    list.forEach(function (k) { keyRows.appendChild(keyRow(k)); });
  }

  function keyRow(k) {
    var tr = el('tr');
    tr.dataset.keyId = k.id;
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    th.appendChild(el('span', 'sy-oauth-app-name', k.name));
    th.appendChild(document.createTextNode(' '));
    th.appendChild(envChip(k.environment));
    var p = el('span', 'sy-oauth-desc');
    p.appendChild(el('code', null, k.prefix + '…'));
    th.appendChild(p);
    tr.appendChild(th);
    tr.appendChild(el('td', null, k.userId === (me && me.userId) ? 'you' : (emails[k.userId] || k.userId)));
    var st = el('td');
    var pill = el('span', 'sy-pill sy-key-status', k.enabled ? 'active' : 'disabled');
    pill.dataset.status = k.enabled ? 'ACTIVE' : 'DISABLED';
    st.appendChild(pill);
    tr.appendChild(st);
    tr.appendChild(timeCell(k.createdAt, '—'));
    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    var toggle = button(k.enabled ? 'Disable' : 'Enable', 'sy-button-secondary', (k.enabled ? 'Disable ' : 'Enable ') + 'data key ' + k.name);
    var roll = button('Roll secret', 'sy-button-secondary', 'Roll secret of data key ' + k.name);
    var revoke = button('Revoke', 'sy-button-danger', 'Revoke data key ' + k.name);
    [toggle, roll, revoke].forEach(function (b) { holder.appendChild(b); });
    td.appendChild(holder);
    tr.appendChild(td);
    toggle.addEventListener('click', function () {
      toggle.disabled = true;
      SY.mutate('updateDataKey', 'UpdateDataKeyInput', { id: k.id, enabled: !k.enabled }, 'dataKey { id enabled }').then(function () {
        announce((k.enabled ? 'Disabled' : 'Enabled') + ' the data key ' + k.name + '.');
        loadKeys().then(function () {
          var again = keyRows.querySelector('tr[data-key-id="' + k.id + '"] button');
          if (again) again.focus();
        });
      }, function (e) {
        toggle.disabled = false;
        showBox(errorBox, 'Could not change the data key ' + k.name + ': ' + errText(e));
      });
    });
    roll.addEventListener('click', function () {
      SY.confirmStep(holder, 'The current secret gets 401 at once.', 'Roll now', 'Cancel', 'the secret of data key ' + k.name,
        roll, function (restore) {
          SY.mutate('rollDataKey', 'RollDataKeyInput', { id: k.id }, 'secret dataKey { id name }').then(function (p) {
            restore(false);
            keyDialog(p.dataKey.name, p.secret, true, roll);
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not roll the data key ' + k.name + ': ' + errText(e));
          });
        }, 'Rolling…');
    });
    revoke.addEventListener('click', function () {
      SY.confirmStep(holder, 'It gets 401 at once; its records stay.', 'Revoke key', 'Cancel', 'data key ' + k.name,
        revoke, function (restore) {
          SY.mutate('deleteDataKey', 'DeleteDataKeyInput', { id: k.id }, 'deletedId').then(function () {
            announce('Revoked the data key ' + k.name + '.');
            keySummary.focus();
            loadKeys();
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not revoke the data key ' + k.name + ': ' + errText(e));
          });
        }, 'Revoking…');
    });
    return tr;
  }

  function keyDialog(name, secret, rolled, focusBack) {
    announce((rolled ? 'New secret for the data key ' : 'Created the data key ') + name + ', shown once in a dialog.');
    SY.onceDialog({
      title: (rolled ? 'New secret of the data key ' : 'Secret of the data key ') + name,
      note: 'Send it as Authorization: Bearer … to /api/v1/data/{slug}. It cannot be shown again; roll the key for a new one.',
      value: secret, label: 'Data key secret', what: 'secret', focusBack: focusBack
    });
    loadKeys();
  }

  keyTestBtn.addEventListener('click', function () {
    keyTestBtn.disabled = true;
    SY.mutate('createDataKey', 'CreateDataKeyInput', { name: 'test key', environment: 'TEST' }, 'secret dataKey { id name }')
      .then(function (p) { keyDialog(p.dataKey.name, p.secret, false, keyTestBtn); },
        function (e) { showBox(errorBox, 'Could not create a test key: ' + errText(e)); })
      .then(function () { keyTestBtn.disabled = false; });
  });

  function buildKeyForm(members) {
    keyFormHolder.textContent = '';
    var form = el('form', 'sy-oauth-form');
    form.noValidate = true;
    form.appendChild(el('h4', 'sy-h4', 'Create a data key'));
    var name = SY.formField('dk-name', 'Name', { maxLength: 100, placeholder: 'shop backend' });
    var who = SY.formField('dk-user', 'For member', { kind: 'select', options: members.map(function (m) {
      return [m.user.id, m.user.id === me.userId ? m.user.email + ' (you)' : m.user.email];
    }), hint: 'The key acts as this member.' });
    who.input.value = me.userId;
    var env = SY.choiceField('dk-env', 'Environment', 'dk-environment',
      [['TEST', 'Test', 'tm_test_…, sandbox data'], ['LIVE', 'Live', 'tm_live_…, live data']], { type: 'radio', checked: ['TEST'] });
    var fields = { name: { input: name.input, error: name.error }, userId: { input: who.input, error: who.error },
      environment: { inputs: env.inputs, error: env.error } };
    [name, who, env].forEach(function (f) { form.appendChild(f.wrap); });
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', 'Create data key');
    submit.type = 'submit';
    var result = el('span');
    result.setAttribute('role', 'status');
    row.appendChild(submit);
    row.appendChild(result);
    form.appendChild(row);
    SY.clearOnInput(fields);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields, formError);
      submit.disabled = true;
      result.className = '';
      result.textContent = 'Creating…';
      SY.mutate('createDataKey', 'CreateDataKeyInput', { name: name.input.value.trim(), userId: who.input.value,
        environment: SY.checkedValues(env.inputs)[0] }, 'secret dataKey { id name }').then(function (p) {
        result.textContent = '';
        name.input.value = '';
        keyDialog(p.dataKey.name, p.secret, false, submit);
      }, function (e) {
        SY.formRejected(e, result, fields, formError, 'Not created');
      }).then(function () { submit.disabled = false; });
    });
    keyFormHolder.appendChild(form);
  }

  // ================= start =================
  SY.whenShown('data-endpoints', function () {
    SY.viewer().then(function (v) {
      if (!v) return;
      me = v;
      isOwner = v.role === 'OWNER';
      panel.hidden = false;
      var ready = load();
      if (isOwner) {
        newSection.hidden = false;
        keySection.hidden = false;
        buildCreateForm();
        SY.gql(MEMBERS_QUERY).then(function (data) {
          data.members.nodes.forEach(function (m) { emails[m.user.id] = m.user.email; });
          buildKeyForm(data.members.nodes);
        }, function () { buildKeyForm([{ user: { id: me.userId, email: me.email } }]); }).then(loadKeys);
      }
      ready.then(function () { feed.start(); });
    });
  });
})();
