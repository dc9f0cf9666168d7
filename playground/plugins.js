// The console's Plugins area (issue 23 item 4): the installed plugins with
// their status, what they provide and their config (secrets as `***`); the
// marketplace catalog with Install, whose config form is generated from the
// manifest's JSON Schema (Switchyard.schemaForm: secret fields are password
// inputs, the server's field errors show next to their fields); Configure
// (a secret left empty keeps its stored value), Enable/Disable, Upgrade
// when the marketplace has a newer version, Uninstall (confirmed); Run an
// action with its input and see the result; each plugin's call log (hook
// runs and action calls: status, HTTP code, attempts, duration, error),
// refreshed every 5 s while open (no subscription carries plugin calls);
// and, for owners, a custom manifest checked by the server. Collaborators
// see the lists, run actions and read logs. Served at /playground/plugins.js;
// load it after /playground/app.js. It keeps to its own <section> of
// dashboard.html (#plugins-panel, area `plugins`).
(function () {
  'use strict';

  var ACTION_FIELDS = 'actions { name description inputSchema } hooks { name description }';
  var PLUGIN_FIELDS = 'id pluginId key name description version author source status config ' + ACTION_FIELDS +
    ' installedAt updatedAt';
  var MARKET_FIELDS = 'pluginId key name description version author source configSchema secretFields ' + ACTION_FIELDS;
  var LIST_QUERY = 'query { plugins(first: 100) { nodes { ' + PLUGIN_FIELDS + ' } } marketplacePlugins { ' +
    MARKET_FIELDS + ' } }';
  var CALL_FIELDS = 'id kind name eventId status httpStatus attempts durationMs error result createdAt finishedAt';
  var CALLS_PAGE = 20;
  var CALLS_QUERY = 'query($id: ID!) { plugin(id: $id) { id calls(first: ' + CALLS_PAGE + ') { totalCount nodes { ' +
    CALL_FIELDS + ' } } } }';
  var VIEWER_QUERY = 'query { viewer { role } }';
  var PLUGIN_SEL = 'plugin { ' + PLUGIN_FIELDS + ' }';
  var CALLS_EVERY_MS = 5000;

  var STATUS_TEXT = { ACTIVE: 'active', INACTIVE: 'inactive' };
  var CALL_TEXT = { QUEUED: 'queued', SUCCEEDED: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped' };

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, gql = SY.gql, mutate = SY.mutate, showBox = SY.showBox;
  var plural = SY.plural, timeEl = SY.timeEl, dashCell = SY.dashCell, button = SY.button;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('plugins-panel');
  var updated = $('plugins-updated');
  var errorBox = $('plugins-error');
  var summary = $('plugins-summary');
  var rows = $('plugins-rows');
  var marketRows = $('market-rows');
  var marketHint = $('market-hint');
  var manifestSection = $('manifest-section');
  var announce = SY.announcer($('plugins-live'));

  var isOwner = false;
  var plugins = [];          // installed, newest first
  var market = [];           // marketplacePlugins
  var rowParts = {};         // plugin id → { row, detail, cell, … }
  var marketParts = {};      // manifest id → { row, detail, cell, … }
  var lastAt = null;

  // ---- small helpers ----
  function touched() {
    lastAt = Date.now();
    updated.textContent = 'Last update ' + new Date(lastAt).toLocaleTimeString();
  }

  function shown() {
    return !SY.currentArea || !SY.currentArea() || SY.currentArea() === 'plugins';
  }

  function durationText(ms) {
    if (ms == null) return null;
    if (ms < 1000) return ms + ' ms';
    return (Math.round(ms / 100) / 10) + ' s';
  }

  // "1.10.0" > "1.9.2".
  function newer(a, b) {
    var x = String(a).split('.').map(Number), y = String(b).split('.').map(Number);
    for (var i = 0; i < 3; i++) {
      if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) > (y[i] || 0);
    }
    return false;
  }

  // The newest manifest of `key` newer than `version`, or null.
  function upgradeFor(p) {
    var best = null;
    market.forEach(function (m) {
      if (m.key === p.key && newer(m.version, p.version) && (!best || newer(m.version, best.version))) best = m;
    });
    return best;
  }

  function installedOf(key) {
    return plugins.filter(function (p) { return p.key === key; })[0] || null;
  }

  function statusPill(status) {
    var s = el('span', 'sy-pill sy-action-enabled', STATUS_TEXT[status] || String(status).toLowerCase());
    s.dataset.enabled = String(status === 'ACTIVE');
    return s;
  }

  // "2 actions: current, … · 1 hook: post_event".
  function providesCell(td, m) {
    td.textContent = '';
    var ul = el('ul', 'sy-plain-list sy-provides');
    function item(kind, list) {
      if (!list.length) return;
      var li = el('li');
      li.appendChild(el('span', 'sy-muted', plural(list.length, kind, kind + 's') + ': '));
      list.forEach(function (a, i) {
        if (i) li.appendChild(document.createTextNode(', '));
        var c = el('code', null, a.name);
        if (a.description) c.title = a.description;
        li.appendChild(c);
      });
      ul.appendChild(li);
    }
    item('action', m.actions || []);
    item('hook', m.hooks || []);
    if (!ul.firstChild) ul.appendChild(el('li', 'sy-muted', 'Nothing'));
    td.appendChild(ul);
  }

  function configCell(td, config) {
    td.textContent = '';
    var keys = Object.keys(config || {});
    if (!keys.length) { dashCell(td); return; }
    var dl = el('dl', 'sy-config-list');
    keys.forEach(function (k) {
      var v = config[k];
      dl.appendChild(el('dt', null, k));
      var dd = el('dd', v === '***' ? 'sy-masked' : null, typeof v === 'string' ? v : JSON.stringify(v));
      if (v === '***') dd.title = 'Secret: stored encrypted, never shown';
      dl.appendChild(dd);
    });
    td.appendChild(dl);
  }

  function nameCell(th, m, withId) {
    th.textContent = '';
    th.appendChild(el('span', 'sy-oauth-app-name', m.name));
    if (m.source === 'CUSTOM') {
      th.appendChild(document.createTextNode(' '));
      var chip = el('span', 'sy-kind-chip', 'custom');
      chip.dataset.kind = 'custom';
      th.appendChild(chip);
    }
    var desc = el('span', 'sy-oauth-desc sy-muted');
    SY.hintNodes(desc, m.description);
    th.appendChild(desc);
    if (withId) th.appendChild(el('code', 'sy-plugin-id sy-muted', m.pluginId));
  }

  // The mutation's problems: the schema form takes what it can, the box the rest.
  function fieldOrBox(form, errors, prefix, box) {
    var rest = form ? form.showErrors(errors, prefix) : errors.map(function (e) { return e.message; });
    showBox(box, rest.join(' '));
    if (rest.length && (!form || rest.length === errors.length)) box.focus();
  }

  // ================= installed plugins =================
  function renderSummary() {
    var n = plugins.length;
    if (!n) {
      summary.textContent = 'No plugins installed yet.' + (isOwner ? ' Install one from the marketplace below.' : '');
      return;
    }
    var off = plugins.filter(function (p) { return p.status !== 'ACTIVE'; }).length;
    var ups = plugins.filter(function (p) { return upgradeFor(p); }).length;
    summary.textContent = plural(n, 'plugin', 'plugins') + ' installed' + (off ? ' · ' + off + ' inactive' : '') +
      (ups ? ' · ' + plural(ups, 'upgrade', 'upgrades') + ' available' : '') + '.';
  }

  function render() {
    touched();
    renderSummary();
    if (!plugins.length) {
      SY.placeholderRow(rows, 'No plugins installed yet.', 6);
      rowParts = {};
    } else {
      if (rows.querySelector('.sy-placeholder')) { rows.textContent = ''; rowParts = {}; }
      SY.placeRows(rows, rowParts, plugins, function (p) { return p.id; }, pluginRows, updatePluginRow,
        function () {});
    }
    renderMarket();
  }

  function pluginRows(p) {
    var tr = el('tr');
    tr.dataset.pluginId = p.id;
    tr.dataset.key = p.key;
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    var version = el('td', 'sy-plugin-version');
    var status = el('td');
    var provides = el('td', 'sy-plugin-provides');
    var config = el('td', 'sy-plugin-config');
    [th, version, status, provides, config].forEach(function (td) { tr.appendChild(td); });
    var actionsTd = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    actionsTd.appendChild(holder);
    tr.appendChild(actionsTd);
    var d = SY.detailRow('plugin-detail-' + p.id, 6);
    return { id: p.id, row: tr, detail: d.detail, cell: d.cell, name: th, version: version, status: status,
      provides: provides, config: config, holder: holder, sig: null, mode: null, opener: null };
  }

  function updatePluginRow(parts, p) {
    parts.plugin = p;
    nameCell(parts.name, p, true);
    parts.version.textContent = p.version;
    var up = upgradeFor(p);
    if (up) {
      parts.version.appendChild(el('span', 'sy-upgrade-note', ' → ' + up.version + ' available'));
    }
    parts.status.textContent = '';
    parts.status.appendChild(statusPill(p.status));
    providesCell(parts.provides, p);
    configCell(parts.config, p.config);
    parts.row.classList.toggle('sy-row-warn', p.status !== 'ACTIVE');
    var sig = [p.status, isOwner, up ? up.pluginId : '', (p.actions || []).length].join('|');
    if (sig !== parts.sig && !parts.holder.dataset.confirming) {
      parts.sig = sig;
      fillButtons(parts, p, up);
    }
    if (parts.mode === 'log' && parts.log) parts.log.title.textContent = 'Call log of ' + p.name;
  }

  // A button that opens (or closes) one of the row's detail views.
  function modeButton(parts, mode, text, label) {
    var b = button(text, 'sy-button-secondary', label);
    b.dataset.mode = mode;
    b.setAttribute('aria-controls', parts.detail.id);
    b.setAttribute('aria-expanded', String(parts.mode === mode));
    b.addEventListener('click', function () {
      if (parts.mode === mode) closeDetail(parts, true);
      else openDetail(parts, mode, b);
    });
    return b;
  }

  function fillButtons(parts, p, up) {
    var h = parts.holder;
    var focusedMode = document.activeElement && h.contains(document.activeElement) ? document.activeElement.dataset.mode : null;
    h.textContent = '';
    if ((p.actions || []).length) h.appendChild(modeButton(parts, 'run', 'Run', 'Run an action of ' + p.name));
    h.appendChild(modeButton(parts, 'log', 'Log', 'Call log of ' + p.name));
    if (isOwner) {
      h.appendChild(modeButton(parts, 'configure', 'Configure', 'Configure ' + p.name));
      if (up) h.appendChild(modeButton(parts, 'upgrade', 'Upgrade', 'Upgrade ' + p.name + ' to ' + up.version));
      var on = p.status === 'ACTIVE';
      var toggle = button(on ? 'Disable' : 'Enable', 'sy-button-secondary', (on ? 'Disable ' : 'Enable ') + p.name);
      toggle.dataset.mode = 'toggle';
      toggle.addEventListener('click', function () { setStatus(parts, on ? 'INACTIVE' : 'ACTIVE', toggle); });
      h.appendChild(toggle);
      var del = button('Uninstall', 'sy-button-danger', 'Uninstall ' + p.name);
      del.dataset.mode = 'uninstall';
      del.addEventListener('click', function () { confirmUninstall(parts, del); });
      h.appendChild(del);
    }
    if (focusedMode) {
      var again = h.querySelector('[data-mode="' + focusedMode + '"]');
      if (again) again.focus();
    }
  }

  function closeDetail(parts, focus) {
    var opener = parts.holder.querySelector('[data-mode="' + parts.mode + '"]');
    if (parts.timer) { clearInterval(parts.timer); parts.timer = null; }
    parts.mode = null;
    parts.log = null;
    parts.detail.hidden = true;
    parts.cell.textContent = '';
    SY.markExpanded(parts.holder);
    if (focus && opener) opener.focus();
  }

  function openDetail(parts, mode, opener) {
    if (parts.mode) closeDetail(parts, false);
    parts.mode = mode;
    parts.detail.hidden = false;
    SY.markExpanded(parts.holder, function (b) { return b === opener; });
    var p = parts.plugin;
    if (mode === 'run') runForm(parts, p);
    else if (mode === 'log') logView(parts, p);
    else if (mode === 'configure') configForm(parts, p, null);
    else if (mode === 'upgrade') configForm(parts, p, upgradeFor(p));
  }

  // A titled box with a form in a detail cell; Escape closes it.
  function detailBox(parts, titleText, className) {
    var box = el('div', 'sy-oauth-authz ' + (className || ''));
    var h = el('h4', null, titleText);
    h.id = parts.detail.id + '-title';
    h.tabIndex = -1;
    box.appendChild(h);
    parts.cell.textContent = '';
    parts.cell.appendChild(box);
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' && !ev.target.closest('.sy-confirm')) { ev.preventDefault(); closeDetail(parts, true); }
    });
    return { box: box, title: h };
  }

  function formRow(submitText, submitLabel, closeLabel, onClose) {
    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', submitText);
    submit.type = 'submit';
    if (submitLabel) submit.setAttribute('aria-label', submitLabel);
    var close = button('Close', 'sy-button-secondary', closeLabel);
    close.addEventListener('click', onClose);
    var result = el('span', 'sy-run-result');
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');
    row.appendChild(submit);
    row.appendChild(close);
    row.appendChild(result);
    return { row: row, submit: submit, result: result };
  }

  // ---- Configure / Upgrade: the config form of the (new) manifest ----
  function configForm(parts, p, target) {
    var schemaOf = target || market.filter(function (m) { return m.pluginId === p.pluginId; })[0];
    var b = detailBox(parts, target ? 'Upgrade ' + p.name + ' from ' + p.version + ' to ' + target.version
      : 'Configure ' + p.name);
    var form = el('form', 'sy-oauth-form sy-plugin-form');
    form.noValidate = true;
    form.setAttribute('aria-labelledby', b.title.id);
    if (target) {
      form.appendChild(el('p', 'sy-hint', 'The current settings are carried over; the new version may ask for more. ' +
        'Secrets left empty keep their stored value.'));
    }
    if (!schemaOf) {
      // The manifest is no longer listed (a custom one deleted): edit the config as JSON.
      schemaOf = { configSchema: { type: 'object', properties: {} }, secretFields: [] };
      Object.keys(p.config || {}).forEach(function (k) { schemaOf.configSchema.properties[k] = {}; });
    }
    var sf = SY.schemaForm(form, schemaOf.configSchema, { idPrefix: 'plugin-' + (target ? 'up-' : 'cfg-') + p.key,
      values: p.config, secretFields: schemaOf.secretFields });
    if (sf.empty) form.appendChild(el('p', 'sy-muted', 'This plugin has no settings.'));
    var box = SY.formErrorBox();
    form.appendChild(box);
    var r = formRow(target ? 'Upgrade to ' + target.version : 'Save settings', null,
      'Close the form of ' + p.name, function () { closeDetail(parts, true); });
    form.appendChild(r.row);
    b.box.appendChild(form);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      showBox(box, '');
      r.result.className = 'sy-run-result';
      r.result.textContent = '';
      var v = sf.value();
      if (!v.ok) return;
      r.submit.disabled = true;
      r.result.textContent = target ? 'Upgrading…' : 'Saving…';
      var call = target
        ? mutate('installPlugin', 'InstallPluginInput', { pluginId: target.pluginId, source: target.source,
          config: v.value }, PLUGIN_SEL)
        : mutate('updatePluginConfig', 'UpdatePluginConfigInput', { id: p.id, config: v.value }, PLUGIN_SEL);
      call.then(function (payload) {
        r.result.textContent = '';
        replacePlugin(payload.plugin);
        announce(target ? 'Upgraded ' + p.name + ' to ' + payload.plugin.version + '.' : 'Saved the settings of ' + p.name + '.');
        closeDetail(parts, true);
      }, function (e) {
        r.result.className = 'sy-run-result sy-inline-error';
        r.result.textContent = target ? 'Not upgraded.' : 'Not saved.';
        if (e.userErrors) fieldOrBox(sf, e.userErrors, ['input', 'config'], box);
        else { showBox(box, e.message); box.focus(); }
      }).then(function () { r.submit.disabled = false; });
    });
    sf.focusFirst();
  }

  function replacePlugin(p) {
    plugins = plugins.map(function (x) { return x.id === p.id ? p : x; });
    render();
  }

  function setStatus(parts, status, btn) {
    var p = parts.plugin;
    btn.disabled = true;
    mutate('setPluginStatus', 'SetPluginStatusInput', { id: p.id, status: status }, PLUGIN_SEL).then(function (payload) {
      showBox(errorBox, '');
      replacePlugin(payload.plugin);
      announce((status === 'ACTIVE' ? 'Enabled ' : 'Disabled ') + p.name + '.');
      var again = parts.holder.querySelector('[data-mode="toggle"]');
      if (again) again.focus();
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not ' + (status === 'ACTIVE' ? 'enable ' : 'disable ') + p.name + ': ' + e.message);
    });
  }

  function confirmUninstall(parts, del) {
    var p = parts.plugin;
    if (parts.mode) closeDetail(parts, false);
    SY.confirmStep(parts.holder, 'Its hooks stop at once; its secrets and call log are deleted.', 'Uninstall now',
      'Cancel', p.name, del, function (restore) {
        mutate('uninstallPlugin', 'UninstallPluginInput', { id: p.id }, 'uninstalledId').then(function () {
          restore(false);
          showBox(errorBox, '');
          plugins = plugins.filter(function (x) { return x.id !== p.id; });
          render();
          announce('Uninstalled ' + p.name + '.');
          summary.focus();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not uninstall ' + p.name + ': ' + e.message);
        });
      }, 'Uninstalling…');
  }

  // ---- Run an action ----
  function runForm(parts, p) {
    var b = detailBox(parts, 'Run an action of ' + p.name, 'sy-run-box');
    var form = el('form', 'sy-oauth-form sy-run-form sy-plugin-form');
    form.noValidate = true;
    form.setAttribute('aria-labelledby', b.title.id);
    var base = 'plugin-run-' + p.key;
    var pick = el('div', 'sy-field');
    var label = el('label', null, 'Action');
    label.htmlFor = base + '-action';
    var select = el('select', 'sy-select sy-select-wide');
    select.id = base + '-action';
    p.actions.forEach(function (a) {
      var o = el('option', null, a.name);
      o.value = a.name;
      select.appendChild(o);
    });
    var desc = el('p', 'sy-hint');
    desc.id = base + '-action-hint';
    select.setAttribute('aria-describedby', desc.id);
    pick.appendChild(label);
    pick.appendChild(select);
    pick.appendChild(desc);
    form.appendChild(pick);
    var inputBox = el('fieldset', 'sy-plain-fieldset sy-run-inputs');
    var legend = el('legend', null, 'Input');
    inputBox.appendChild(legend);
    form.appendChild(inputBox);
    var box = SY.formErrorBox();
    form.appendChild(box);
    var r = formRow('Run now', null, 'Close the Run form of ' + p.name, function () { closeDetail(parts, true); });
    form.appendChild(r.row);
    var out = el('div', 'sy-plugin-result');
    out.hidden = true;
    b.box.appendChild(form);
    b.box.appendChild(out);

    var sf = null;
    var json = null;
    function drawInput() {
      var a = p.actions.filter(function (x) { return x.name === select.value; })[0];
      r.submit.setAttribute('aria-label', 'Run ' + a.name + ' of ' + p.name + ' now');
      desc.textContent = '';
      if (a.description) SY.hintNodes(desc, a.description);
      while (inputBox.childNodes.length > 1) inputBox.removeChild(inputBox.lastChild);
      sf = null;
      json = null;
      var s = a.inputSchema;
      if (s && s.type === 'object' && s.properties && Object.keys(s.properties).length) {
        sf = SY.schemaForm(inputBox, s, { idPrefix: base + '-in-' + a.name });
      } else if (s && s.type === 'object' && !s.properties) {
        inputBox.appendChild(el('p', 'sy-muted', 'This action takes no input.'));
      } else {
        var f = el('div', 'sy-field');
        var l = el('label', null, 'Input ');
        l.htmlFor = base + '-json';
        l.appendChild(el('span', 'sy-optional', '(JSON object)'));
        json = el('textarea', 'sy-code-input sy-run-input');
        json.id = base + '-json';
        json.rows = 4;
        json.spellcheck = false;
        json.value = '{}';
        var err = el('p', 'sy-field-error');
        err.id = base + '-json-error';
        err.hidden = true;
        json.setAttribute('aria-describedby', err.id);
        json.errorEl = err;
        f.appendChild(l);
        f.appendChild(json);
        f.appendChild(err);
        inputBox.appendChild(f);
      }
    }
    select.addEventListener('change', drawInput);
    drawInput();
    if (p.actions.length === 1) pick.classList.add('sy-single-action');

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      showBox(box, '');
      r.result.className = 'sy-run-result';
      r.result.textContent = '';
      var input = {};
      if (sf) {
        var v = sf.value();
        if (!v.ok) return;
        input = v.value;
      } else if (json) {
        var parsed = SY.parseJsonField(json, json.errorEl);
        if (!parsed.ok) return;
        input = parsed.value;
      }
      var name = select.value;
      r.submit.disabled = true;
      r.result.textContent = 'Running…';
      mutate('runPluginAction', 'RunPluginActionInput', { pluginId: p.id, action: name, input: input }, 'result')
        .then(function (payload) {
          r.result.className = 'sy-run-result sy-result-ok';
          r.result.textContent = 'Done.';
          out.hidden = false;
          out.textContent = '';
          var h = el('h5', null, 'Result of ' + name);
          out.appendChild(h);
          var pre = el('pre', 'sy-code sy-run-pre sy-plugin-result-body', JSON.stringify(payload.result, null, 2));
          pre.tabIndex = 0;
          pre.setAttribute('aria-label', 'Result of ' + name);
          out.appendChild(pre);
          announce('Ran ' + name + ' of ' + p.name + ': done.');
        }, function (e) {
          r.result.className = 'sy-run-result sy-inline-error';
          r.result.textContent = 'Failed.';
          out.hidden = true;
          if (e.userErrors && sf) {
            fieldOrBox(sf, e.userErrors, ['input', 'input'], box);
          } else if (e.userErrors && json && e.userErrors.some(function (x) { return x.field && x.field[1] === 'input'; })) {
            json.setAttribute('aria-invalid', 'true');
            showBox(json.errorEl, SY.userErrorText(e.userErrors));
            json.focus();
          } else {
            showBox(box, SY.errText(e));
            box.focus();
          }
          announce('Running ' + name + ' of ' + p.name + ' failed.');
        }).then(function () { r.submit.disabled = false; });
    });
    if (p.actions.length > 1) select.focus();
    else if (sf) sf.focusFirst();
    else if (json) json.focus();
    else r.submit.focus();
  }

  // ---- the call log (refreshed while open and shown) ----
  function logView(parts, p) {
    var b = detailBox(parts, 'Call log of ' + p.name, 'sy-plugin-log');
    var meta = el('div', 'sy-actions sy-log-meta');
    var note = el('span', 'sy-muted', 'Loading…');
    note.setAttribute('aria-live', 'off');
    var refresh = button('Refresh', 'sy-button-secondary', 'Refresh the call log of ' + p.name);
    var close = button('Close', 'sy-button-secondary', 'Close the call log of ' + p.name);
    meta.appendChild(note);
    meta.appendChild(refresh);
    meta.appendChild(close);
    b.box.appendChild(meta);
    var wrap = el('div', 'sy-table-wrap');
    var table = el('table', 'sy-table sy-calls-table sy-plugin-calls');
    var cap = el('caption', 'sy-visually-hidden', 'Calls of ' + p.name + ', newest first');
    table.appendChild(cap);
    var thead = el('thead');
    var htr = el('tr');
    ['When', 'Kind', 'Name', 'Status', 'HTTP', 'Attempts', 'Duration', 'Error'].forEach(function (t, i) {
      var th = el('th', i === 4 || i === 5 || i === 6 ? 'sy-num' : null, t);
      th.scope = 'col';
      htr.appendChild(th);
    });
    thead.appendChild(htr);
    table.appendChild(thead);
    var tbody = el('tbody');
    table.appendChild(tbody);
    wrap.appendChild(table);
    b.box.appendChild(wrap);
    parts.log = { title: b.title, note: note, tbody: tbody };
    var loading = false;
    function load() {
      if (loading || parts.mode !== 'log') return;
      loading = true;
      gql(CALLS_QUERY, { id: p.id }).then(function (data) {
        loading = false;
        if (parts.mode !== 'log' || parts.log === null) return;
        if (!data.plugin) { note.textContent = 'The plugin is no longer installed.'; return; }
        drawCalls(tbody, data.plugin.calls.nodes);
        var n = data.plugin.calls.totalCount;
        note.textContent = (n ? (n > CALLS_PAGE ? 'The newest ' + CALLS_PAGE + ' of ' + n + ' calls' : plural(n, 'call', 'calls'))
          : 'No calls yet: runs and hook calls appear here') + ' · refreshed every 5 s, last ' + SY.clock(new Date());
      }, function (e) {
        loading = false;
        note.textContent = 'Could not load the calls: ' + e.message;
      });
    }
    refresh.addEventListener('click', load);
    close.addEventListener('click', function () { closeDetail(parts, true); });
    parts.timer = setInterval(function () {
      // The row went (the plugin was uninstalled elsewhere): stop.
      if (!parts.row.isConnected) { clearInterval(parts.timer); parts.timer = null; return; }
      if (shown() && document.visibilityState === 'visible') load();
    }, CALLS_EVERY_MS);
    parts.reloadLog = load;
    load();
    b.title.focus();
  }

  function drawCalls(tbody, calls) {
    tbody.textContent = '';
    if (!calls.length) {
      SY.placeholderRow(tbody, 'No calls yet.', 8);
      return;
    }
    calls.forEach(function (c) {
      var tr = el('tr');
      tr.dataset.callId = c.id;
      tr.dataset.status = c.status;
      var th = el('th');
      th.scope = 'row';
      th.appendChild(timeEl(c.createdAt));
      tr.appendChild(th);
      tr.appendChild(el('td', null, c.kind === 'HOOK' ? 'hook' : 'action'));
      var name = el('td');
      name.appendChild(el('code', null, c.name));
      if (c.eventId) {
        var on = el('span', 'sy-muted', ' on ');
        on.appendChild(el('code', null, c.eventId));
        name.appendChild(on);
      }
      tr.appendChild(name);
      var st = el('td');
      var pill = el('span', 'sy-pill sy-run-status sy-run-status-small', CALL_TEXT[c.status] || c.status.toLowerCase());
      pill.dataset.status = c.status;
      st.appendChild(pill);
      tr.appendChild(st);
      var code = el('td', 'sy-num');
      if (c.httpStatus != null) code.textContent = String(c.httpStatus); else dashCell(code);
      tr.appendChild(code);
      tr.appendChild(el('td', 'sy-num', String(c.attempts)));
      var dur = el('td', 'sy-num');
      if (c.durationMs != null) dur.textContent = durationText(c.durationMs); else dashCell(dur);
      tr.appendChild(dur);
      var err = el('td', 'sy-conn-error');
      if (c.error) {
        var t = el('span', 'sy-trunc sy-trunc-error', c.error);
        t.title = c.error;
        err.appendChild(t);
      } else {
        dashCell(err);
      }
      tr.appendChild(err);
      tr.classList.toggle('sy-row-warn', c.status === 'FAILED');
      tbody.appendChild(tr);
    });
  }

  // ================= the marketplace =================
  function renderMarket() {
    marketHint.hidden = false;
    if (!market.length) {
      SY.placeholderRow(marketRows, 'The marketplace is empty.', 5);
      marketParts = {};
      return;
    }
    if (marketRows.querySelector('.sy-placeholder')) { marketRows.textContent = ''; marketParts = {}; }
    SY.placeRows(marketRows, marketParts, market, function (m) { return m.source + ':' + m.pluginId; }, marketRow,
      updateMarketRow);
  }

  function marketRow(m) {
    var tr = el('tr');
    tr.dataset.manifestId = m.pluginId;
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    var version = el('td');
    var author = el('td');
    var provides = el('td', 'sy-plugin-provides');
    [th, version, author, provides].forEach(function (td) { tr.appendChild(td); });
    var actionsTd = el('td', 'sy-oauth-actions sy-catalog-actions');
    var holder = el('div', 'sy-row-actions');
    actionsTd.appendChild(holder);
    tr.appendChild(actionsTd);
    var d = SY.detailRow('market-detail-' + m.pluginId.replace(/\./g, '-') + '-' + m.source.toLowerCase(), 5);
    return { row: tr, detail: d.detail, cell: d.cell, name: th, version: version, author: author, provides: provides,
      holder: holder, sig: null };
  }

  function updateMarketRow(parts, m) {
    parts.manifest = m;
    nameCell(parts.name, m, false);
    parts.version.textContent = m.version;
    parts.author.textContent = m.author;
    providesCell(parts.provides, m);
    var inst = installedOf(m.key);
    var state = !inst ? 'install' : inst.pluginId === m.pluginId ? 'installed' : newer(m.version, inst.version) ? 'upgrade' : 'older';
    var sig = state + '|' + isOwner + '|' + (inst ? inst.version : '');
    if (sig === parts.sig) return;
    parts.sig = sig;
    var h = parts.holder;
    var hadFocus = h.contains(document.activeElement);
    h.textContent = '';
    if (state === 'installed') h.appendChild(el('span', 'sy-muted', 'Installed'));
    else if (state === 'older') h.appendChild(el('span', 'sy-muted', 'Version ' + inst.version + ' installed'));
    else if (!isOwner) h.appendChild(el('span', 'sy-muted', state === 'upgrade' ? 'Newer than installed' : 'Owners install plugins'));
    else if (state === 'upgrade') {
      var up = button('Upgrade', 'sy-button-secondary', 'Upgrade ' + m.name + ' to ' + m.version);
      up.addEventListener('click', function () {
        var p = rowParts[inst.id];
        if (!p) return;
        var opener = p.holder.querySelector('[data-mode="upgrade"]');
        openDetail(p, 'upgrade', opener);
        p.row.scrollIntoView({ block: 'center' });
      });
      h.appendChild(up);
    } else {
      var b = button('Install', null, 'Install ' + m.name + ' ' + m.version);
      b.setAttribute('aria-controls', parts.detail.id);
      b.setAttribute('aria-expanded', 'false');
      b.addEventListener('click', function () {
        if (parts.detail.hidden) installForm(parts, m, b);
        else closeInstall(parts, true);
      });
      h.appendChild(b);
      parts.installBtn = b;
    }
    if (state !== 'install' && !parts.detail.hidden) closeInstall(parts, false);
    if (hadFocus && h.querySelector('button')) h.querySelector('button').focus();
  }

  function closeInstall(parts, focus) {
    parts.detail.hidden = true;
    parts.cell.textContent = '';
    if (parts.installBtn) {
      parts.installBtn.setAttribute('aria-expanded', 'false');
      if (focus && parts.installBtn.isConnected) parts.installBtn.focus();
    }
  }

  function installForm(parts, m, opener) {
    Object.keys(marketParts).forEach(function (k) {
      if (marketParts[k] !== parts && !marketParts[k].detail.hidden) closeInstall(marketParts[k], false);
    });
    parts.detail.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    parts.cell.textContent = '';
    var box = el('div', 'sy-oauth-authz');
    var h = el('h4', null, 'Install ' + m.name + ' ' + m.version);
    h.id = parts.detail.id + '-title';
    box.appendChild(h);
    var form = el('form', 'sy-oauth-form sy-plugin-form sy-install-form');
    form.noValidate = true;
    form.setAttribute('aria-labelledby', h.id);
    var sf = SY.schemaForm(form, m.configSchema, { idPrefix: 'install-' + m.key, secretFields: m.secretFields });
    if (sf.empty) form.appendChild(el('p', 'sy-muted', 'This plugin has no settings.'));
    var errBox = SY.formErrorBox();
    form.appendChild(errBox);
    var r = formRow('Install', 'Install ' + m.name + ' now', 'Close the install form of ' + m.name, function () {
      closeInstall(parts, true);
    });
    form.appendChild(r.row);
    box.appendChild(form);
    parts.cell.appendChild(box);
    form.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); closeInstall(parts, true); }
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      showBox(errBox, '');
      r.result.className = 'sy-run-result';
      r.result.textContent = '';
      var v = sf.value();
      if (!v.ok) return;
      r.submit.disabled = true;
      r.result.textContent = 'Installing…';
      mutate('installPlugin', 'InstallPluginInput', { pluginId: m.pluginId, source: m.source, config: v.value }, PLUGIN_SEL)
        .then(function (payload) {
          r.result.textContent = '';
          closeInstall(parts, false);
          plugins = [payload.plugin].concat(plugins.filter(function (x) { return x.id !== payload.plugin.id; }));
          render();
          announce('Installed ' + m.name + ' ' + payload.plugin.version + '.');
          var rp = rowParts[payload.plugin.id];
          if (rp) {
            rp.row.scrollIntoView({ block: 'center' });
            var first = rp.holder.querySelector('button');
            if (first) first.focus();
          }
        }, function (e) {
          r.result.className = 'sy-run-result sy-inline-error';
          r.result.textContent = 'Not installed.';
          if (e.userErrors) fieldOrBox(sf, e.userErrors, ['input', 'config'], errBox);
          else { showBox(errBox, e.message); errBox.focus(); }
        }).then(function () { r.submit.disabled = false; });
    });
    sf.focusFirst();
  }

  // ================= a custom manifest (owners) =================
  var EXAMPLE = {
    id: 'plugin_status_page_v1.0.0',
    name: 'Status page',
    description: 'Reads the current status of a Statuspage-compatible page.',
    version: '1.0.0',
    author: 'My team',
    config_schema: {
      type: 'object',
      properties: {
        base_url: { type: 'string', pattern: '^https?://', description: 'The status page, e.g. `https://status.example.com`.' },
        api_token: { type: 'string', minLength: 1, writeOnly: true, description: 'An API token (secret).' }
      },
      required: ['base_url'],
      additionalProperties: false
    },
    actions: [{
      name: 'status', description: 'The page\'s overall status.', method: 'GET',
      url: '{{config.base_url}}/api/v2/status.json', result: '/status'
    }],
    hooks: []
  };

  function wireManifestForm() {
    var form = $('manifest-form');
    var ta = $('manifest-json');
    var fieldErr = $('manifest-json-error');
    var box = $('manifest-form-error');
    var result = $('manifest-result');
    var submit = $('manifest-add');
    $('manifest-example').addEventListener('click', function () {
      ta.value = JSON.stringify(EXAMPLE, null, 2);
      ta.removeAttribute('aria-invalid');
      fieldErr.hidden = true;
      ta.focus();
    });
    ta.addEventListener('input', function () {
      if (ta.getAttribute('aria-invalid')) { ta.removeAttribute('aria-invalid'); fieldErr.hidden = true; }
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      showBox(box, '');
      result.className = '';
      result.textContent = '';
      fieldErr.textContent = '';
      var parsed = SY.parseJsonField(ta, fieldErr);
      if (!parsed.ok) return;
      submit.disabled = true;
      result.textContent = 'Checking…';
      mutate('addPluginManifest', 'AddPluginManifestInput', { manifest: parsed.value },
        'plugin { ' + MARKET_FIELDS + ' }').then(function (payload) {
        result.textContent = 'Added ' + payload.plugin.name + ' ' + payload.plugin.version + ': install it from the marketplace.';
        ta.value = '';
        market = market.concat([payload.plugin]);
        render();
        announce('Added the manifest ' + payload.plugin.pluginId + '.');
      }, function (e) {
        result.className = 'sy-inline-error';
        result.textContent = 'Not added.';
        if (!e.userErrors) { showBox(box, e.message); box.focus(); return; }
        // One line per problem, each naming the manifest field at fault.
        fieldErr.textContent = '';
        var ul = el('ul', 'sy-plain-list sy-manifest-errors');
        e.userErrors.forEach(function (u) {
          var li = el('li');
          var path = (u.field || []).slice(2).join('.');
          if (path) { li.appendChild(el('code', null, path)); li.appendChild(document.createTextNode(': ')); }
          li.appendChild(document.createTextNode(u.message));
          ul.appendChild(li);
        });
        fieldErr.appendChild(ul);
        fieldErr.hidden = false;
        ta.setAttribute('aria-invalid', 'true');
        ta.focus();
      }).then(function () { submit.disabled = false; });
    });
  }

  // ================= loading =================
  var LOAD_ERROR = 'Could not load the plugins: ';
  var refresh = SY.oneAtATime(function () {
    return gql(LIST_QUERY).then(function (data) {
      if (errorBox.textContent.indexOf(LOAD_ERROR) === 0) showBox(errorBox, '');
      plugins = data.plugins.nodes;
      market = data.marketplacePlugins;
      render();
    }, function (e) {
      showBox(errorBox, LOAD_ERROR + e.message);
      if (!plugins.length) SY.placeholderRow(rows, 'The plugins could not be loaded.', 6);
    });
  });

  var started = false;
  function start() {
    if (started) return;
    started = true;
    refresh();
    // Installs and status changes made elsewhere: read the lists again every
    // 30 s while the area is shown.
    setInterval(function () {
      if (shown() && document.visibilityState === 'visible') refresh();
    }, 30000);
  }

  SY.session().then(function (session) {
    if (!session) return;
    return gql(VIEWER_QUERY).then(function (data) {
      isOwner = data.viewer.role === 'OWNER';
      panel.hidden = false;
      manifestSection.hidden = !isOwner;
      if (isOwner) wireManifestForm();
      if (shown()) start();
      document.addEventListener('sy:area', function (ev) {
        if (ev.detail && ev.detail.area === 'plugins') { if (started) refresh(); else start(); }
      });
    }, function () {
      // Not signed in after all (the session ended in between): show nothing.
    });
  });
})();
