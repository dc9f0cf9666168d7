// The console's Webhooks area (issue 25, `#/webhooks`), a webhook portal:
// the workspace's webhooks with their health; add and edit one (URL, the
// events it receives picked from the event catalog, rate limit, timeout,
// retry policy, custom headers) with the server's field errors next to the
// fields; the signing secret shown once in a dialog, rotate it; disable,
// enable (and for a webhook the server disabled, why, and enable it
// again); delete (confirmed). A webhook's detail: its recent deliveries
// (status, HTTP code, duration, attempts) updated live over the
// deliveryLogs subscription; one delivery's payload and attempts with the
// request headers sent (secrets redacted by the server) and the response;
// retry one, retry every failed one since a time, send a test event and
// watch its attempt arrive. Owners only: the API refuses collaborators,
// who see a note. Served at /playground/webhooks.js; load it after
// /playground/app.js and /playground/vendor/graphql-ws.min.js. It keeps to
// its own <section> of dashboard.html (data-area="webhooks").
(function () {
  'use strict';

  var WH_FIELDS = 'id url endpointId description eventTypes headers enabled disabledReason rateLimitPerMinute ' +
    'timeoutSeconds failingSince lastSuccessAt previousSecretExpiresAt createdAt updatedAt retryPolicy { kind delaysSeconds }';
  var WEBHOOKS_QUERY = 'query { webhooks(first: 100) { totalCount pageInfo { hasNextPage } nodes { ' + WH_FIELDS + ' } } }';
  var TYPES_QUERY = 'query { eventTypes { name description ownersOnly } }';
  var DLV_FIELDS = 'id webhookId eventType status attempts lastStatusCode lastError createdAt deliveredAt ' +
    'attemptLog(first: 1) { nodes { id responseTimeMs } }';
  var DELIVERIES_QUERY = 'query($f: DeliveryFilterInput) { deliveries(first: 20, filter: $f) { totalCount nodes { ' +
    DLV_FIELDS + ' } } }';
  var DELIVERY_QUERY = 'query($id: ID!) { delivery(id: $id) { ' + DLV_FIELDS + ' } }';
  var ATTEMPTS_QUERY = 'query($id: ID!) { delivery(id: $id) { id payload attemptLog(first: 20) { nodes { ' +
    'id attempt success responseCode responseTimeMs responseBody requestHeaders error createdAt } } } }';
  var LOGS_SUBSCRIPTION = 'subscription { deliveryLogs { id deliveryId webhookId attempt success responseCode ' +
    'responseTimeMs error createdAt } }';
  var MAX_DELIVERIES = 50;
  var POLICY_TEXT = { DEFAULT: 'Default', COLLABORATOR: 'Collaborator', CUSTOM: 'Custom' };
  var DLV_STATUS = { PENDING: 'pending', SUCCEEDED: 'succeeded', FAILED: 'failed', CANCELLED: 'cancelled' };

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, showBox = SY.showBox, button = SY.button, plural = SY.plural, errText = SY.errText;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('wh-panel');
  var body = $('wh-body');
  var ownersOnly = $('wh-owners-only');
  var errorBox = $('wh-error');
  var summary = $('wh-summary');
  var rows = $('wh-rows');
  var formHolder = $('wh-form');
  var detail = $('wh-detail');
  var detailTitle = $('wh-detail-title');
  var detailFacts = $('wh-detail-facts');
  var detailClose = $('wh-detail-close');
  var testBtn = $('wh-test');
  var testResult = $('wh-test-result');
  var retryForm = $('wh-retry-form');
  var retrySince = $('wh-retry-since');
  var retryAllBtn = $('wh-retry-all');
  var retryResult = $('wh-retry-result');
  var dSummary = $('wh-deliveries-summary');
  var dRows = $('wh-delivery-rows');
  var dLive = $('wh-deliveries-live');
  var announce = SY.announcer($('wh-live'));

  var catalog = [];           // event types: { name, description }
  var webhooks = [];
  var byId = {};
  var rowParts = {};
  var editor = SY.rowEditor({   // editor.open: the webhook id whose edit form is open
    id: function (parts) { return parts.w.id; },
    heading: function (parts) { return 'Edit ' + hostPath(parts.w.url); },
    form: function (box, parts, done) { return webhookForm(box, parts.w, done); },
    saved: function (payload) { announce('Saved ' + hostPath(payload.webhook.url) + '.'); load(); }
  });
  var current = null;         // webhook id whose detail is shown
  var deliveries = [];        // of `current`, newest first
  var dParts = {};            // delivery id → { row, detail, cell, d }
  var openAttempts = {};      // delivery id → true when its attempts are shown
  var dGen = 0;

  // ---- small helpers ----
  function hostPath(url) { return String(url).replace(/^https?:\/\//i, ''); }

  function msText(ms) {
    if (ms == null) return null;
    return ms < 1000 ? ms + ' ms' : (Math.round(ms / 100) / 10) + ' s';
  }

  function retryText(p) {
    if (p.kind === 'CUSTOM') {
      return p.delaysSeconds.length ? 'Custom: ' + p.delaysSeconds.map(secsText).join(', ') : 'No retries';
    }
    if (p.kind === 'COLLABORATOR') return '3 × 60 s';
    return 'Default (7 over 28 h)';
  }

  function secsText(s) {
    if (s < 60) return s + ' s';
    if (s < 3600) return (s % 60 ? Math.round(s / 6) / 10 : s / 60) + ' min';
    return (s % 3600 ? Math.round(s / 360) / 10 : s / 3600) + ' h';
  }

  function statusOf(w) {
    if (w.enabled) return w.failingSince ? 'failing' : 'enabled';
    return w.disabledReason ? 'disabled by the server' : 'disabled';
  }

  function statusPill(w) {
    var s = statusOf(w);
    var p = el('span', 'sy-pill sy-wh-status', s);
    p.dataset.status = s.split(' ')[0];
    if (s === 'disabled by the server') p.dataset.status = 'auto';
    return p;
  }

  function chip(text, kind) {
    var c = el('span', 'sy-status-chip', text);
    c.dataset.status = kind;
    return c;
  }

  function dlvChip(status) {
    var s = DLV_STATUS[status] || String(status).toLowerCase();
    return chip(s, s === 'succeeded' ? 'processed' : s === 'pending' ? 'queued' : s === 'failed' ? 'failed' : s);
  }

  function timeCell(iso, none) {
    var td = el('td');
    if (!iso) { td.className = 'sy-muted'; td.textContent = none; return td; }
    td.appendChild(SY.timeEl(iso));
    return td;
  }

  // ================= the webhooks table =================
  var load = SY.oneAtATime(function () {
    return SY.gql(WEBHOOKS_QUERY).then(function (data) {
      showBox(errorBox, '');
      render(data.webhooks);
    }, function (e) {
      if (e.code === 'FORBIDDEN') { ownersOnlyView(); return; }
      showBox(errorBox, 'Could not load the webhooks: ' + errText(e));
    });
  });

  var loadSoonTimer = null;
  function loadSoon() {
    if (loadSoonTimer) return;
    loadSoonTimer = setTimeout(function () { loadSoonTimer = null; load(); }, 1500);
  }

  function ownersOnlyView() {
    body.hidden = true;
    ownersOnly.hidden = false;
    $('wh-status').hidden = true;
    $('wh-updated').hidden = true;
  }

  function render(conn) {
    webhooks = conn.nodes;
    byId = {};
    webhooks.forEach(function (w) { byId[w.id] = w; });
    var off = webhooks.filter(function (w) { return !w.enabled; }).length;
    summary.textContent = conn.totalCount === 0 ? 'No webhooks yet. Add one below.'
      : plural(conn.totalCount, 'webhook', 'webhooks') + (off ? ', ' + off + ' disabled' : '') +
        (conn.pageInfo.hasNextPage ? ' (the newest ' + webhooks.length + ' shown)' : '') + '.';
    if (!webhooks.length) {
      rowParts = {};
      SY.placeholderRow(rows, 'No webhooks yet.', 7);
    } else {
      if (rows.querySelector('.sy-placeholder')) rows.textContent = '';
      SY.placeRows(rows, rowParts, webhooks, function (w) { return w.id; }, makeRow, updateRow, function (id) {
        if (editor.open === id) editor.open = null;
        if (current === id) closeDetail(false);
      });
    }
    if (current && byId[current]) renderFacts(byId[current]);
  }

  function makeRow(w) {
    var tr = el('tr');
    tr.dataset.webhookId = w.id;
    var d = SY.detailRow('wh-edit-' + w.id, 7);
    return { row: tr, detail: d.detail, cell: d.cell };
  }

  function updateRow(parts, w) {
    var sig = JSON.stringify(w) + (current === w.id) + (editor.open === w.id);
    parts.w = w;
    if (parts.sig === sig) return;
    if (parts.holder && parts.holder.dataset.confirming) return;
    parts.sig = sig;
    var tr = parts.row;
    var focused = tr.contains(document.activeElement) ? document.activeElement.textContent : null;
    tr.textContent = '';
    tr.className = current === w.id ? 'sy-row-current' : (!w.enabled && w.disabledReason ? 'sy-row-warn' : '');
    var th = el('th', 'sy-oauth-name sy-wh-url');
    th.scope = 'row';
    var url = el('span', 'sy-oauth-app-name');
    url.appendChild(el('code', null, hostPath(w.url)));
    url.title = w.url;
    th.appendChild(url);
    if (w.endpointId) {
      var c = el('span', 'sy-kind-chip', 'collaborator');
      c.title = 'Receives the processing results of data endpoint ' + w.endpointId;
      th.appendChild(document.createTextNode(' '));
      th.appendChild(c);
    }
    if (w.description) th.appendChild(el('span', 'sy-oauth-desc sy-muted', w.description));
    tr.appendChild(th);
    var ev = el('td', 'sy-oauth-scopes sy-wh-events');
    w.eventTypes.forEach(function (t, i) {
      if (i) ev.appendChild(document.createTextNode(' '));
      ev.appendChild(el('code', null, t));
    });
    tr.appendChild(ev);
    var st = el('td', 'sy-wh-state');
    st.appendChild(statusPill(w));
    if (!w.enabled && w.disabledReason) st.appendChild(el('span', 'sy-oauth-desc sy-inline-error', w.disabledReason));
    else if (w.failingSince) {
      var f = el('span', 'sy-oauth-desc sy-muted', 'failing since ');
      f.appendChild(SY.timeEl(w.failingSince));
      st.appendChild(f);
    }
    tr.appendChild(st);
    tr.appendChild(el('td', null, w.rateLimitPerMinute == null ? 'No limit' : w.rateLimitPerMinute + '/min'));
    tr.appendChild(el('td', null, retryText(w.retryPolicy)));
    tr.appendChild(timeCell(w.lastSuccessAt, 'Never'));

    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    parts.holder = holder;
    var label = hostPath(w.url);
    var openBtn = button('Deliveries', 'sy-button-secondary', 'Deliveries of ' + label);
    openBtn.setAttribute('aria-pressed', String(current === w.id));
    var edit = button('Edit', 'sy-button-secondary', 'Edit ' + label);
    edit.setAttribute('aria-expanded', String(editor.open === w.id));
    edit.setAttribute('aria-controls', 'wh-edit-' + w.id);
    var toggle = button(w.enabled ? 'Disable' : 'Enable', 'sy-button-secondary', (w.enabled ? 'Disable ' : 'Enable ') + label);
    var del = button('Delete', 'sy-button-danger', 'Delete ' + label);
    [openBtn, edit, toggle, del].forEach(function (b) { holder.appendChild(b); });
    td.appendChild(holder);
    tr.appendChild(td);
    openBtn.addEventListener('click', function () { openDetail(parts.w.id, true); });
    edit.addEventListener('click', function () { editor.toggle(parts, edit); });
    toggle.addEventListener('click', function () { setEnabled(parts.w, !parts.w.enabled, toggle); });
    del.addEventListener('click', function () { confirmDelete(parts.w, holder, del); });
    if (focused) {
      var again = Array.prototype.find.call(holder.querySelectorAll('button'), function (b) { return b.textContent === focused; });
      if (again) again.focus();
    }
    if (editor.open === w.id && parts.detail.hidden) editor.show(parts, false);
  }

  // ---- enable/disable, delete ----
  function setEnabled(w, on, btn) {
    btn.disabled = true;
    return SY.mutate('updateWebhook', 'UpdateWebhookInput', { id: w.id, enabled: on }, 'webhook { id enabled }').then(function () {
      showBox(errorBox, '');
      announce((on ? 'Enabled ' : 'Disabled ') + hostPath(w.url) + '.');
      return load();
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not ' + (on ? 'enable ' : 'disable ') + hostPath(w.url) + ': ' + errText(e));
    });
  }

  function confirmDelete(w, holder, delBtn) {
    SY.confirmStep(holder, 'Its delivery log goes too.', 'Delete webhook', 'Cancel', 'the webhook ' + hostPath(w.url), delBtn,
      function (restore) {
        SY.mutate('deleteWebhook', 'DeleteWebhookInput', { id: w.id }, 'deletedId').then(function () {
          showBox(errorBox, '');
          announce('Deleted the webhook ' + hostPath(w.url) + '.');
          if (current === w.id) closeDetail(false);
          summary.focus();
          load();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + hostPath(w.url) + ': ' + errText(e));
        });
      }, 'Deleting…');
  }

  // ================= add and edit: one form =================
  // Builds the webhook form in `holder`: empty to add, or filled from `w` to edit.
  function webhookForm(holder, w, onDone) {
    var pre = w ? 'wh-e-' + w.id.slice(-8) + '-' : 'wh-n-';
    var form = el('form', 'sy-oauth-form sy-wh-form');
    form.noValidate = true;
    var url = SY.formField(pre + 'url', 'URL', { kind: 'url', code: true, value: w ? w.url : '',
      placeholder: 'https://example.com/webhooks', hint: 'Deliveries are POSTed here. Private and loopback addresses ' +
      'are refused unless the server allows them.' });
    var desc = SY.formField(pre + 'description', 'Description', { kind: 'textarea', rows: 2, maxLength: 500,
      optional: '(optional)', value: w ? w.description : '' });
    var events = eventPicker(pre + 'events', w ? w.eventTypes : []);
    var rate = SY.formField(pre + 'rate', 'Rate limit', { kind: 'number', min: 1, optional: '(deliveries per minute)',
      value: w ? (w.rateLimitPerMinute == null ? '' : w.rateLimitPerMinute) : 100,
      hint: 'Over it deliveries wait, never drop. Empty: no limit.' });
    var timeout = SY.formField(pre + 'timeout', 'Timeout', { kind: 'number', min: 1, optional: '(seconds, 1 to 60)',
      value: w ? w.timeoutSeconds : 15 });
    var policy = SY.formField(pre + 'policy', 'Retry policy', { kind: 'select', options: [
      ['DEFAULT', 'Default — 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h'],
      ['COLLABORATOR', 'Collaborator — at most 3 retries, 60 s apart'],
      ['CUSTOM', 'Custom — the waits you give']] });
    policy.input.value = w ? w.retryPolicy.kind : 'DEFAULT';
    var delays = SY.formField(pre + 'delays', 'Waits before each retry', { code: true,
      optional: '(seconds, comma-separated; empty: no retries)', placeholder: '10, 60, 600',
      value: w && w.retryPolicy.kind === 'CUSTOM' ? w.retryPolicy.delaysSeconds.join(', ') : '' });
    var headerNames = w ? Object.keys(w.headers || {}) : [];
    var headers = SY.formField(pre + 'headers', 'Custom headers', { kind: 'textarea', code: true, rows: 3,
      optional: w ? '(a JSON object replaces them all; empty keeps them)' : '(optional: a JSON object)',
      placeholder: '{"X-Team": "ops"}',
      hint: (w && headerNames.length ? 'Now: ' + headerNames.join(', ') + ' (values are stored encrypted and never shown). ' : '') +
        'At most 20; webhook-* and content-type are reserved.' + (w ? ' {} removes them.' : '') });
    headers.input.classList.add('sy-headers-input');
    function showDelays() { delays.wrap.hidden = policy.input.value !== 'CUSTOM'; }
    policy.input.addEventListener('change', showDelays);
    showDelays();
    [url, desc].forEach(function (f) { form.appendChild(f.wrap); });
    form.appendChild(events.wrap);
    var grid = el('div', 'sy-form-grid');
    [rate, timeout].forEach(function (f) { grid.appendChild(f.wrap); });
    form.appendChild(grid);
    form.appendChild(policy.wrap);
    form.appendChild(delays.wrap);
    form.appendChild(headers.wrap);
    var fields = {
      url: { input: url.input, error: url.error },
      description: { input: desc.input, error: desc.error },
      eventTypes: { inputs: events.inputs, error: events.error, where: function (rest) {
        var i = Number(rest[0]);
        return isNaN(i) ? rest.join('.') : 'Event type ' + (i + 1);
      } },
      rateLimitPerMinute: { input: rate.input, error: rate.error },
      timeoutSeconds: { input: timeout.input, error: timeout.error },
      retryPolicy: { inputs: [policy.input, delays.input], error: delays.error, where: function (rest) {
        return rest[0] === 'delaysSeconds' ? 'Waits' + (rest.length > 1 ? ' (number ' + (Number(rest[1]) + 1) + ')' : '') : rest.join('.');
      } },
      headers: { input: headers.input, error: headers.error }
    };
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var bar = SY.submitRow('Add webhook', w ? hostPath(w.url) : null, function () { onDone(null, true); });
    var submit = bar.submit;
    var result = bar.result;
    form.appendChild(bar.row);
    SY.clearOnInput(fields);

    // Checks what the browser can (numbers, JSON) before asking the server.
    function local() {
      var errors = [];
      var input = { url: url.input.value.trim(), description: desc.input.value.trim(), eventTypes: events.values() };
      var r = rate.input.value.trim();
      input.rateLimitPerMinute = r === '' ? null : Number(r);
      if (r !== '' && !/^\d+$/.test(r)) errors.push({ field: ['input', 'rateLimitPerMinute'], message: 'A whole number.' });
      var t = timeout.input.value.trim();
      if (t !== '') {
        input.timeoutSeconds = Number(t);
        if (!/^\d+$/.test(t)) errors.push({ field: ['input', 'timeoutSeconds'], message: 'A whole number of seconds.' });
      }
      input.retryPolicy = { kind: policy.input.value };
      if (policy.input.value === 'CUSTOM') {
        var parts = delays.input.value.split(/[\s,]+/).filter(Boolean);
        if (parts.some(function (p) { return !/^\d+$/.test(p); })) {
          errors.push({ field: ['input', 'retryPolicy'], message: 'Whole numbers of seconds, separated by commas.' });
        }
        input.retryPolicy.delaysSeconds = parts.map(Number);
      }
      var h = headers.input.value.trim();
      if (h) {
        try {
          var v = JSON.parse(h);
          if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
          input.headers = v;
        } catch (e) {
          errors.push({ field: ['input', 'headers'], message: 'A JSON object of names and values, e.g. {"X-Team": "ops"}.' });
        }
      }
      return { input: input, errors: errors };
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields, formError);
      var checked = local();
      if (checked.errors.length) {
        result.className = 'sy-inline-error';
        result.textContent = 'Not sent: ' + plural(checked.errors.length, 'problem', 'problems') + ' to fix.';
        SY.showFieldErrors(fields, checked.errors, formError);
        return;
      }
      var input = checked.input;
      var op;
      if (w) {
        input.id = w.id;
        op = SY.mutate('updateWebhook', 'UpdateWebhookInput', input, 'webhook { id url }');
      } else {
        if (!input.description) delete input.description;
        input.idempotencyKey = 'console-' + Date.now() + '-' + Math.random().toString(36).slice(2);
        op = SY.mutate('createWebhook', 'CreateWebhookInput', input, 'secret webhook { id url }');
      }
      submit.disabled = true;
      result.className = '';
      result.textContent = w ? 'Saving…' : 'Adding…';
      op.then(function (payload) {
        result.textContent = '';
        onDone(payload, false);
      }, function (e) {
        SY.formRejected(e, result, fields, formError, w ? 'Not saved' : 'Not added', true);
      }).then(function () { submit.disabled = false; });
    });
    holder.appendChild(form);
    return { form: form, first: url.input };
  }

  // The events a webhook receives: each family's `family.*` and its types,
  // from the catalog; patterns the catalog lacks (set elsewhere) are kept.
  function eventPicker(id, chosen) {
    var wrap = el('fieldset', 'sy-field sy-checks sy-event-picker');
    var legend = el('legend', null, 'Events');
    legend.appendChild(el('span', 'sy-optional', ' (at least one; a family.* pattern takes its future types too)'));
    wrap.appendChild(legend);
    var families = {};
    catalog.forEach(function (t) {
      var f = t.name.split('.')[0];
      (families[f] = families[f] || []).push(t);
    });
    var inputs = [];
    var grid = el('div', 'sy-event-grid');
    var n = 0;
    function box(value, text, title, className) {
      var label = el('label', className);
      var input = el('input');
      input.type = 'checkbox';
      input.value = value;
      input.id = id + '-' + (n++);
      input.checked = chosen.indexOf(value) >= 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(' '));
      label.appendChild(el('code', null, text));
      if (title) label.title = title;
      inputs.push(input);
      return label;
    }
    Object.keys(families).sort().forEach(function (f) {
      var group = el('div', 'sy-event-family');
      group.setAttribute('role', 'group');
      group.setAttribute('aria-label', f + ' events');
      var all = box(f + '.*', f + '.*', 'Every ' + f + ' event, including future ones', 'sy-event-all');
      group.appendChild(all);
      var allInput = all.querySelector('input');
      var members = families[f].map(function (t) {
        var l = box(t.name, t.name, t.description);
        group.appendChild(l);
        return l.querySelector('input');
      });
      // A family pattern covers its types: they are shown ticked and off.
      function sync() {
        members.forEach(function (m) {
          m.disabled = allInput.checked;
          if (allInput.checked) m.checked = false;
        });
      }
      allInput.addEventListener('change', sync);
      sync();
      grid.appendChild(group);
    });
    var known = inputs.map(function (i) { return i.value; });
    var extra = chosen.filter(function (c) { return known.indexOf(c) < 0; });
    if (extra.length) {
      var group = el('div', 'sy-event-family');
      group.setAttribute('role', 'group');
      group.setAttribute('aria-label', 'Other patterns');
      extra.forEach(function (c) { group.appendChild(box(c, c, 'A pattern set through the API')); });
      grid.appendChild(group);
    }
    wrap.appendChild(grid);
    var error = el('div', 'sy-field-error');
    error.id = id + '-error';
    error.hidden = true;
    wrap.appendChild(error);
    wrap.setAttribute('aria-describedby', error.id);
    return {
      wrap: wrap, inputs: inputs, error: error,
      values: function () { return inputs.filter(function (i) { return i.checked && !i.disabled; }).map(function (i) { return i.value; }); }
    };
  }

  function buildCreateForm() {
    formHolder.textContent = '';
    webhookForm(formHolder, null, function (payload) {
      buildCreateForm();
      announce('Added the webhook ' + hostPath(payload.webhook.url) + '. Its signing secret is shown once in a dialog.');
      load().then(function () { openDetail(payload.webhook.id, false); });
      SY.onceDialog({
        title: 'Signing secret of ' + hostPath(payload.webhook.url),
        note: 'The receiver verifies the webhook-signature header with it (Standard Webhooks). It cannot be shown ' +
          'again; rotate it to get a new one.',
        value: payload.secret, label: 'Webhook signing secret', what: 'secret', focusBack: detailTitle
      });
    });
  }

  // ================= one webhook: facts, tools, deliveries =================
  function openDetail(id, focus) {
    var w = byId[id];
    if (!w) return;
    var was = current;
    current = id;
    Object.keys(rowParts).forEach(function (k) { rowParts[k].sig = null; updateRow(rowParts[k], rowParts[k].w); });
    detail.hidden = false;
    renderFacts(w);
    testResult.textContent = '';
    retryResult.textContent = '';
    if (was !== id) loadDeliveries();
    if (focus) { detailTitle.focus(); detail.scrollIntoView({ block: 'start' }); }
  }

  function closeDetail(focus) {
    var was = current;
    current = null;
    dGen++;
    detail.hidden = true;
    deliveries = [];
    dParts = {};
    openAttempts = {};
    dRows.textContent = '';
    Object.keys(rowParts).forEach(function (k) { rowParts[k].sig = null; updateRow(rowParts[k], rowParts[k].w); });
    if (focus && was && rowParts[was]) {
      var b = rowParts[was].holder.querySelector('button');
      if (b) b.focus();
    }
  }

  detailClose.addEventListener('click', function () { closeDetail(true); });

  function renderFacts(w) {
    detailTitle.textContent = 'Webhook ' + hostPath(w.url);
    detailFacts.textContent = '';
    var dl = el('dl', 'sy-facts');
    function fact(name, value) {
      dl.appendChild(el('dt', null, name));
      var dd = el('dd');
      if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
      dl.appendChild(dd);
    }
    var u = el('code', null, w.url);
    fact('URL', u);
    fact('Id', el('code', null, w.id));
    var st = el('span');
    st.appendChild(statusPill(w));
    fact('Status', st);
    if (w.failingSince) fact('Failing since', SY.timeEl(w.failingSince));
    fact('Timeout', w.timeoutSeconds + ' s');
    var hn = Object.keys(w.headers || {});
    fact('Custom headers', hn.length ? hn.join(', ') + ' (values hidden)' : 'None');
    if (w.previousSecretExpiresAt && Date.parse(w.previousSecretExpiresAt) > Date.now()) {
      var g = el('span', null, 'Signed with the previous secret too until ');
      g.appendChild(SY.timeEl(w.previousSecretExpiresAt));
      fact('Secret rotation', g);
    }
    detailFacts.appendChild(dl);

    // Why the server disabled it, and the way back.
    if (!w.enabled) {
      var box = el('div', w.disabledReason ? 'sy-error sy-wh-disabled' : 'sy-wh-disabled sy-muted');
      box.appendChild(el('p', null, w.disabledReason
        ? 'The server disabled this webhook: ' + w.disabledReason + '. Fix the receiver, then enable it again; ' +
          'failed deliveries can be retried below.'
        : 'This webhook is disabled: it receives no deliveries.'));
      var again = button('Enable again', null, 'Enable again ' + hostPath(w.url));
      box.appendChild(again);
      again.addEventListener('click', function () {
        setEnabled(w, true, again).then(function () { detailTitle.focus(); });
      });
      detailFacts.appendChild(box);
    }
    var tools = el('div', 'sy-actions sy-wh-tools');
    var rotate = button('Rotate signing secret', 'sy-button-secondary', 'Rotate the signing secret of ' + hostPath(w.url));
    var holder = el('span', 'sy-row-actions');
    holder.appendChild(rotate);
    tools.appendChild(holder);
    detailFacts.appendChild(tools);
    rotate.addEventListener('click', function () {
      SY.confirmStep(holder, 'Messages are signed with both secrets for 24 hours.', 'Rotate now', 'Cancel',
        'the signing secret of ' + hostPath(w.url), rotate, function (restore) {
          SY.mutate('rotateWebhookSecret', 'RotateWebhookSecretInput', { id: w.id }, 'secret webhook { id url }').then(function (p) {
            restore(false);
            showBox(errorBox, '');
            SY.onceDialog({
              title: 'New signing secret of ' + hostPath(p.webhook.url),
              note: 'Give it to the receiver: for 24 hours messages carry signatures with both secrets, then only ' +
                'with this one.',
              value: p.secret, label: 'New webhook signing secret', what: 'secret', focusBack: detailTitle
            });
            load();
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not rotate the secret: ' + errText(e));
          });
        }, 'Rotating…');
    });
    testBtn.disabled = !w.enabled;
    testBtn.title = w.enabled ? '' : 'Enable the webhook to send a test event';
  }

  // ---- deliveries ----
  function loadDeliveries() {
    var g = ++dGen;
    var id = current;
    deliveries = [];
    dParts = {};
    openAttempts = {};
    SY.placeholderRow(dRows, 'Loading…', 7);
    dSummary.textContent = 'Loading deliveries…';
    return SY.gql(DELIVERIES_QUERY, { f: { webhookId: id } }).then(function (data) {
      if (g !== dGen) return;
      deliveries = data.deliveries.nodes;
      renderDeliveries(data.deliveries.totalCount);
    }, function (e) {
      if (g !== dGen) return;
      SY.placeholderRow(dRows, 'The deliveries could not be loaded.', 7);
      dSummary.textContent = 'Could not load the deliveries: ' + e.message;
    });
  }

  function renderDeliveries(total) {
    var failed = deliveries.filter(function (d) { return d.status === 'FAILED'; }).length;
    dSummary.textContent = deliveries.length
      ? (total != null && total > deliveries.length ? 'The newest ' + deliveries.length + ' of ' + total + ' deliveries'
        : plural(deliveries.length, 'delivery', 'deliveries')) + (failed ? ', ' + failed + ' failed' : '') +
        '. New attempts appear as they happen.'
      : 'No deliveries yet. Send a test event to see one arrive.';
    if (!deliveries.length) { dParts = {}; SY.placeholderRow(dRows, 'No deliveries yet.', 7); return; }
    if (dRows.querySelector('.sy-placeholder')) dRows.textContent = '';
    SY.placeRows(dRows, dParts, deliveries, function (d) { return d.id; }, makeDeliveryRow, updateDeliveryRow,
      function (id) { delete openAttempts[id]; });
  }

  function makeDeliveryRow(d) {
    var tr = el('tr');
    tr.dataset.deliveryId = d.id;
    var det = SY.detailRow('wh-attempts-' + d.id, 7);
    return { row: tr, detail: det.detail, cell: det.cell };
  }

  function updateDeliveryRow(parts, d) {
    var sig = JSON.stringify(d);
    parts.d = d;
    if (parts.sig === sig) return;
    parts.sig = sig;
    var tr = parts.row;
    var focused = tr.contains(document.activeElement) ? document.activeElement.textContent : null;
    tr.textContent = '';
    tr.className = d.status === 'FAILED' ? 'sy-row-warn' : '';
    var th = el('th', 'sy-time');
    th.scope = 'row';
    th.appendChild(SY.timeEl(d.createdAt));
    tr.appendChild(th);
    var ev = el('td');
    ev.appendChild(el('code', null, d.eventType));
    tr.appendChild(ev);
    var st = el('td', 'sy-dlv-status');
    st.appendChild(dlvChip(d.status));
    // "HTTP 500" says no more than the HTTP column: only other reasons (timeout, refused) show.
    if (d.lastError && d.status !== 'SUCCEEDED' && d.lastError !== 'HTTP ' + d.lastStatusCode) {
      var err = el('span', 'sy-trunc sy-trunc-error sy-oauth-desc', d.lastError);
      err.title = d.lastError;
      st.appendChild(err);
    }
    tr.appendChild(st);
    tr.appendChild(d.lastStatusCode == null ? SY.dashCell(el('td', 'sy-num')) : el('td', 'sy-num', d.lastStatusCode));
    var last = d.attemptLog && d.attemptLog.nodes[0];
    tr.appendChild(last ? el('td', 'sy-num', msText(last.responseTimeMs)) : SY.dashCell(el('td', 'sy-num')));
    tr.appendChild(el('td', 'sy-num', d.attempts));
    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions sy-row-actions-inline');
    var att = button('Attempts', 'sy-button-secondary', 'Attempts of ' + d.eventType + ' delivery ' + d.id);
    att.setAttribute('aria-expanded', String(!!openAttempts[d.id]));
    att.setAttribute('aria-controls', 'wh-attempts-' + d.id);
    holder.appendChild(att);
    att.addEventListener('click', function () {
      if (openAttempts[d.id]) {
        delete openAttempts[d.id];
        parts.detail.hidden = true;
        att.setAttribute('aria-expanded', 'false');
      } else {
        openAttempts[d.id] = true;
        att.setAttribute('aria-expanded', 'true');
        showAttempts(parts, true);
      }
    });
    if (d.status === 'FAILED' || d.status === 'CANCELLED') {
      var retry = button('Retry', null, 'Retry delivery ' + d.id);
      holder.appendChild(retry);
      retry.addEventListener('click', function () { retryOne(parts.d, retry); });
    }
    td.appendChild(holder);
    tr.appendChild(td);
    if (focused) {
      var again = Array.prototype.find.call(holder.querySelectorAll('button'), function (b) { return b.textContent === focused; });
      (again || att).focus();
    }
  }

  function retryOne(d, btn) {
    btn.disabled = true;
    SY.mutate('retryDelivery', 'RetryDeliveryInput', { id: d.id }, 'delivery { ' + DLV_FIELDS + ' }').then(function (p) {
      dLive.textContent = 'Delivery ' + d.id + ' queued again.';
      upsertDelivery(p.delivery, false);
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not retry ' + d.id + ': ' + errText(e));
    });
  }

  // A delivery read again: its row updated in place, or added at the top.
  function upsertDelivery(d, fresh) {
    if (!d || d.webhookId !== current) return;
    var i = -1;
    deliveries.forEach(function (x, j) { if (x.id === d.id) i = j; });
    if (i >= 0) deliveries[i] = d;
    else {
      deliveries.unshift(d);
      deliveries.sort(function (a, b) { return a.id < b.id ? 1 : -1; });
      if (deliveries.length > MAX_DELIVERIES) deliveries.length = MAX_DELIVERIES;
    }
    renderDeliveries(null);
    var parts = dParts[d.id];
    if (parts && fresh) {
      parts.row.classList.add('sy-row-new');
      setTimeout(function () { parts.row.classList.remove('sy-row-new'); }, 4000);
    }
    if (parts && openAttempts[d.id]) showAttempts(parts, false);
  }

  function showAttempts(parts, focus) {
    var d = parts.d;
    parts.detail.hidden = false;
    if (!parts.cell.firstChild) parts.cell.appendChild(el('p', 'sy-muted sy-small', 'Loading attempts…'));
    SY.gql(ATTEMPTS_QUERY, { id: d.id }).then(function (data) {
      renderAttempts(parts, data.delivery, focus);
    }, function (e) {
      parts.cell.textContent = '';
      parts.cell.appendChild(el('p', 'sy-inline-error', 'Could not load the attempts: ' + e.message));
    });
  }

  function renderAttempts(parts, dl, focus) {
    var cell = parts.cell;
    cell.textContent = '';
    var box = el('div', 'sy-oauth-authz sy-attempts');
    var h = el('h4', null, 'Delivery ' + parts.d.id);
    h.id = 'wh-attempts-title-' + parts.d.id;
    h.tabIndex = -1;
    box.appendChild(h);
    if (!dl) { box.appendChild(el('p', 'sy-muted sy-small', 'This delivery no longer exists.')); cell.appendChild(box); return; }
    var cols = el('div', 'sy-attempt-cols');
    var left = el('div');
    left.appendChild(el('h5', null, 'Payload'));
    left.appendChild(SY.jsonBlock(dl.payload, 'Payload of ' + dl.id));
    cols.appendChild(left);
    var right = el('div');
    right.appendChild(el('h5', null, 'Attempts, newest first'));
    var list = el('ol', 'sy-run-steps sy-attempt-list');
    if (!dl.attemptLog.nodes.length) right.appendChild(el('p', 'sy-muted sy-small', 'No attempt yet.'));
    dl.attemptLog.nodes.forEach(function (a) {
      var li = el('li', 'sy-run-step');
      li.dataset.status = a.success ? 'SUCCEEDED' : 'FAILED';
      li.dataset.attemptId = a.id;
      var head = el('div', 'sy-run-step-head');
      head.appendChild(el('span', 'sy-run-step-no', 'Attempt ' + a.attempt));
      head.appendChild(SY.timeEl(a.createdAt));
      head.appendChild(el('span', a.success ? 'sy-result-ok' : 'sy-inline-error',
        (a.success ? '✓ delivered' : '✗ failed') + (a.responseCode != null ? ' · HTTP ' + a.responseCode : '')));
      head.appendChild(el('span', 'sy-run-step-facts', msText(a.responseTimeMs)));
      li.appendChild(head);
      if (a.error && a.error !== 'HTTP ' + a.responseCode) li.appendChild(el('p', 'sy-run-step-error sy-inline-error', a.error));
      var req = el('details', 'sy-callback sy-attempt-part');
      req.appendChild(el('summary', null, 'Request headers'));
      var table = el('table', 'sy-table sy-headers-table');
      table.appendChild(el('caption', 'sy-visually-hidden', 'Request headers of attempt ' + a.attempt));
      var tb = el('tbody');
      Object.keys(a.requestHeaders || {}).forEach(function (k) {
        var tr = el('tr');
        var th = el('th', null, k);
        th.scope = 'row';
        tr.appendChild(th);
        var v = String(a.requestHeaders[k]);
        var td = el('td');
        td.appendChild(el(v === '<redacted>' ? 'em' : 'code', v === '<redacted>' ? 'sy-muted' : null,
          v === '<redacted>' ? 'redacted' : v));
        tr.appendChild(td);
        tb.appendChild(tr);
      });
      table.appendChild(tb);
      req.appendChild(table);
      li.appendChild(req);
      var res = el('details', 'sy-callback sy-attempt-part');
      res.open = !a.success;
      res.appendChild(el('summary', null, 'Response' + (a.responseCode != null ? ' (HTTP ' + a.responseCode + ')' : '')));
      res.appendChild(a.responseBody ? SY.jsonBlock(a.responseBody, 'Response body of attempt ' + a.attempt)
        : el('p', 'sy-muted sy-small', 'No body.'));
      li.appendChild(res);
      list.appendChild(li);
    });
    right.appendChild(list);
    cols.appendChild(right);
    box.appendChild(cols);
    cell.appendChild(box);
    if (focus) h.focus();
  }

  // ---- test event, retry all ----
  testBtn.addEventListener('click', function () {
    var w = byId[current];
    if (!w) return;
    testBtn.disabled = true;
    testResult.className = '';
    testResult.textContent = 'Sending…';
    SY.mutate('testWebhook', 'TestWebhookInput', { id: w.id },
      'attempt { id deliveryId attempt success responseCode responseTimeMs error }').then(function (p) {
      var a = p.attempt;
      testResult.className = a.success ? 'sy-result-ok' : 'sy-inline-error';
      testResult.textContent = 'Test sent: ' + (a.success ? 'delivered' : 'failed') +
        (a.responseCode != null ? ', HTTP ' + a.responseCode : '') + ' in ' + msText(a.responseTimeMs) +
        (a.error && !a.success && a.responseCode == null ? ' (' + a.error + ')' : '') + '.';
      onAttempt({ deliveryId: a.deliveryId, webhookId: w.id, attempt: a.attempt, success: a.success });
    }, function (e) {
      testResult.className = 'sy-inline-error';
      testResult.textContent = 'Not sent: ' + e.message;
    }).then(function () { testBtn.disabled = !(byId[current] && byId[current].enabled); });
  });

  retryForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var w = byId[current];
    if (!w) return;
    var since = SY.localToIso(retrySince.value);
    if (retrySince.value && !since) {
      retryResult.className = 'sy-inline-error';
      retryResult.textContent = 'Not a date and time.';
      retrySince.setAttribute('aria-invalid', 'true');
      retrySince.focus();
      return;
    }
    retrySince.removeAttribute('aria-invalid');
    retryAllBtn.disabled = true;
    retryResult.className = '';
    retryResult.textContent = 'Queueing…';
    SY.mutate('retryFailedDeliveries', 'RetryFailedDeliveriesInput', { webhookId: w.id, since: since }, 'retried')
      .then(function (p) {
        retryResult.textContent = p.retried ? plural(p.retried, 'failed delivery', 'failed deliveries') + ' queued again.'
          : 'No failed delivery' + (since ? ' since then.' : '.');
        if (p.retried) loadDeliveries();
      }, function (e) {
        retryResult.className = 'sy-inline-error';
        retryResult.textContent = 'Not retried: ' + e.message;
      }).then(function () { retryAllBtn.disabled = false; });
  });

  // ---- live: every attempt of every webhook ----
  var pendingReads = {};
  function onAttempt(a) {
    if (feed) feed.touched();
    loadSoon();   // health (failing since, last success, disabled) may have changed
    if (a.webhookId !== current) return;
    // An attempt heard while its delivery is being read: read it once more
    // afterwards, so the row ends on the newest state.
    if (pendingReads[a.deliveryId]) { pendingReads[a.deliveryId] = 'again'; return; }
    readDelivery(a, !dParts[a.deliveryId]);
  }

  function readDelivery(a, fresh) {
    pendingReads[a.deliveryId] = true;
    var g = dGen;
    var done = function () {
      var again = pendingReads[a.deliveryId] === 'again';
      delete pendingReads[a.deliveryId];
      if (again && g === dGen) readDelivery(a, false);
    };
    SY.gql(DELIVERY_QUERY, { id: a.deliveryId }).then(function (data) {
      if (g === dGen && data.delivery) {
        upsertDelivery(data.delivery, fresh);
        if (fresh) dLive.textContent = 'New delivery: ' + data.delivery.eventType + ', ' +
          (a.success ? 'delivered' : 'failed') + '.';
      }
      done();
    }, done);
  }

  var feed = SY.liveFeed({
    area: 'webhooks', pill: $('wh-status'), updated: $('wh-updated'), errorBox: errorBox, what: 'the delivery log',
    query: LOGS_SUBSCRIPTION, field: 'deliveryLogs', onData: onAttempt,
    onConnected: function (again) {
      if (again) { load(); if (current) loadDeliveries(); }
      feed.setStatus('live');
    }
  });
  setInterval(function () { feed.renderUpdated(); }, 5000);

  // ================= start =================
  SY.whenShown('webhooks', function () {
    SY.viewer().then(function (v) {
      if (!v) return;
      panel.hidden = false;
      if (v.role !== 'OWNER') { ownersOnlyView(); return; }
      body.hidden = false;
      SY.gql(TYPES_QUERY).then(function (data) { catalog = data.eventTypes; }, function () { catalog = []; })
        .then(function () {
          buildCreateForm();
          return load();
        }).then(function () { feed.start(); });
    });
  });
})();
