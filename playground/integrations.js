// The console's Integrations area (issue 23 item 8): the workspace's
// integrations, filtered by service and status and paged, each with its
// status, last error, last test (when, HTTP status, error), last sync,
// items synced and auto-sync; Test, Sync now, the sync-run history of an
// integration (streamed live over the integrationRuns subscription), and
// for owners New / Edit (name, service type, the config form generated
// from the service's JSON Schema by Switchyard.schemaForm, auto-sync and
// its interval ≥ 60 s, the server's field errors next to their fields; a
// service that needs a connection the workspace lacks says so and links
// to the Connections area) and Delete (confirmed). Collaborators test,
// sync and read. Served at /playground/integrations.js; load it after
// /playground/app.js and /playground/vendor/graphql-ws.min.js. It keeps to
// its own <section> of dashboard.html (#integrations-panel, area `integrations`).
(function () {
  'use strict';

  var FIELDS = 'id name serviceType config status settings { autoSync syncIntervalSeconds } lastTestAt ' +
    'lastTestStatusCode lastTestError lastSyncAt lastError itemsSynced createdAt updatedAt';
  var RUN_FIELDS = 'id integrationId trigger status items cursorFrom cursorTo error note createdAt finishedAt';
  var PAGE = 10;
  var RUNS_PAGE = 20;
  var LIST_QUERY = 'query($type: String, $status: IntegrationStatus, $after: String) { integrations(serviceType: $type, ' +
    'status: $status, first: ' + PAGE + ', after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { ' +
    FIELDS + ' } } }';
  var SERVICES_QUERY = 'query { viewer { role } integrationServices { serviceType name direction configSchema ' +
    'secretFields needsConnection connected } }';
  var RUNS_QUERY = 'query($id: ID!) { integration(id: $id) { id runs(first: ' + RUNS_PAGE + ') { totalCount nodes { ' +
    RUN_FIELDS + ' } } } }';
  var RUNS_SUBSCRIPTION = 'subscription { integrationRuns { ' + RUN_FIELDS + ' } }';
  var SEL = 'integration { ' + FIELDS + ' }';

  var STATUS_TEXT = { ACTIVE: 'active', INACTIVE: 'inactive', ERROR: 'error' };
  var RUN_TEXT = { QUEUED: 'queued', RUNNING: 'running', SUCCEEDED: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped',
    PAUSED: 'paused' };
  var FINAL = { SUCCEEDED: true, FAILED: true, SKIPPED: true };

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, gql = SY.gql, mutate = SY.mutate, showBox = SY.showBox;
  var plural = SY.plural, timeEl = SY.timeEl, dashCell = SY.dashCell, button = SY.button;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('integrations-panel');
  var errorBox = $('integrations-error');
  var summary = $('integrations-summary');
  var rows = $('integrations-rows');
  var typeFilter = $('integrations-type');
  var stateFilter = $('integrations-state');
  var newerBtn = $('integrations-newer');
  var olderBtn = $('integrations-older');
  var newSection = $('int-new-section');
  var newForm = $('int-new-form');
  var announce = SY.announcer($('integrations-live'));

  var isOwner = false;
  var services = [];          // integrationServices
  var serviceBy = {};
  var list = [];              // the page shown
  var total = 0;
  var cursors = [null];       // `after` of each page up to the shown one
  var hasOlder = false;
  var rowParts = {};          // integration id → parts

  // ---- small helpers ----
  function shown() {
    return !SY.currentArea || !SY.currentArea() || SY.currentArea() === 'integrations';
  }

  function serviceName(t) {
    return serviceBy[t] ? serviceBy[t].name : t;
  }

  function durationText(ms) {
    if (ms == null) return null;
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (Math.round(ms / 100) / 10) + ' s';
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }

  function everyText(secs) {
    var units = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];
    for (var i = 0; i < units.length; i++) {
      if (secs % units[i][0] === 0) {
        var n = secs / units[i][0];
        return 'Every ' + (n === 1 ? units[i][1] : n + ' ' + units[i][1] + 's');
      }
    }
    return 'Every ' + plural(secs, 'second', 'seconds');
  }

  function pill(text, status, className) {
    var s = el('span', 'sy-pill sy-run-status ' + (className || ''), text);
    s.dataset.status = status;
    return s;
  }

  // A clear sentence, with a link to the Connections area, for a service
  // whose connection the workspace does not have.
  function connectionNotice(svc) {
    var p = el('p', 'sy-int-connect');
    p.appendChild(document.createTextNode(svc.name + ' works through the workspace\'s ' + svc.name +
      ' connection, and the workspace has none yet. Connect ' + svc.name + ' in the '));
    var a = el('a', null, 'Connections area');
    a.href = '#/connections';
    p.appendChild(a);
    p.appendChild(document.createTextNode(' first, then come back here.'));
    return p;
  }

  // ================= the list =================
  function renderSummary() {
    var page = cursors.length;
    if (!list.length) {
      var filtered = typeFilter.value || stateFilter.value;
      summary.textContent = filtered ? 'No integrations match these filters.'
        : 'No integrations yet.' + (isOwner ? ' Create one below.' : '');
      return;
    }
    var first = (page - 1) * PAGE + 1;
    var errors = list.filter(function (i) { return i.status === 'ERROR'; }).length;
    summary.textContent = plural(total, 'integration', 'integrations') +
      (total > PAGE ? ' · ' + first + '–' + (first + list.length - 1) + ' shown' : '') +
      (errors ? ' · ' + errors + ' in error on this page' : '') + '.';
  }

  function render() {
    renderSummary();
    newerBtn.disabled = cursors.length <= 1;
    olderBtn.disabled = !hasOlder;
    // The page buttons only when there is more than one page.
    newerBtn.parentNode.hidden = newerBtn.disabled && olderBtn.disabled;
    if (!list.length) {
      Object.keys(rowParts).forEach(function (id) { stopRuns(rowParts[id]); });
      SY.placeholderRow(rows, typeFilter.value || stateFilter.value ? 'No integrations match.' : 'No integrations yet.', 7);
      rowParts = {};
      return;
    }
    if (rows.querySelector('.sy-placeholder')) { rows.textContent = ''; rowParts = {}; }
    SY.placeRows(rows, rowParts, list, function (i) { return i.id; }, makeRow, updateRow);
  }

  function makeRow(i) {
    var tr = el('tr');
    tr.dataset.integrationId = i.id;
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    var name = el('span', 'sy-oauth-app-name');
    var type = el('span', 'sy-oauth-desc sy-muted');
    th.appendChild(name);
    th.appendChild(type);
    var status = el('td', 'sy-int-status');
    var test = el('td', 'sy-int-test');
    var sync = el('td', 'sy-int-sync');
    var items = el('td', 'sy-num');
    var auto = el('td', 'sy-int-auto');
    [th, status, test, sync, items, auto].forEach(function (td) { tr.appendChild(td); });
    var actionsTd = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    actionsTd.appendChild(holder);
    tr.appendChild(actionsTd);
    var d = SY.detailRow('integration-detail-' + i.id, 7);
    var parts = { id: i.id, row: tr, detail: d.detail, cell: d.cell, name: name, type: type, status: status,
      test: test, sync: sync, items: items, auto: auto, holder: holder, sig: null, mode: null };
    return parts;
  }

  function updateRow(parts, i) {
    parts.integration = i;
    parts.name.textContent = i.name;
    parts.type.textContent = serviceName(i.serviceType);
    parts.status.textContent = '';
    parts.status.appendChild(pill(STATUS_TEXT[i.status] || i.status.toLowerCase(), i.status, 'sy-int-state'));
    if (i.lastError) {
      var e = el('p', 'sy-inline-error sy-int-error', i.lastError);
      parts.status.appendChild(e);
    }
    parts.row.classList.toggle('sy-row-warn', i.status === 'ERROR');

    var t = parts.test;
    t.textContent = '';
    if (!i.lastTestAt) {
      t.appendChild(el('span', 'sy-muted', 'Never'));
    } else {
      t.appendChild(timeEl(i.lastTestAt));
      var ok = !i.lastTestError;
      var code = el('span', ok ? 'sy-int-test-ok' : 'sy-inline-error',
        ' · ' + (i.lastTestStatusCode != null ? 'HTTP ' + i.lastTestStatusCode : 'no answer'));
      t.appendChild(code);
      if (i.lastTestError) t.appendChild(el('p', 'sy-inline-error sy-int-error', i.lastTestError));
    }

    parts.sync.textContent = '';
    if (i.lastSyncAt) parts.sync.appendChild(timeEl(i.lastSyncAt));
    else parts.sync.appendChild(el('span', 'sy-muted', 'Never'));
    parts.items.textContent = String(i.itemsSynced);
    parts.auto.textContent = i.settings.autoSync ? everyText(i.settings.syncIntervalSeconds) : 'Off';
    parts.auto.classList.toggle('sy-muted', !i.settings.autoSync);

    var sig = [isOwner, i.status, i.name].join('|');
    if (sig !== parts.sig && !parts.holder.dataset.confirming) {
      parts.sig = sig;
      fillButtons(parts, i);
    }
    if (parts.mode === 'edit' && parts.editTitle) parts.editTitle.textContent = 'Edit ' + i.name;
  }

  function modeButton(parts, mode, text, label) {
    var b = button(text, 'sy-button-secondary', label);
    b.dataset.mode = mode;
    b.setAttribute('aria-controls', parts.detail.id);
    b.setAttribute('aria-expanded', String(parts.mode === mode));
    b.addEventListener('click', function () {
      if (parts.mode === mode) closeDetail(parts, true);
      else openDetail(parts, mode);
    });
    return b;
  }

  function fillButtons(parts, i) {
    var h = parts.holder;
    var focused = document.activeElement && h.contains(document.activeElement) ? document.activeElement.dataset.mode : null;
    h.textContent = '';
    var test = button('Test', null, 'Test ' + i.name);
    test.dataset.mode = 'test';
    test.addEventListener('click', function () { runTest(parts, test); });
    h.appendChild(test);
    var sync = button('Sync now', 'sy-button-secondary', 'Sync ' + i.name + ' now');
    sync.dataset.mode = 'sync';
    sync.addEventListener('click', function () { syncNow(parts, sync); });
    h.appendChild(sync);
    h.appendChild(modeButton(parts, 'runs', 'Runs', 'Sync runs of ' + i.name));
    if (isOwner) {
      h.appendChild(modeButton(parts, 'edit', 'Edit', 'Edit ' + i.name));
      var del = button('Delete', 'sy-button-danger', 'Delete ' + i.name);
      del.dataset.mode = 'delete';
      del.addEventListener('click', function () { confirmDelete(parts, del); });
      h.appendChild(del);
    }
    if (focused) {
      var again = h.querySelector('[data-mode="' + focused + '"]');
      if (again) again.focus();
    }
  }

  function closeDetail(parts, focus) {
    var opener = parts.holder.querySelector('[data-mode="' + parts.mode + '"]');
    stopRuns(parts);
    parts.mode = null;
    parts.editTitle = null;
    parts.detail.hidden = true;
    parts.cell.textContent = '';
    SY.markExpanded(parts.holder);
    if (focus && opener) opener.focus();
  }

  function openDetail(parts, mode, keepFocus) {
    if (parts.mode) closeDetail(parts, false);
    parts.mode = mode;
    parts.detail.hidden = false;
    SY.markExpanded(parts.holder, function (b) { return b.dataset.mode === mode; });
    if (mode === 'runs') runsView(parts, !keepFocus);
    else if (mode === 'edit') editView(parts);
  }

  // ---- test and sync ----
  function runTest(parts, btn) {
    var i = parts.integration;
    btn.disabled = true;
    btn.textContent = 'Testing…';
    mutate('testIntegration', 'TestIntegrationInput', { id: i.id }, 'ok ' + SEL).then(function (payload) {
      showBox(errorBox, '');
      replace(payload.integration);
      var j = payload.integration;
      announce('Test of ' + i.name + (payload.ok ? ' passed' : ' failed') +
        (j.lastTestStatusCode != null ? ', HTTP ' + j.lastTestStatusCode : '') +
        (j.lastTestError ? ': ' + j.lastTestError : '') + '.');
    }, function (e) {
      showBox(errorBox, 'Could not test ' + i.name + ': ' + e.message);
    }).then(function () {
      btn.disabled = false;
      btn.textContent = 'Test';
    });
  }

  function syncNow(parts, btn) {
    var i = parts.integration;
    btn.disabled = true;
    mutate('syncIntegration', 'SyncIntegrationInput', { id: i.id }, 'run { ' + RUN_FIELDS + ' }').then(function (payload) {
      showBox(errorBox, '');
      announce('Sync of ' + i.name + ' queued.');
      if (parts.mode !== 'runs') openDetail(parts, 'runs', true);
      upsertRun(parts, payload.run, true);
    }, function (e) {
      showBox(errorBox, 'Could not sync ' + i.name + ': ' + e.message);
    }).then(function () {
      btn.disabled = false;
      if (!btn.isConnected) {
        var again = parts.holder.querySelector('[data-mode="sync"]');
        if (again) again.focus();
      }
    });
  }

  function replace(i) {
    list = list.map(function (x) { return x.id === i.id ? i : x; });
    if (rowParts[i.id]) updateRow(rowParts[i.id], i);
    renderSummary();
  }

  function confirmDelete(parts, del) {
    var i = parts.integration;
    if (parts.mode) closeDetail(parts, false);
    SY.confirmStep(parts.holder, 'Its run history goes with it; its schedule stops.', 'Delete now', 'Cancel', i.name, del,
      function (restore) {
        mutate('deleteIntegration', 'DeleteIntegrationInput', { id: i.id }, 'deletedId').then(function () {
          restore(false);
          showBox(errorBox, '');
          announce('Deleted ' + i.name + '.');
          list = list.filter(function (x) { return x.id !== i.id; });
          total = Math.max(0, total - 1);
          render();
          summary.focus();
          load();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + i.name + ': ' + e.message);
        });
      }, 'Deleting…');
  }

  // ---- the sync runs of one integration (live) ----
  function stopRuns(parts) {
    parts.runs = null;
  }

  function runsView(parts, focus) {
    var i = parts.integration;
    parts.cell.textContent = '';
    var box = el('div', 'sy-oauth-authz sy-int-runs');
    var h = el('h4', null, 'Sync runs of ' + i.name);
    h.id = parts.detail.id + '-title';
    h.tabIndex = -1;
    box.appendChild(h);
    var meta = el('div', 'sy-actions sy-log-meta');
    var note = el('span', 'sy-muted', 'Loading…');
    var close = button('Close', 'sy-button-secondary', 'Close the sync runs of ' + i.name);
    close.addEventListener('click', function () { closeDetail(parts, true); });
    meta.appendChild(note);
    meta.appendChild(close);
    box.appendChild(meta);
    var wrap = el('div', 'sy-table-wrap');
    var table = el('table', 'sy-table sy-calls-table sy-int-runs-table');
    table.appendChild(el('caption', 'sy-visually-hidden', 'Sync runs of ' + i.name + ', newest first'));
    var thead = el('thead');
    var htr = el('tr');
    ['Queued', 'Trigger', 'Status', 'Items', 'Events', 'Duration', 'Error'].forEach(function (t, n) {
      var th = el('th', n === 3 || n === 5 ? 'sy-num' : null, t);
      th.scope = 'col';
      htr.appendChild(th);
    });
    thead.appendChild(htr);
    table.appendChild(thead);
    var tbody = el('tbody');
    table.appendChild(tbody);
    wrap.appendChild(table);
    box.appendChild(wrap);
    parts.cell.appendChild(box);
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); closeDetail(parts, true); }
    });
    var state = { tbody: tbody, note: note, runs: [], byId: {}, total: 0, loaded: false, early: [] };
    parts.runs = state;
    gql(RUNS_QUERY, { id: i.id }).then(function (data) {
      if (parts.runs !== state) return;
      state.loaded = true;
      if (!data.integration) { note.textContent = 'The integration is gone.'; return; }
      state.total = data.integration.runs.totalCount;
      data.integration.runs.nodes.forEach(function (r) {
        if (!state.byId[r.id]) { state.byId[r.id] = r; state.runs.push(r); }
      });
      // News that came while the list loaded wins.
      state.early.forEach(function (r) { upsertRun(parts, r, false); });
      state.early = [];
      drawRuns(parts);
    }, function (e) {
      note.textContent = 'Could not load the runs: ' + e.message;
    });
    if (focus) h.focus();
  }

  function upsertRun(parts, r, mine) {
    var state = parts.runs;
    if (!state) return;
    if (!state.loaded) { state.early.push(r); return; }
    var before = state.byId[r.id];
    // The mutation's answer may come after the subscription told of later states.
    if (before && FINAL[before.status] && !FINAL[r.status]) return;
    if (before && before.status === 'RUNNING' && r.status === 'QUEUED') return;
    // A run paused at once: the Sync now answer (QUEUED) may come after it.
    // (A QUEUED heard live after PAUSED is a resume, and is shown.)
    if (mine && before && before.status === 'PAUSED' && r.status === 'QUEUED') return;
    state.byId[r.id] = r;
    if (before) state.runs[state.runs.indexOf(before)] = r;
    else { state.runs.unshift(r); state.total += 1; }
    state.runs.sort(function (a, b) { return a.id < b.id ? 1 : a.id > b.id ? -1 : 0; });
    drawRuns(parts);
    if (!mine && (!before || before.status !== r.status)) {
      announce('Sync of ' + parts.integration.name + ' ' + (RUN_TEXT[r.status] || r.status) +
        (r.status === 'SUCCEEDED' ? ', ' + plural(r.items, 'item', 'items') : '') +
        (r.error ? ': ' + r.error : '') + '.');
    }
  }

  function drawRuns(parts) {
    var state = parts.runs;
    var tbody = state.tbody;
    var n = state.runs.length;
    state.note.textContent = n ? (state.total > n ? 'The newest ' + n + ' of ' + state.total + ' runs'
      : plural(n, 'run', 'runs')) + ' · updated live' : 'No runs yet: Sync now queues one, and it shows here live.';
    tbody.textContent = '';
    if (!n) { SY.placeholderRow(tbody, 'No runs yet.', 7); return; }
    state.runs.forEach(function (r) {
      var tr = el('tr');
      tr.dataset.runId = r.id;
      tr.dataset.status = r.status;
      var th = el('th');
      th.scope = 'row';
      th.appendChild(timeEl(r.createdAt));
      tr.appendChild(th);
      tr.appendChild(el('td', null, r.trigger === 'SCHEDULE' ? 'schedule' : 'by hand'));
      var st = el('td');
      st.appendChild(pill(RUN_TEXT[r.status] || r.status.toLowerCase(), r.status, 'sy-run-status-small'));
      tr.appendChild(st);
      tr.appendChild(el('td', 'sy-num', String(r.items)));
      var cur = el('td', 'sy-int-cursor');
      if (r.cursorTo && r.cursorTo !== r.cursorFrom) {
        var c = el('code', null, r.cursorTo);
        c.title = 'Sent the events after ' + (r.cursorFrom || 'the start') + ' up to ' + r.cursorTo;
        cur.appendChild(el('span', 'sy-muted', 'up to '));
        cur.appendChild(c);
      } else {
        dashCell(cur);
      }
      tr.appendChild(cur);
      var dur = el('td', 'sy-num');
      if (r.finishedAt) dur.textContent = durationText(Math.max(0, Date.parse(r.finishedAt) - Date.parse(r.createdAt)));
      else dashCell(dur);
      tr.appendChild(dur);
      var err = el('td', 'sy-conn-error');
      if (r.error) {
        var t = el('span', 'sy-trunc sy-trunc-error', r.error);
        t.title = r.error;
        err.appendChild(t);
      } else if (r.note) {
        // A run that did not fail but has something to tell (a bound, held-back deletions, a skip, a pause).
        var n = el('span', 'sy-trunc sy-muted', r.note);
        n.title = r.note;
        err.appendChild(n);
      } else {
        dashCell(err);
      }
      tr.appendChild(err);
      tr.classList.toggle('sy-row-warn', r.status === 'FAILED' || r.status === 'PAUSED');
      tbody.appendChild(tr);
    });
  }

  function onRun(r) {
    feed.touched();
    var parts = rowParts[r.integrationId];
    if (parts && parts.mode === 'runs') upsertRun(parts, r, false);
    // An ended (or paused) run moves the integration's last sync, items and status.
    if (FINAL[r.status] || r.status === 'PAUSED') refreshSoon();
  }

  var soon = null;
  function refreshSoon() {
    if (soon) return;
    soon = setTimeout(function () { soon = null; load(); }, 300);
  }

  // ---- the create and edit form ----
  // Builds the fields of an integration form into `form`; `i` is the
  // integration to edit (null: a new one). Returns nothing: it wires submit.
  function integrationForm(form, i, done, onClose) {
    form.textContent = '';
    form.noValidate = true;
    var base = i ? 'int-edit-' + i.id : 'int-new';
    var fieldErrors = {};   // 'name' → error element
    var controls = {};

    function field(key, labelText, control, hintText, optional) {
      var f = el('div', 'sy-field');
      var label = el('label', null, labelText + ' ');
      label.htmlFor = control.id = base + '-' + key.replace(/\./g, '-');
      if (optional) label.appendChild(el('span', 'sy-optional', optional));
      f.appendChild(label);
      f.appendChild(control);
      var ids = [];
      if (hintText) {
        var h = el('p', 'sy-hint', hintText);
        h.id = control.id + '-hint';
        f.appendChild(h);
        ids.push(h.id);
      }
      var err = el('div', 'sy-field-error');
      err.id = control.id + '-error';
      err.hidden = true;
      f.appendChild(err);
      ids.push(err.id);
      control.setAttribute('aria-describedby', ids.join(' '));
      fieldErrors[key] = err;
      controls[key] = control;
      control.addEventListener('input', function () { clearField(key); });
      return f;
    }
    function clearField(key) {
      fieldErrors[key].textContent = '';
      fieldErrors[key].hidden = true;
      controls[key].removeAttribute('aria-invalid');
    }

    var name = el('input');
    name.type = 'text';
    name.maxLength = 100;
    name.autocomplete = 'off';
    name.value = i ? i.name : '';
    form.appendChild(field('name', 'Name', name, null, null));

    var type;
    if (!i) {
      type = el('select', 'sy-select sy-select-wide');
      var groups = { OUTBOUND: el('optgroup'), CONNECTION: el('optgroup') };
      groups.OUTBOUND.label = 'Send the workspace\'s events';
      groups.CONNECTION.label = 'Through a connection';
      services.forEach(function (s) {
        var o = el('option', null, optionText(s));
        o.value = s.serviceType;
        (groups[s.direction] || groups.CONNECTION).appendChild(o);
      });
      type.appendChild(groups.OUTBOUND);
      type.appendChild(groups.CONNECTION);
      form.appendChild(field('serviceType', 'Service', type, null, null));
    } else {
      var fixed = el('p', 'sy-field sy-int-fixed');
      fixed.appendChild(el('span', 'sy-muted', 'Service: '));
      fixed.appendChild(document.createTextNode(serviceName(i.serviceType) + ' '));
      fixed.appendChild(el('code', null, i.serviceType));
      form.appendChild(fixed);
    }
    var notice = el('div', 'sy-int-notice');
    notice.setAttribute('role', 'status');
    form.appendChild(notice);

    var configBox = el('fieldset', 'sy-plain-fieldset sy-int-config');
    configBox.appendChild(el('legend', null, 'Config'));
    form.appendChild(configBox);
    var sf = null;
    function optionText(s) {
      return s.name + (s.needsConnection ? (s.connected ? ' (connected)' : ' — not connected') : '');
    }
    // The notice (and the options' "not connected") from what is known now.
    function drawNotice() {
      var svc = serviceBy[i ? i.serviceType : type.value];
      notice.textContent = '';
      if (svc && svc.needsConnection && !svc.connected) notice.appendChild(connectionNotice(svc));
      if (type) {
        Array.prototype.forEach.call(type.options, function (o) {
          if (serviceBy[o.value]) o.textContent = optionText(serviceBy[o.value]);
        });
      }
    }
    function drawConfig() {
      var t = i ? i.serviceType : type.value;
      var svc = serviceBy[t];
      while (configBox.childNodes.length > 1) configBox.removeChild(configBox.lastChild);
      drawNotice();
      if (!svc) { sf = null; return; }
      sf = SY.schemaForm(configBox, svc.configSchema, { idPrefix: base + '-cfg', values: i ? i.config : undefined,
        secretFields: svc.secretFields });
      if (sf.empty) configBox.appendChild(el('p', 'sy-muted', 'Nothing to set for this service.'));
    }
    if (type) type.addEventListener('change', drawConfig);
    drawConfig();

    var settings = el('fieldset', 'sy-field sy-plain-fieldset sy-int-settings');
    settings.appendChild(el('legend', null, 'Auto-sync'));
    var autoWrap = el('div', 'sy-field sy-checks');
    var autoLabel = el('label');
    var auto = el('input');
    auto.type = 'checkbox';
    auto.id = base + '-auto';
    auto.checked = !!(i && i.settings.autoSync);
    autoLabel.htmlFor = auto.id;
    autoLabel.appendChild(auto);
    autoLabel.appendChild(document.createTextNode(' Sync automatically'));
    autoWrap.appendChild(autoLabel);
    var autoHint = el('p', 'sy-hint', 'Slack and webhooks send the events since the last sync; a connected service ' +
      'needs its config\'s sync (a resource pulled into a data endpoint).');
    autoHint.id = auto.id + '-hint';
    autoWrap.appendChild(autoHint);
    var autoErr = el('div', 'sy-field-error');
    autoErr.id = auto.id + '-error';
    autoErr.hidden = true;
    autoWrap.appendChild(autoErr);
    auto.setAttribute('aria-describedby', autoHint.id + ' ' + autoErr.id);
    fieldErrors['settings.autoSync'] = autoErr;
    controls['settings.autoSync'] = auto;
    auto.addEventListener('change', function () { clearField('settings.autoSync'); });
    settings.appendChild(autoWrap);
    var every = el('input', 'sy-int-interval');
    every.type = 'number';
    every.min = '60';
    every.step = '1';
    every.inputMode = 'numeric';
    every.value = String(i ? i.settings.syncIntervalSeconds : 300);
    settings.appendChild(field('settings.syncIntervalSeconds', 'Sync interval', every,
      'In seconds, at least 60 (300 = every 5 minutes).', '(seconds)'));
    form.appendChild(settings);

    var status = null;
    if (i) {
      status = el('select', 'sy-select sy-select-wide');
      [['ACTIVE', 'Active'], ['INACTIVE', 'Inactive: no auto-sync, no sync']].forEach(function (s) {
        var o = el('option', null, s[1]);
        o.value = s[0];
        status.appendChild(o);
      });
      status.value = i.status === 'INACTIVE' ? 'INACTIVE' : 'ACTIVE';
      status.dataset.initial = status.value;
      form.appendChild(field('status', 'Status', status, i.status === 'ERROR'
        ? 'It is in error since its last sync failed; the next good sync makes it active again.' : null, null));
    }

    var box = SY.formErrorBox();
    form.appendChild(box);
    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', i ? 'Save changes' : 'Create integration');
    submit.type = 'submit';
    row.appendChild(submit);
    if (onClose) {
      var close = button('Close', 'sy-button-secondary', 'Close the form of ' + i.name);
      close.addEventListener('click', onClose);
      row.appendChild(close);
    }
    var result = el('span');
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');
    row.appendChild(result);
    form.appendChild(row);

    form.onsubmit = function (ev) {
      ev.preventDefault();
      showBox(box, '');
      result.className = '';
      result.textContent = '';
      Object.keys(fieldErrors).forEach(clearField);
      var cfg = sf ? sf.value() : { ok: true, value: {} };
      if (!cfg.ok) return;
      var secs = Number(every.value);
      if (!every.value.trim() || !isFinite(secs) || Math.floor(secs) !== secs) {
        showField('settings.syncIntervalSeconds', 'Give a whole number of seconds (at least 60).');
        controls['settings.syncIntervalSeconds'].focus();
        return;
      }
      var input = { name: name.value, config: cfg.value, settings: { autoSync: auto.checked, syncIntervalSeconds: secs } };
      var call;
      if (i) {
        input.id = i.id;
        // Only a status the user changed: saving an integration in ERROR keeps it so.
        if (status.value !== status.dataset.initial) input.status = status.value;
        call = mutate('updateIntegration', 'UpdateIntegrationInput', input, SEL);
      } else {
        input.serviceType = type.value;
        call = mutate('createIntegration', 'CreateIntegrationInput', input, SEL);
      }
      submit.disabled = true;
      result.textContent = i ? 'Saving…' : 'Creating…';
      call.then(function (payload) {
        result.textContent = '';
        done(payload.integration);
      }, function (e) {
        result.className = 'sy-inline-error';
        result.textContent = i ? 'Not saved.' : 'Not created.';
        if (!e.userErrors) { showBox(box, e.message); box.focus(); return; }
        var rest = [];
        var first = null;
        var configErrors = [];
        e.userErrors.forEach(function (u) {
          var path = (u.field || []).slice(1).join('.');
          if (path.indexOf('config') === 0 && path !== 'config' && sf) { configErrors.push(u); return; }
          var key = fieldErrors[path] ? path : null;
          if (!key) { rest.push(u.message); return; }
          showField(key, u.message);
          if (key === 'serviceType' && serviceBy[type.value] && serviceBy[type.value].needsConnection) {
            fieldErrors[key].appendChild(connectionNotice(serviceBy[type.value]));
          }
          if (!first) first = key;
        });
        if (configErrors.length) rest = rest.concat(sf.showErrors(configErrors, ['input', 'config']));
        showBox(box, rest.join(' '));
        if (first) controls[first].focus();
        else if (!configErrors.length || rest.length) box.focus();
      }).then(function () { submit.disabled = false; });
    };

    function showField(key, message) {
      var err = fieldErrors[key];
      if (err.textContent) err.appendChild(document.createTextNode(' '));
      err.appendChild(el('span', null, message));
      err.hidden = false;
      controls[key].setAttribute('aria-invalid', 'true');
    }

    return { focus: function () { name.focus(); }, refresh: drawNotice };
  }

  function editView(parts) {
    var i = parts.integration;
    parts.cell.textContent = '';
    var box = el('div', 'sy-oauth-authz');
    var h = el('h4', null, 'Edit ' + i.name);
    h.id = parts.detail.id + '-title';
    box.appendChild(h);
    parts.editTitle = h;
    var form = el('form', 'sy-oauth-form sy-int-form');
    form.setAttribute('aria-labelledby', h.id);
    box.appendChild(form);
    parts.cell.appendChild(box);
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); closeDetail(parts, true); }
    });
    var f = integrationForm(form, i, function (saved) {
      replace(saved);
      announce('Saved ' + saved.name + '.');
      closeDetail(parts, true);
      load();
    }, function () { closeDetail(parts, true); });
    f.focus();
  }

  var newFormParts = null;
  function newFormReset() {
    var f = newFormParts = integrationForm(newForm, null, function (made) {
      announce('Created ' + made.name + '.');
      // Show it: the first page with no filter that would hide it.
      typeFilter.value = '';
      stateFilter.value = '';
      cursors = [null];
      newFormReset();
      load().then(function () {
        var p = rowParts[made.id];
        if (p) {
          p.row.scrollIntoView({ block: 'center' });
          var b = p.holder.querySelector('button');
          if (b) b.focus();
        }
      });
    }, null);
    return f;
  }

  // ================= loading =================
  var LOAD_ERROR = 'Could not load the integrations: ';
  var load = SY.oneAtATime(function () {
    var vars = { type: typeFilter.value || null, status: stateFilter.value || null, after: cursors[cursors.length - 1] };
    return gql(LIST_QUERY, vars).then(function (data) {
      if (errorBox.textContent.indexOf(LOAD_ERROR) === 0) showBox(errorBox, '');
      var c = data.integrations;
      if (!c.nodes.length && cursors.length > 1) {
        // The page emptied (deletes): go back one.
        cursors.pop();
        return load();
      }
      list = c.nodes;
      total = c.totalCount;
      hasOlder = c.pageInfo.hasNextPage;
      olderCursor = c.pageInfo.endCursor;
      feed.touched();
      render();
    }, function (e) {
      if (e.code === 'UNAUTHORIZED' || e.code === 'FORBIDDEN') { feed.stop(e); return; }
      showBox(errorBox, LOAD_ERROR + e.message);
      if (!list.length) SY.placeholderRow(rows, 'The integrations could not be loaded.', 7);
    });
  });
  var olderCursor = null;

  function fillTypeFilter() {
    var keep = typeFilter.value;
    while (typeFilter.options.length > 1) typeFilter.remove(1);
    services.forEach(function (s) {
      var o = el('option', null, s.name);
      o.value = s.serviceType;
      typeFilter.appendChild(o);
    });
    typeFilter.value = serviceBy[keep] ? keep : '';
  }

  function filtersChanged() {
    cursors = [null];
    summary.textContent = 'Loading integrations…';
    load();
  }
  typeFilter.addEventListener('change', filtersChanged);
  stateFilter.addEventListener('change', filtersChanged);
  olderBtn.addEventListener('click', function () {
    if (!hasOlder) return;
    cursors.push(olderCursor);
    load().then(function () { summary.focus(); });
  });
  newerBtn.addEventListener('click', function () {
    if (cursors.length <= 1) return;
    cursors.pop();
    load().then(function () { summary.focus(); });
  });

  var feed = SY.liveFeed({
    area: 'integrations', pill: $('integrations-status'), updated: $('integrations-updated'), errorBox: errorBox, what: 'the integrations',
    query: RUNS_SUBSCRIPTION, field: 'integrationRuns', onData: onRun,
    onConnected: function (again) {
      // After a reconnect, read what changed while the socket was down.
      if (again) {
        load();
        Object.keys(rowParts).forEach(function (id) {
          var p = rowParts[id];
          if (p.mode === 'runs') openDetail(p, 'runs', true);
        });
      }
      feed.setStatus('live');
    }
  });

  function loadServices() {
    return gql(SERVICES_QUERY).then(function (data) {
      isOwner = data.viewer.role === 'OWNER';
      services = data.integrationServices;
      serviceBy = {};
      services.forEach(function (s) { serviceBy[s.serviceType] = s; });
      fillTypeFilter();
    });
  }

  var started = false;
  function start() {
    if (started) return;
    started = true;
    loadServices().then(function () {
      panel.hidden = false;
      newSection.hidden = !isOwner;
      if (isOwner) newFormReset();
      return load();
    }).then(function () {
      feed.start();
      setInterval(function () {
        feed.renderUpdated();
      }, 1000);
      // Changes made elsewhere: read the page again every 30 s while shown.
      setInterval(function () {
        if (!feed.stopped() && shown() && document.visibilityState === 'visible') load();
      }, 30000);
    }, function (e) {
      panel.hidden = false;
      showBox(errorBox, LOAD_ERROR + e.message);
    });
  }

  SY.session().then(function (session) {
    if (!session) return;
    panel.hidden = false;
    if (shown()) start();
    document.addEventListener('sy:area', function (ev) {
      if (!ev.detail || ev.detail.area !== 'integrations') return;
      if (!started) { start(); return; }
      // Connections may have been made meanwhile: the form's notice follows.
      loadServices().then(function () {
        // What was typed stays; only the connection notice follows.
        if (isOwner && newFormParts) newFormParts.refresh();
      });
      load();
    });
  });
})();
