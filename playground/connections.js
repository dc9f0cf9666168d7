// The dashboard's Connections panel (issue 21 item 9, seed 000's
// "connection dashboard"): every connection with its account, status, last
// use, calls in the last 24 h against the provider's quota and success
// rate, live over the connectionStats subscription; a call log per
// connection; Disconnect and Reconnect. Owners also get "Connect a service"
// (the catalog: OAuth services run the real redirect, key and password
// services a small form, incoming webhooks a URL shown once), a test call
// per connection, and the provider settings (the workspace's OAuth client
// and URL overrides). Collaborators see the table read-only.
// Served at /playground/connections.js; load it after /playground/app.js
// and /playground/vendor/graphql-ws.min.js. It keeps to its own <section>
// of dashboard.html (#connections-panel, where /connect/…/callback returns).
(function () {
  'use strict';

  var CONNECTION_FIELDS = 'id provider account status scopes tokenExpiresAt autoRefresh createdAt lastUsedAt';
  var STATS_FIELDS = 'callsLastDay succeededLastDay failedLastDay successRate quotaPerDay usageLabel ' +
    'window { requests perSeconds } windowUsed lastUsedAt';
  var ENTRY = '{ connection { ' + CONNECTION_FIELDS + ' } stats { ' + STATS_FIELDS + ' } }';
  var STATS_QUERY = 'query { connectionStats ' + ENTRY + ' }';
  var STATS_SUBSCRIPTION = 'subscription { connectionStats(intervalSeconds: 5) ' + ENTRY + ' }';
  var VIEWER_QUERY = 'query { viewer { role } }';
  var PROVIDERS_QUERY = 'query { providers { key name category authKind defaultScopes apiBaseUrl ' +
    'rateLimit { requests perSeconds per source } rateLimitNote } }';
  var SETTINGS_FIELDS = 'provider clientId clientSecret authorizeUrl tokenUrl apiBaseUrl ' +
    'rateLimit { requests perSeconds } updatedAt';
  var SETTINGS_QUERY = 'query { providerSettings { ' + SETTINGS_FIELDS + ' } }';
  var CALLS_QUERY = 'query($id: ID!) { connection(id: $id) { id calls(first: 10) { edges { node { ' +
    'id method path status httpStatus attempts durationMs queuedMs error createdAt } } } } }';
  var USER_ERRORS = 'userErrors { field message code }';
  var START_MUTATION = 'mutation($input: StartConnectionInput!) { startConnection(input: $input) { ' +
    'authorizeUrl ' + USER_ERRORS + ' } }';
  var CREATE_MUTATION = 'mutation($input: CreateConnectionInput!) { createConnection(input: $input) { ' +
    'incomingUrl connection { id provider account } ' + USER_ERRORS + ' } }';
  var DELETE_MUTATION = 'mutation($input: DeleteConnectionInput!) { deleteConnection(input: $input) { ' +
    'deletedId ' + USER_ERRORS + ' } }';
  var CALL_MUTATION = 'mutation($input: CallConnectionInput!) { callConnection(input: $input) { ' +
    'call { id status httpStatus attempts durationMs error } ' + USER_ERRORS + ' } }';
  var SETTINGS_MUTATION = 'mutation($input: SetProviderSettingsInput!) { setProviderSettings(input: $input) { ' +
    'providerSettings { ' + SETTINGS_FIELDS + ' } ' + USER_ERRORS + ' } }';

  var AUTH_TEXT = { OAUTH2: 'OAuth 2.0', API_KEY: 'API key', BASIC: 'Basic', NONE: 'None' };
  var AUTH_CHIP = { OAUTH2: 'OAuth', API_KEY: 'API key', BASIC: 'password', NONE: 'webhook' };
  var CATEGORY_TEXT = { SOCIAL: 'Social', PRODUCTIVITY: 'Productivity', COMMERCE: 'Commerce', CUSTOM: 'Custom' };
  var STATUS_TEXT = { CONNECTED: 'connected', NEEDS_REAUTH: 'needs reauth', DISCONNECTED: 'disconnected' };
  var METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, gql = SY.gql, showBox = SY.showBox, formatTime = SY.formatTime;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('connections-panel');
  var pill = $('connections-status');
  var updated = $('connections-updated');
  var errorBox = $('connections-error');
  var live = $('connections-live');
  var summary = $('connections-summary');
  var rows = $('connections-rows');
  var secretBox = $('connections-secret');
  var secretTitle = $('connections-secret-title');
  var secretValue = $('connections-secret-value');
  var secretCopied = $('connections-secret-copied');

  var catalogSection = $('catalog-section');
  var catalogError = $('catalog-error');
  var catalogRows = $('catalog-rows');

  var isOwner = false;
  var providers = [];           // the catalog, as listed
  var providerByKey = {};
  var settingsByKey = {};       // provider key → its settings (owners only)
  var entries = [];             // the latest connectionStats, newest first
  var rowParts = {};            // connection id → { row, detail, cells…, sig }
  var openCalls = {};           // connection id → true while its call log is open

  // ---- small helpers ----
  var plural = SY.plural, dashCell = SY.dashCell, button = SY.button;
  var userErrorText = SY.userErrorText;
  var announce = SY.announcer(live);

  function fillTime(td, iso, never) {
    td.textContent = '';
    td.className = iso ? '' : 'sy-muted';
    if (!iso) { td.textContent = never; return td; }
    td.appendChild(SY.timeEl(iso));
    return td;
  }

  // 200 per 3600 s → "200 / hour".
  function windowText(requests, seconds) {
    var units = { 1: 'second', 60: 'minute', 3600: 'hour', 86400: 'day' };
    return requests.toLocaleString() + ' / ' + (units[seconds] || seconds + ' s');
  }

  function providerName(key) {
    var p = providerByKey[key];
    return p ? p.name : key;
  }

  function statusBadge(status) {
    var s = el('span', 'sy-pill sy-conn-status', STATUS_TEXT[status] || String(status).toLowerCase());
    s.dataset.status = status;
    return s;
  }

  // The same confirm step as the other panels (app.js): a Cancel button,
  // "Working…" once confirmed.
  function confirmStep(holder, question, confirmText, subject, focusBack, run) {
    SY.confirmStep(holder, question, confirmText, 'Cancel', subject, focusBack, run, 'Working…');
  }

  // ---- status pill and "last update" (the live feed's, set up below) ----
  setInterval(function () { feed.renderUpdated(); }, 1000);

  // ---- the shown-once incoming URL ----
  function showSecret(url) {
    secretTitle.textContent = 'Incoming webhook URL';
    secretValue.value = url;
    secretCopied.textContent = '';
    secretBox.hidden = false;
    secretTitle.focus();
  }

  $('connections-secret-copy').addEventListener('click', function () {
    SY.copyField(secretValue, secretCopied, 'URL');
  });

  $('connections-secret-done').addEventListener('click', function () {
    secretValue.value = '';
    secretBox.hidden = true;
    summary.focus();
  });

  // ================= the connections table =================
  function setPlaceholder(text) {
    SY.placeholderRow(rows, text, 7);
    rowParts = {};
  }

  function renderSummary() {
    var n = entries.length;
    if (!n) {
      summary.textContent = 'No connections yet.' + (isOwner ? ' Connect a service below.' : '');
      return;
    }
    var broken = entries.filter(function (e) { return e.connection.status !== 'CONNECTED'; }).length;
    var calls = entries.reduce(function (k, e) { return k + e.stats.callsLastDay; }, 0);
    summary.textContent = plural(n, 'connection', 'connections') +
      (broken ? ' · ' + broken + ' not connected' : '') + ' · ' +
      plural(calls, 'call', 'calls') + ' in the last 24 hours. Figures are updated every 5 seconds.';
  }

  // Draws the latest figures; rows are updated in place (keyed by id), so a
  // focused button, an open confirm step or call log survive an update.
  function renderEntries(list) {
    var before = entries;
    entries = list;
    feed.touched();
    renderSummary();
    if (!list.length) {
      setPlaceholder('No connections yet.');
      openCalls = {};
    } else {
      if (!before.length || rows.querySelector('.sy-placeholder')) { rows.textContent = ''; rowParts = {}; }
      SY.placeRows(rows, rowParts, list, function (e) { return e.connection.id; }, connectionRows, updateRow,
        function (id) { delete openCalls[id]; });
    }
    renderCatalogActions();
  }

  function connectionRows(e) {
    var c = e.connection;
    var name = providerName(c.provider);
    var tr = el('tr');
    tr.dataset.connectionId = c.id;
    tr.dataset.provider = c.provider;

    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    th.appendChild(el('span', 'sy-oauth-app-name', name));
    var p = providerByKey[c.provider];
    if (p) {
      var chip = el('span', 'sy-kind-chip', AUTH_CHIP[p.authKind] || p.authKind);
      chip.dataset.kind = p.authKind === 'OAUTH2' ? 'confidential' : 'public';
      chip.title = 'Signs in with: ' + (AUTH_TEXT[p.authKind] || p.authKind);
      th.appendChild(document.createTextNode(' '));
      th.appendChild(chip);
    }
    tr.appendChild(th);

    var account = el('td', 'sy-conn-account');
    var status = el('td');
    var lastUsed = el('td');
    var usage = el('td', 'sy-num sy-conn-usage');
    var rate = el('td', 'sy-num');
    [account, status, lastUsed, usage, rate].forEach(function (td) { tr.appendChild(td); });

    var actions = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    actions.appendChild(holder);
    tr.appendChild(actions);

    var detailId = 'connection-calls-' + c.id;
    var callsBtn = button('Calls', 'sy-button-secondary', 'Calls through ' + name);
    callsBtn.setAttribute('aria-expanded', 'false');
    callsBtn.setAttribute('aria-controls', detailId);

    var d = SY.detailRow(detailId, 7);
    var detail = d.detail, cell = d.cell;

    var parts = {
      id: c.id, row: tr, detail: detail, cell: cell, callsBtn: callsBtn, holder: holder,
      account: account, status: status, lastUsed: lastUsed, usage: usage, rate: rate,
      actionsSig: null, callsSig: null, log: null
    };
    callsBtn.addEventListener('click', function () {
      if (detail.hidden) {
        openCalls[c.id] = true;
        openCallLog(parts, true);
      } else {
        delete openCalls[c.id];
        detail.hidden = true;
        callsBtn.setAttribute('aria-expanded', 'false');
      }
    });
    return parts;
  }

  function updateRow(parts, e) {
    var c = e.connection, s = e.stats;
    parts.entry = e;
    parts.account.textContent = c.account;

    parts.status.textContent = '';
    var badge = statusBadge(c.status);
    if (c.status === 'NEEDS_REAUTH') badge.title = 'The provider refused the stored credentials: reconnect to use it again.';
    parts.status.appendChild(badge);
    parts.row.classList.toggle('sy-row-warn', c.status !== 'CONNECTED');

    fillTime(parts.lastUsed, s.lastUsedAt || c.lastUsedAt, 'Never');

    parts.usage.textContent = s.usageLabel;
    parts.usage.title = s.succeededLastDay + ' succeeded, ' + s.failedLastDay + ' failed in the last 24 hours' +
      (s.window ? '; ' + s.windowUsed + ' of ' + windowText(s.window.requests, s.window.perSeconds) +
        ' used in the current window' : '; the provider publishes no quota');

    parts.rate.textContent = '';
    if (s.successRate == null) dashCell(parts.rate);
    else parts.rate.textContent = (Math.round(s.successRate * 1000) / 10) + '%';
    parts.rate.classList.toggle('sy-warn', s.successRate != null && s.successRate < 0.9);

    // Actions change with the status; not while a confirm step is open.
    var sig = c.status + '|' + isOwner;
    if (sig !== parts.actionsSig && !parts.holder.dataset.confirming) {
      parts.actionsSig = sig;
      fillActions(parts, c);
    }

    // An open call log follows new calls.
    var callsSig = s.callsLastDay + '|' + (s.lastUsedAt || '');
    if (callsSig !== parts.callsSig) {
      var first = parts.callsSig === null;
      parts.callsSig = callsSig;
      if (openCalls[c.id] && !first) openCallLog(parts, false);
    }
    if (openCalls[c.id] && parts.detail.hidden) openCallLog(parts, false);
  }

  function fillActions(parts, c) {
    var holder = parts.holder;
    var name = providerName(c.provider);
    holder.textContent = '';
    holder.appendChild(parts.callsBtn);
    if (!isOwner) return;
    var p = providerByKey[c.provider];
    if (c.status !== 'CONNECTED' && p && p.authKind === 'OAUTH2') {
      var again = button('Reconnect', null, 'Reconnect ' + name);
      holder.appendChild(again);
      again.addEventListener('click', function () {
        startOAuth(c.provider, again, function (message) { showBox(errorBox, 'Could not reconnect ' + name + ': ' + message); });
      });
    }
    var del = button('Disconnect', 'sy-button-danger', 'Disconnect ' + name);
    holder.appendChild(del);
    del.addEventListener('click', function () { confirmDisconnect(c, holder, del); });
  }

  function confirmDisconnect(c, holder, del) {
    var name = providerName(c.provider);
    confirmStep(holder, 'Its credentials are forgotten; actions using it stop.', 'Disconnect now',
      name + ' (' + c.account + ')', del, function (restore) {
        gql(DELETE_MUTATION, { input: { id: c.id } }).then(function (data) {
          var p = data.deleteConnection;
          if (p.userErrors.length) {
            restore(true);
            showBox(errorBox, 'Could not disconnect ' + name + ': ' + userErrorText(p.userErrors));
            return;
          }
          restore(false);
          showBox(errorBox, '');
          delete openCalls[c.id];
          announce('Disconnected ' + name + ' (' + c.account + ').');
          summary.focus();
          refresh();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not disconnect ' + name + ': ' + e.message);
        });
      });
  }

  // ---- one connection's call log (and, for owners, a test call) ----
  function openCallLog(parts, focus) {
    parts.detail.hidden = false;
    parts.callsBtn.setAttribute('aria-expanded', 'true');
    var cell = parts.cell;
    if (!cell.firstChild) cell.appendChild(el('p', 'sy-muted sy-small', 'Loading calls…'));
    gql(CALLS_QUERY, { id: parts.id }).then(function (data) {
      renderCallLog(parts, data.connection, focus);
    }, function (e) {
      var box = logBox(parts);
      box.list.textContent = '';
      box.list.appendChild(el('p', 'sy-inline-error', 'Could not load the calls: ' + e.message));
    });
  }

  // The log's frame, made once per open row: heading, list holder, call form.
  function logBox(parts) {
    if (parts.log && parts.log.box.parentNode === parts.cell) return parts.log;
    var c = parts.entry.connection;
    var name = providerName(c.provider);
    parts.cell.textContent = '';
    var box = el('div', 'sy-oauth-authz sy-conn-log');
    var h = el('h4', null, 'Last calls through ' + name + ' (' + c.account + ')');
    h.id = 'connection-calls-title-' + c.id;
    h.tabIndex = -1;
    box.appendChild(h);
    var list = el('div');
    box.appendChild(list);
    parts.log = { box: box, heading: h, list: list };
    if (isOwner) box.appendChild(callForm(parts));
    parts.cell.appendChild(box);
    return parts.log;
  }

  function renderCallLog(parts, conn, focus) {
    var box = logBox(parts);
    var list = box.list;
    list.textContent = '';
    var calls = conn ? conn.calls.edges.map(function (e) { return e.node; }) : [];
    if (!calls.length) {
      list.appendChild(el('p', 'sy-muted sy-small', conn ? 'No calls yet.' : 'The connection no longer exists.'));
    } else {
      var table = el('table', 'sy-table sy-authz-table sy-calls-table');
      table.setAttribute('aria-labelledby', box.heading.id);
      var head = el('tr');
      [['Time'], ['Method'], ['Path'], ['Result'], ['HTTP', 'sy-num'], ['Attempts', 'sy-num'],
        ['Duration', 'sy-num'], ['Error']].forEach(function (t) {
        var th = el('th', t[1] || null, t[0]);
        th.scope = 'col';
        head.appendChild(th);
      });
      var thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = el('tbody');
      calls.forEach(function (k) { tbody.appendChild(callRow(k)); });
      table.appendChild(tbody);
      list.appendChild(table);
      if (calls.length >= 10) list.appendChild(el('p', 'sy-muted sy-small', 'The newest 10 calls are shown.'));
    }
    if (focus) box.heading.focus();
  }

  function callRow(k) {
    var tr = el('tr', k.status === 'FAILED' ? 'sy-row-warn' : null);
    tr.dataset.callId = k.id;
    var th = el('th');
    th.scope = 'row';
    fillTime(th, k.createdAt, '—');
    tr.appendChild(th);
    tr.appendChild(el('td', 'sy-mono', k.method));
    var path = el('td');
    var code = el('code', 'sy-trunc sy-trunc-path', k.path);
    code.title = k.path;
    path.appendChild(code);
    tr.appendChild(path);
    var result = el('td');
    var chip = el('span', 'sy-status-chip', String(k.status).toLowerCase());
    chip.dataset.status = k.status === 'SUCCEEDED' ? 'processed' : k.status === 'QUEUED' ? 'queued' : 'failed';
    result.appendChild(chip);
    tr.appendChild(result);
    tr.appendChild(k.httpStatus == null ? dashCell(el('td', 'sy-num')) : el('td', 'sy-num', k.httpStatus));
    tr.appendChild(el('td', 'sy-num', k.attempts));
    var dur = el('td', 'sy-num');
    if (k.durationMs == null) dashCell(dur); else dur.textContent = k.durationMs + ' ms';
    if (k.queuedMs) dur.title = 'Waited ' + k.queuedMs + ' ms for the rate window';
    tr.appendChild(dur);
    var err = el('td', 'sy-conn-error');
    if (k.error) {
      var t = el('span', 'sy-trunc sy-trunc-error', k.error);
      t.title = k.error;
      err.appendChild(t);
    } else {
      dashCell(err);
    }
    tr.appendChild(err);
    return tr;
  }

  // A call through the connection, as an action's "API execute" step makes it.
  function callForm(parts) {
    var c = parts.entry.connection;
    var name = providerName(c.provider);
    var base = 'call-' + c.id;
    var form = el('form', 'sy-call-form');
    form.noValidate = true;
    form.setAttribute('aria-label', 'Make a call through ' + name);
    var row = el('div', 'sy-inline');

    var mLabel = el('label', 'sy-visually-hidden', 'Method');
    mLabel.htmlFor = base + '-method';
    var method = el('select', 'sy-select');
    method.id = base + '-method';
    METHODS.forEach(function (m) { var o = el('option', null, m); o.value = m; method.appendChild(o); });

    var pLabel = el('label', 'sy-visually-hidden', 'Path under the API base URL');
    pLabel.htmlFor = base + '-path';
    var path = el('input', 'sy-mono');
    path.id = base + '-path';
    path.type = 'text';
    path.value = '/';
    path.spellcheck = false;
    path.autocomplete = 'off';
    path.setAttribute('aria-describedby', base + '-result');

    var send = el('button', 'sy-button sy-button-small', 'Send call');
    send.type = 'submit';
    send.setAttribute('aria-label', 'Send call through ' + name);
    var result = el('span', 'sy-call-result');
    result.id = base + '-result';
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');

    [mLabel, method, pLabel, path, send, result].forEach(function (n) { row.appendChild(n); });
    form.appendChild(row);

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      send.disabled = true;
      path.removeAttribute('aria-invalid');
      result.className = 'sy-call-result';
      result.textContent = 'Calling…';
      var input = { connectionId: c.id, method: method.value, path: path.value.trim(), wait: false, timeoutSeconds: 30 };
      gql(CALL_MUTATION, { input: input }).then(function (data) {
        var p = data.callConnection;
        if (p.userErrors.length) {
          result.className = 'sy-call-result sy-inline-error';
          result.textContent = userErrorText(p.userErrors);
          if (p.userErrors.some(function (e) { return e.field && e.field[1] === 'path'; })) {
            path.setAttribute('aria-invalid', 'true');
            path.focus();
          }
          return;
        }
        var k = p.call;
        result.className = 'sy-call-result' + (k.status === 'FAILED' ? ' sy-inline-error' : '');
        result.textContent = String(k.status).toLowerCase() +
          (k.httpStatus != null ? ', HTTP ' + k.httpStatus : '') +
          (k.durationMs != null ? ', ' + k.durationMs + ' ms' : '') +
          (k.error ? ': ' + k.error : '');
        refresh();
        openCallLog(parts, false);
      }, function (e) {
        result.className = 'sy-call-result sy-inline-error';
        result.textContent = e.message;
      }).then(function () { send.disabled = false; });
    });
    return form;
  }

  // ---- figures: HTTP once (and after each change), then live ----
  var LOAD_ERROR = 'Could not load the connections: ';

  var refresh = SY.oneAtATime(function () {
    return gql(STATS_QUERY).then(function (data) {
      if (errorBox.textContent.indexOf(LOAD_ERROR) === 0) showBox(errorBox, '');
      renderEntries(data.connectionStats);
    }, function (e) {
      if (e.code === 'UNAUTHORIZED' || e.code === 'FORBIDDEN') { stopLive(e); return; }
      showBox(errorBox, LOAD_ERROR + e.message);
      if (!entries.length) setPlaceholder('The connections could not be loaded.');
    });
  });

  var feed = SY.liveFeed({
    area: 'connections', pill: pill, updated: updated, errorBox: errorBox, what: 'the connections',
    query: STATS_SUBSCRIPTION, field: 'connectionStats', onData: renderEntries
  });
  var stopLive = feed.stop;

  // ================= Connect a service (owners) =================
  var openConnectForm = null;   // { key, detail, button }

  function loadCatalog() {
    return gql(PROVIDERS_QUERY).then(function (data) {
      providers = data.providers;
      providerByKey = {};
      providers.forEach(function (p) { providerByKey[p.key] = p; });
    }, function (e) {
      showBox(catalogError, 'Could not load the services: ' + e.message);
    });
  }

  function connectedProvider(key) {
    for (var i = 0; i < entries.length; i++) {
      if (entries[i].connection.provider === key) return entries[i].connection;
    }
    return null;
  }

  function rateText(p) {
    if (p.rateLimit) {
      return windowText(p.rateLimit.requests, p.rateLimit.perSeconds) + ' per ' + p.rateLimit.per;
    }
    return null;
  }

  var catalogParts = {};   // provider key → { row, detail, actions }

  function renderCatalog() {
    catalogRows.textContent = '';
    catalogParts = {};
    var byCategory = {};
    providers.forEach(function (p) { (byCategory[p.category] = byCategory[p.category] || []).push(p); });
    Object.keys(CATEGORY_TEXT).forEach(function (cat) {
      (byCategory[cat] || []).forEach(function (p) {
        var tr = el('tr');
        tr.dataset.provider = p.key;
        var th = el('th', 'sy-oauth-name');
        th.scope = 'row';
        th.appendChild(el('span', 'sy-oauth-app-name', p.name));
        if (p.defaultScopes.length) th.appendChild(el('span', 'sy-oauth-desc sy-muted', p.defaultScopes.join(', ')));
        tr.appendChild(th);
        tr.appendChild(el('td', null, CATEGORY_TEXT[p.category] || p.category));
        tr.appendChild(el('td', null, AUTH_TEXT[p.authKind] || p.authKind));
        var rate = rateText(p);
        var rateCell = el('td', rate ? null : 'sy-muted', rate || 'none published');
        rateCell.title = p.rateLimit ? p.rateLimit.source : (p.rateLimitNote || '');
        tr.appendChild(rateCell);
        var actions = el('td', 'sy-catalog-actions');
        tr.appendChild(actions);

        var d = SY.detailRow('connect-form-' + p.key, 5);
        var detail = d.detail, cell = d.cell;
        catalogRows.appendChild(tr);
        catalogRows.appendChild(detail);
        catalogParts[p.key] = { row: tr, detail: detail, cell: cell, actions: actions, sig: null };
      });
    });
    renderCatalogActions();
  }

  // What each service's row offers: Connect, or what it already has.
  function renderCatalogActions() {
    if (!isOwner) return;
    providers.forEach(function (p) {
      var parts = catalogParts[p.key];
      if (!parts) return;
      var c = connectedProvider(p.key);
      var configured = p.authKind !== 'OAUTH2' ||
        !!(settingsByKey[p.key] && settingsByKey[p.key].clientId && settingsByKey[p.key].clientSecret);
      var sig = (c ? c.status : '-') + '|' + configured;
      if (sig === parts.sig) return;
      parts.sig = sig;
      var td = parts.actions;
      td.textContent = '';
      var holder = el('div', 'sy-row-actions');
      td.appendChild(holder);
      if (c) {
        var note = el('span', 'sy-muted sy-small', c.status === 'CONNECTED' ? 'Connected as ' + c.account
          : 'See Reconnect above');
        holder.appendChild(note);
        if (openConnectForm && openConnectForm.key === p.key) closeConnectForm(false);
        return;
      }
      var btn = button('Connect', null, 'Connect ' + p.name);
      holder.appendChild(btn);
      var out = el('span', 'sy-retry-result');
      out.setAttribute('role', 'status');
      if (p.authKind === 'OAUTH2') {
        btn.addEventListener('click', function () {
          out.className = 'sy-retry-result';
          out.textContent = '';
          startOAuth(p.key, btn, function (message) {
            out.className = 'sy-retry-result sy-inline-error';
            out.textContent = message;
          });
        });
        if (!configured) {
          var set = button('Settings', 'sy-button-secondary', 'Provider settings for ' + p.name);
          holder.appendChild(set);
          set.addEventListener('click', function () { editSettings(p.key); });
          out.className = 'sy-retry-result sy-muted';
          out.textContent = 'Set its OAuth client first.';
        }
      } else {
        btn.setAttribute('aria-expanded', 'false');
        btn.setAttribute('aria-controls', parts.detail.id);
        btn.addEventListener('click', function () {
          if (openConnectForm && openConnectForm.key === p.key) closeConnectForm(true);
          else openForm(p, parts, btn);
        });
      }
      td.appendChild(out);
    });
  }

  // startConnection, then the real redirect to the provider.
  function startOAuth(key, btn, onError) {
    btn.disabled = true;
    gql(START_MUTATION, { input: { provider: key } }).then(function (data) {
      var p = data.startConnection;
      if (p.userErrors.length) {
        btn.disabled = false;
        onError(userErrorText(p.userErrors));
        return;
      }
      announce('Going to ' + providerName(key) + ' to sign in…');
      window.location.assign(p.authorizeUrl);
    }, function (e) {
      btn.disabled = false;
      onError(e.message);
    });
  }

  function closeConnectForm(focus) {
    if (!openConnectForm) return;
    var o = openConnectForm;
    openConnectForm = null;
    o.parts.detail.hidden = true;
    o.parts.cell.textContent = '';
    o.button.setAttribute('aria-expanded', 'false');
    if (focus) o.button.focus();
  }

  function field(form, id, labelText, optional, type, hint) {
    var wrap = el('div', 'sy-field');
    var label = el('label', null, labelText);
    label.htmlFor = id;
    if (optional) {
      label.appendChild(document.createTextNode(' '));
      label.appendChild(el('span', 'sy-optional', optional));
    }
    var input = el('input', type === 'password' || type === 'url' ? 'sy-mono' : null);
    input.id = id;
    input.type = type || 'text';
    input.autocomplete = type === 'password' ? 'new-password' : 'off';
    input.spellcheck = false;
    var err = el('p', 'sy-field-error');
    err.id = id + '-error';
    err.hidden = true;
    var described = [];
    wrap.appendChild(label);
    wrap.appendChild(input);
    if (hint) {
      var h = el('p', 'sy-hint', hint);
      h.id = id + '-hint';
      wrap.appendChild(h);
      described.push(h.id);
    }
    described.push(err.id);
    input.setAttribute('aria-describedby', described.join(' '));
    wrap.appendChild(err);
    form.appendChild(wrap);
    input.addEventListener('input', function () {
      if (!input.getAttribute('aria-invalid')) return;
      input.removeAttribute('aria-invalid');
      err.textContent = '';
      err.hidden = true;
    });
    return { input: input, error: err };
  }

  // The small form of a key, password or incoming-webhooks service.
  function openForm(p, parts, btn) {
    closeConnectForm(false);
    openConnectForm = { key: p.key, parts: parts, button: btn };
    btn.setAttribute('aria-expanded', 'true');
    parts.detail.hidden = false;
    var cell = parts.cell;
    cell.textContent = '';
    var box = el('div', 'sy-oauth-authz');
    var h = el('h4', null, (p.authKind === 'NONE' ? 'Create an incoming webhook URL' : 'Connect ' + p.name));
    h.id = 'connect-form-title-' + p.key;
    h.tabIndex = -1;
    box.appendChild(h);
    var form = el('form', 'sy-oauth-form sy-connect-form');
    form.noValidate = true;
    form.setAttribute('aria-labelledby', h.id);
    var base = 'connect-' + p.key;
    var fields = {};
    var needsBase = !p.apiBaseUrl;
    if (p.authKind === 'API_KEY') {
      fields.apiKey = field(form, base + '-api-key', 'API key or token', null, 'password',
        'Stored encrypted; sent as Authorization: Bearer unless a header is named below.');
      fields.headerName = field(form, base + '-header', 'Header name', '(optional, e.g. X-Api-Key)');
    } else if (p.authKind === 'BASIC') {
      fields.username = field(form, base + '-username', 'Username or consumer key');
      fields.password = field(form, base + '-password', 'Password or consumer secret', null, 'password',
        'Stored encrypted; sent with HTTP Basic.');
    } else {
      fields.webhookSecret = field(form, base + '-secret', 'Signing secret', '(optional)', 'password',
        'A whsec_… secret checks Standard Webhooks signatures; any other (16 to 500 characters) an ' +
        'HMAC-SHA256 of the body. Without one, the URL alone admits a request.');
    }
    if (p.authKind !== 'NONE') {
      fields.baseUrl = field(form, base + '-base-url', 'Base URL', needsBase ? null : '(optional: overrides ' +
        p.apiBaseUrl + ')', 'url', needsBase ? 'Where calls go, e.g. https://api.example.com/v1.' : null);
      fields.baseUrl.input.placeholder = needsBase ? 'https://api.example.com/v1' : p.apiBaseUrl;
    }
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', p.authKind === 'NONE' ? 'Create URL' : 'Check and connect');
    submit.type = 'submit';
    var result = el('span');
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');
    var cancel = button('Cancel', 'sy-button-secondary');
    cancel.addEventListener('click', function () { closeConnectForm(true); });
    row.appendChild(submit);
    row.appendChild(cancel);
    row.appendChild(result);
    form.appendChild(row);
    box.appendChild(form);
    cell.appendChild(box);
    var first = fields[Object.keys(fields)[0]];
    if (first) first.input.focus(); else h.focus();

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      Object.keys(fields).forEach(function (k) {
        fields[k].error.textContent = '';
        fields[k].error.hidden = true;
        fields[k].input.removeAttribute('aria-invalid');
      });
      showBox(formError, '');
      var input = { provider: p.key };
      Object.keys(fields).forEach(function (k) {
        var v = fields[k].input.value.trim();
        if (v) input[k] = v;
      });
      submit.disabled = true;
      result.className = '';
      result.textContent = p.authKind === 'NONE' ? 'Creating…' : 'Checking the credentials…';
      gql(CREATE_MUTATION, { input: input }).then(function (data) {
        var r = data.createConnection;
        if (r.userErrors.length) {
          result.className = 'sy-inline-error';
          result.textContent = 'Not connected: ' + plural(r.userErrors.length, 'problem', 'problems') + ' to fix.';
          showFieldErrors(r.userErrors, fields, formError);
          return;
        }
        closeConnectForm(false);
        announce('Connected ' + p.name + ' as ' + r.connection.account + '.');
        if (r.incomingUrl) showSecret(r.incomingUrl);
        else summary.focus();
        refresh();
      }, function (e) {
        SY.formFailed(result, null, 'Not connected.', formError, e.message);
      }).then(function () { submit.disabled = false; });
    });
  }

  // Each user error next to its field (by `field[1]`), the rest above the
  // buttons; the first field at fault gets the focus.
  function showFieldErrors(errors, fields, formError) {
    var first = null;
    var general = [];
    errors.forEach(function (e) {
      var key = e.field && e.field[0] === 'input' ? e.field[1] : null;
      var f = key && fields[key];
      if (!f) { general.push(e.message); return; }
      f.error.appendChild(el('span', null, e.message));
      f.error.hidden = false;
      f.input.setAttribute('aria-invalid', 'true');
      if (!first) first = f.input;
    });
    showBox(formError, general.join(' '));
    if (first) first.focus();
    else if (general.length) formError.focus();
  }

  // ================= Provider settings (owners) =================
  var sSection = $('psettings-section');
  var sForm = $('psettings-form');
  var sPicker = $('psettings-provider');
  var sState = $('psettings-state');
  var sOAuth = $('psettings-oauth');
  var sSecretHint = $('psettings-secret-hint');
  var sFormError = $('psettings-form-error');
  var sResult = $('psettings-result');
  var sSave = $('psettings-save');
  var sFields = {
    clientId: { input: $('psettings-client-id'), error: $('psettings-clientId-error') },
    clientSecret: { input: $('psettings-client-secret'), error: $('psettings-clientSecret-error') },
    authorizeUrl: { input: $('psettings-authorize-url'), error: $('psettings-authorizeUrl-error') },
    tokenUrl: { input: $('psettings-token-url'), error: $('psettings-tokenUrl-error') },
    apiBaseUrl: { input: $('psettings-api-base-url'), error: $('psettings-apiBaseUrl-error') },
    rateLimit: { input: $('psettings-rate-requests'), error: $('psettings-rateLimit-error') }
  };
  var rateSeconds = $('psettings-rate-seconds');
  sFormError.tabIndex = -1;

  function loadSettings() {
    return gql(SETTINGS_QUERY).then(function (data) {
      settingsByKey = {};
      data.providerSettings.forEach(function (s) { settingsByKey[s.provider] = s; });
    }, function (e) {
      showBox(sFormError, 'Could not load the provider settings: ' + e.message);
    });
  }

  function fillPicker() {
    sPicker.textContent = '';
    Object.keys(CATEGORY_TEXT).forEach(function (cat) {
      var group = el('optgroup');
      group.label = CATEGORY_TEXT[cat];
      providers.filter(function (p) { return p.category === cat && p.authKind !== 'NONE'; }).forEach(function (p) {
        var o = el('option', null, p.name + (p.authKind === 'OAUTH2' ? ' (OAuth)' : ''));
        o.value = p.key;
        group.appendChild(o);
      });
      if (group.firstChild) sPicker.appendChild(group);
    });
  }

  function clearSettingsErrors() {
    Object.keys(sFields).forEach(function (k) {
      sFields[k].error.textContent = '';
      sFields[k].error.hidden = true;
      sFields[k].input.removeAttribute('aria-invalid');
    });
    rateSeconds.removeAttribute('aria-invalid');
    showBox(sFormError, '');
  }

  // Shows the picked provider's settings in the form.
  function showSettings() {
    var p = providerByKey[sPicker.value];
    if (!p) return;
    var s = settingsByKey[p.key] || {};
    clearSettingsErrors();
    sResult.textContent = '';
    sOAuth.hidden = p.authKind !== 'OAUTH2';
    sFields.clientId.input.value = s.clientId || '';
    sFields.clientSecret.input.value = '';
    sFields.clientSecret.input.placeholder = s.clientSecret ? s.clientSecret + ' (set: leave empty to keep it)' : '';
    sSecretHint.textContent = s.clientSecret ? 'A secret is set (shown as ' + s.clientSecret + '). Type a new one to replace it.'
      : 'Stored encrypted and never shown again.';
    sFields.authorizeUrl.input.value = s.authorizeUrl || '';
    sFields.authorizeUrl.input.placeholder = '';
    sFields.tokenUrl.input.value = s.tokenUrl || '';
    sFields.apiBaseUrl.input.value = s.apiBaseUrl || '';
    sFields.apiBaseUrl.input.placeholder = p.apiBaseUrl || '';
    sFields.rateLimit.input.value = s.rateLimit ? s.rateLimit.requests : '';
    rateSeconds.value = s.rateLimit ? s.rateLimit.perSeconds : '';
    sFields.rateLimit.input.placeholder = p.rateLimit ? String(p.rateLimit.requests) : 'calls';
    rateSeconds.placeholder = p.rateLimit ? String(p.rateLimit.perSeconds) : 'seconds';
    var bits = [];
    if (p.authKind === 'OAUTH2') {
      bits.push(s.clientId && s.clientSecret ? 'OAuth client set' : 'No OAuth client yet: Connect needs one');
    }
    if (s.updatedAt) bits.push('last changed ' + formatTime(s.updatedAt));
    sState.textContent = bits.join(' · ');
  }

  function editSettings(key) {
    sPicker.value = key;
    showSettings();
    $('psettings-title').scrollIntoView({ block: 'start' });
    sFields.clientId.input.focus();
  }

  sPicker.addEventListener('change', showSettings);

  sForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearSettingsErrors();
    var p = providerByKey[sPicker.value];
    if (!p) return;
    var v = function (k) { return sFields[k].input.value.trim() || null; };
    var input = { provider: p.key, apiBaseUrl: v('apiBaseUrl') };
    if (p.authKind === 'OAUTH2') {
      input.clientId = v('clientId');
      input.authorizeUrl = v('authorizeUrl');
      input.tokenUrl = v('tokenUrl');
      if (v('clientSecret')) input.clientSecret = v('clientSecret');
    }
    var req = sFields.rateLimit.input.value.trim(), secs = rateSeconds.value.trim();
    if (req || secs) {
      if (!/^\d+$/.test(req) || !/^\d+$/.test(secs)) {
        sFields.rateLimit.error.textContent = 'Give both figures as whole numbers, or leave both empty.';
        sFields.rateLimit.error.hidden = false;
        (req && /^\d+$/.test(req) ? rateSeconds : sFields.rateLimit.input).setAttribute('aria-invalid', 'true');
        (req && /^\d+$/.test(req) ? rateSeconds : sFields.rateLimit.input).focus();
        return;
      }
      input.rateLimit = { requests: Number(req), perSeconds: Number(secs) };
    } else {
      input.rateLimit = null;
    }
    sSave.disabled = true;
    sResult.className = '';
    sResult.textContent = 'Saving…';
    gql(SETTINGS_MUTATION, { input: input }).then(function (data) {
      var r = data.setProviderSettings;
      if (r.userErrors.length) {
        sResult.className = 'sy-inline-error';
        sResult.textContent = 'Not saved: ' + plural(r.userErrors.length, 'problem', 'problems') + ' to fix.';
        showFieldErrors(r.userErrors, sFields, sFormError);
        return;
      }
      settingsByKey[p.key] = r.providerSettings;
      showSettings();
      sResult.textContent = 'Saved the ' + p.name + ' settings.';
      renderCatalogActions();
    }, function (e) {
      SY.formFailed(sResult, null, 'Not saved.', sFormError, e.message);
    }).then(function () { sSave.disabled = false; });
  });

  // ================= start =================
  // The inline dashboard script shows the "not signed in" notice; this
  // panel only appears for a session. Owners get the connect and settings parts.
  SY.session().then(function (session) {
    if (!session) return;
    return gql(VIEWER_QUERY).then(function (data) {
      isOwner = data.viewer.role === 'OWNER';
      panel.hidden = false;
      var ready = [loadCatalog()];
      if (isOwner) ready.push(loadSettings());
      return Promise.all(ready).then(function () {
        if (isOwner) {
          catalogSection.hidden = false;
          sSection.hidden = false;
          renderCatalog();
          fillPicker();
          showSettings();
        }
        return refresh();
      }).then(function () {
        feed.start();
        // Back from /connect/…/callback (or a link): bring the panel into
        // view (the callback page already said how the connect went).
        if (window.location.hash === '#connections-panel') panel.scrollIntoView({ block: 'start' });
      });
    }, function () {
      // Not signed in after all (the session ended in between): show nothing.
    });
  });
})();
