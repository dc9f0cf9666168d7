// The dashboard's Actions panel (issue 22 item 4): the workspace's actions
// with their steps, triggers (schedule in words with the next tick, event
// pattern) and why one is paused; Run with a JSON input; a live timeline of
// the recent runs over the actionRuns subscription, and for an opened run
// each step's result (status, attempts, HTTP status, duration, response
// body, error). Owners may also enable, disable and delete an action;
// every member who may write runs actions and cancels runs that have not
// ended. Actions are defined in the GraphQL playground (createAction).
// Served at /playground/actions.js; load it after /playground/app.js and
// /playground/vendor/graphql-ws.min.js. It keeps to its own <section> of
// dashboard.html (#actions-panel).
(function () {
  'use strict';

  var TRIGGER_FIELDS = 'id kind cron cronDescription timezone everySeconds nextRunAt eventType endpointId active';
  var STEP_FIELDS = 'key kind provider method path query { name value } headers { name value } body url seconds';
  var ACTION_FIELDS = 'id name description enabled pausedReason createdAt updatedAt ' +
    'steps { ' + STEP_FIELDS + ' } triggers { ' + TRIGGER_FIELDS + ' }';
  var RUN_FIELDS = 'id actionId status trigger actor input currentStep waitUntil error createdAt startedAt finishedAt ' +
    'steps { key kind status attempts request response { status body truncated } durationMs startedAt finishedAt ' +
    'waitUntil error callId }';
  // With each action's newest run, for its "Last run" (it may be older than the runs shown).
  var ACTIONS_QUERY = 'query { actions(first: 100) { nodes { ' + ACTION_FIELDS +
    ' runs(first: 1) { nodes { id actionId status createdAt } } } } }';
  var RUNS_QUERY = 'query($filter: ActionRunFilter) { actionRuns(filter: $filter, first: ' + 'RUNS_PAGE' +
    ') { nodes { ' + RUN_FIELDS + ' } } }';
  var RUNS_SUBSCRIPTION = 'subscription { actionRuns { ' + RUN_FIELDS + ' } }';
  var VIEWER_QUERY = 'query { viewer { role user { id } } }';
  var USER_ERRORS = 'userErrors { field message code }';
  var RUN_MUTATION = 'mutation($input: RunActionInput!) { runAction(input: $input) { run { ' + RUN_FIELDS + ' } ' +
    USER_ERRORS + ' } }';
  var CANCEL_MUTATION = 'mutation($input: CancelActionRunInput!) { cancelActionRun(input: $input) { run { ' +
    RUN_FIELDS + ' } ' + USER_ERRORS + ' } }';
  var UPDATE_MUTATION = 'mutation($input: UpdateActionInput!) { updateAction(input: $input) { action { ' +
    ACTION_FIELDS + ' } ' + USER_ERRORS + ' } }';
  var DELETE_MUTATION = 'mutation($input: DeleteActionInput!) { deleteAction(input: $input) { deletedId ' +
    USER_ERRORS + ' } }';

  var RUNS_PAGE = 20;
  RUNS_QUERY = RUNS_QUERY.replace('RUNS_PAGE', String(RUNS_PAGE));

  var STATUS_TEXT = {
    QUEUED: 'queued', RUNNING: 'running', WAITING: 'waiting', PAUSED: 'paused',
    SUCCEEDED: 'succeeded', FAILED: 'failed', CANCELLED: 'cancelled'
  };
  var FINAL = { SUCCEEDED: true, FAILED: true, CANCELLED: true };
  var TRIGGER_TEXT = { MANUAL: 'by hand', SCHEDULE: 'schedule', EVENT: 'event' };

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, gql = SY.gql, showBox = SY.showBox, formatTime = SY.formatTime;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('actions-panel');
  var pill = $('actions-status');
  var updated = $('actions-updated');
  var errorBox = $('actions-error');
  var live = $('actions-live');
  var summary = $('actions-summary');
  var rows = $('actions-rows');
  var runsFilter = $('runs-action');
  var runsSummary = $('runs-summary');
  var runsLive = $('runs-live');
  var runRows = $('runs-rows');

  var isOwner = false;
  var viewerId = null;
  var actions = [];             // the latest list, newest first
  var actionById = {};
  var rowParts = {};            // action id → { row, detail, cells…, sig }
  var openRunForm = null;       // action id whose Run form is open
  var inputs = {};              // action id → the last input typed (kept while the page lives)
  var runs = [];                // the shown runs, newest first
  var runById = {};
  var runParts = {};            // run id → { row, detail, cells… }
  var lastRunOf = {};           // action id → its newest run seen
  var selectedRun = null;       // run id whose steps are open

  // ---- small helpers ----
  var plural = SY.plural, shortTime = SY.shortTime, timeEl = SY.timeEl, dashCell = SY.dashCell, button = SY.button;
  var userErrorText = SY.userErrorText;
  var announce = SY.announcer(live);

  // Run changes are batched so a burst of steps is one sentence.
  var runNews = [];
  var runNewsTimer = null;
  function announceRun(text) {
    runNews.push(text);
    if (runNewsTimer) return;
    runNewsTimer = setTimeout(function () {
      runNewsTimer = null;
      runsLive.textContent = runNews.slice(-3).join(' ');
      runNews = [];
    }, 600);
  }

  function durationText(ms) {
    if (ms == null) return null;
    if (ms < 1000) return ms + ' ms';
    if (ms < 60000) return (Math.round(ms / 100) / 10) + ' s';
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }

  // A run's wall time: from its start (or creation) to its end, or to now.
  function runDuration(r) {
    var from = Date.parse(r.startedAt || r.createdAt);
    var to = r.finishedAt ? Date.parse(r.finishedAt) : (FINAL[r.status] ? from : Date.now());
    return isNaN(from) || isNaN(to) ? null : Math.max(0, to - from);
  }

  // Who started a run: "you", "system", or the user, key or app id.
  function actorText(actor) {
    return actor && actor === viewerId ? 'you' : actor;
  }

  function actionName(id) {
    var a = actionById[id];
    return a ? a.name : id;
  }

  function statusPill(status, small) {
    var s = el('span', 'sy-pill sy-run-status' + (small ? ' sy-run-status-small' : ''),
      STATUS_TEXT[status] || String(status).toLowerCase());
    s.dataset.status = status;
    return s;
  }

  // The same confirm step as the other panels (app.js), "Working…" once confirmed.
  function confirmStep(holder, question, confirmText, keepText, subject, focusBack, run) {
    SY.confirmStep(holder, question, confirmText, keepText, subject, focusBack, run, 'Working…');
  }

  // ---- status pill and "last update" (the live feed's, set up below) ----
  function touched() { feed.touched(); }
  setInterval(function () {
    feed.renderUpdated();
    // Durations of runs under way grow.
    runs.forEach(function (r) { if (!FINAL[r.status] && runParts[r.id]) fillDuration(runParts[r.id].duration, r); });
  }, 1000);

  // ================= the actions table =================
  // "API_EXECUTE instagram POST /media", "WEBHOOK https://…", "DELAY 30 s".
  function stepText(s) {
    if (s.kind === 'API_EXECUTE') {
      return ['API_EXECUTE', s.provider, s.method || 'GET', s.path].filter(Boolean).join(' ');
    }
    if (s.kind === 'WEBHOOK') return 'WEBHOOK ' + (s.url || '');
    if (s.kind === 'DELAY') return 'DELAY ' + s.seconds + ' s';
    return s.kind;
  }

  // The `input.…` names the steps' templates read, for the Run form's hint.
  function inputNames(a) {
    var seen = {};
    var names = [];
    var re = /\{\{-?\s*input\.([A-Za-z_][A-Za-z0-9_]*)/g;
    a.steps.forEach(function (s) {
      var text = JSON.stringify(s);
      var m;
      while ((m = re.exec(text))) {
        if (!seen[m[1]]) { seen[m[1]] = true; names.push(m[1]); }
      }
    });
    return names;
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

  function triggerItem(t) {
    var li = el('li', 'sy-trigger');
    li.dataset.kind = t.kind;
    if (t.kind === 'SCHEDULE') {
      var what = t.cron ? (t.cronDescription || t.cron) : everyText(t.everySeconds);
      var main = el('span', 'sy-trigger-main', what);
      if (t.cron) main.title = 'cron: ' + t.cron + (t.timezone ? ' (' + t.timezone + ')' : '');
      li.appendChild(main);
      if (t.cron && t.timezone && t.timezone !== 'UTC') li.appendChild(el('span', 'sy-muted', ' (' + t.timezone + ')'));
      if (t.active && t.nextRunAt) {
        var next = el('span', 'sy-trigger-next sy-muted', ' · next ');
        next.appendChild(timeEl(t.nextRunAt));
        li.appendChild(next);
      }
    } else {
      li.appendChild(el('span', 'sy-trigger-main', 'On '));
      li.firstChild.appendChild(el('code', null, t.eventType));
      if (t.endpointId) {
        var only = el('span', 'sy-muted', ' from ');
        only.appendChild(el('code', null, t.endpointId));
        li.appendChild(only);
      }
    }
    if (!t.active) li.appendChild(el('span', 'sy-muted', ' (inactive)'));
    return li;
  }

  function setPlaceholder(text) {
    SY.placeholderRow(rows, text, 6);
    rowParts = {};
  }

  function renderSummary() {
    var n = actions.length;
    if (!n) {
      summary.textContent = 'No actions yet.' + (isOwner ? ' Create one with createAction in the GraphQL playground.' : '');
      return;
    }
    var off = actions.filter(function (a) { return !a.enabled; }).length;
    var paused = actions.filter(function (a) { return a.enabled && a.pausedReason; }).length;
    var scheduled = actions.filter(function (a) { return a.triggers.length; }).length;
    summary.textContent = plural(n, 'action', 'actions') + (off ? ' · ' + off + ' disabled' : '') +
      (paused ? ' · ' + paused + ' paused' : '') + (scheduled ? ' · ' + scheduled + ' with triggers' : '') + '.';
  }

  // Draws the list; rows are updated in place (keyed by id), so a focused
  // button, an open confirm step or Run form survive a refresh.
  function renderActions(list) {
    actions = list;
    actionById = {};
    list.forEach(function (a) {
      actionById[a.id] = a;
      var newest = a.runs && a.runs.nodes[0];
      if (newest) noteLastRun(newest);
    });
    touched();
    renderSummary();
    fillFilter();
    if (!list.length) {
      setPlaceholder('No actions yet.');
      openRunForm = null;
    } else {
      if (rows.querySelector('.sy-placeholder')) { rows.textContent = ''; rowParts = {}; }
      SY.placeRows(rows, rowParts, list, function (a) { return a.id; }, actionRows, updateActionRow,
        function (id) { if (openRunForm === id) openRunForm = null; });
    }
    // Run rows name their action.
    runs.forEach(function (r) { if (runParts[r.id]) runParts[r.id].actionCell.textContent = actionName(r.actionId); });
  }

  function fillFilter() {
    var keep = runsFilter.value;
    var sig = actions.map(function (a) { return a.id + ':' + a.name; }).join('|');
    if (runsFilter.dataset.sig === sig) return;
    runsFilter.dataset.sig = sig;
    while (runsFilter.options.length > 1) runsFilter.remove(1);
    actions.forEach(function (a) {
      var o = el('option', null, a.name);
      o.value = a.id;
      runsFilter.appendChild(o);
    });
    runsFilter.value = actionById[keep] ? keep : '';
    if (runsFilter.value !== keep) loadRuns();
  }

  function actionRows(a) {
    var tr = el('tr');
    tr.dataset.actionId = a.id;

    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    var name = el('span', 'sy-oauth-app-name', a.name);
    th.appendChild(name);
    var desc = el('span', 'sy-oauth-desc sy-muted');
    th.appendChild(desc);
    tr.appendChild(th);

    var status = el('td', 'sy-action-status');
    var steps = el('td', 'sy-action-steps');
    var triggers = el('td', 'sy-action-triggers');
    var lastRun = el('td', 'sy-action-last');
    [status, steps, triggers, lastRun].forEach(function (td) { tr.appendChild(td); });

    var actionsTd = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    actionsTd.appendChild(holder);
    tr.appendChild(actionsTd);

    var detailId = 'action-run-form-' + a.id;
    var runBtn = button('Run', null, 'Run ' + a.name);
    runBtn.setAttribute('aria-expanded', 'false');
    runBtn.setAttribute('aria-controls', detailId);

    var d = SY.detailRow(detailId, 6);
    var detail = d.detail, cell = d.cell;

    var parts = {
      id: a.id, row: tr, detail: detail, cell: cell, runBtn: runBtn, holder: holder, name: name, desc: desc,
      status: status, steps: steps, triggers: triggers, lastRun: lastRun, actionsSig: null, form: null
    };
    runBtn.addEventListener('click', function () {
      if (detail.hidden) openForm(parts, true);
      else closeForm(parts, false);
    });
    return parts;
  }

  function updateActionRow(parts, a) {
    parts.action = a;
    parts.name.textContent = a.name;
    parts.desc.textContent = a.description || '';
    parts.desc.hidden = !a.description;
    parts.runBtn.setAttribute('aria-label', 'Run ' + a.name);

    parts.status.textContent = '';
    var badge = el('span', 'sy-pill sy-action-enabled', a.enabled ? 'enabled' : 'disabled');
    badge.dataset.enabled = String(a.enabled);
    parts.status.appendChild(badge);
    if (a.pausedReason) {
      var warn = el('p', 'sy-action-paused');
      warn.appendChild(el('strong', null, 'Paused: '));
      warn.appendChild(document.createTextNode(a.pausedReason));
      parts.status.appendChild(warn);
    }
    parts.row.classList.toggle('sy-row-warn', !!a.pausedReason);

    parts.steps.textContent = '';
    var ol = el('ol', 'sy-step-summary');
    ol.setAttribute('aria-label', plural(a.steps.length, 'step', 'steps'));
    a.steps.forEach(function (s, i) {
      var li = el('li');
      if (i) {
        var arrow = el('span', 'sy-step-arrow', ' → ');
        arrow.setAttribute('aria-hidden', 'true');
        li.appendChild(arrow);
      }
      var code = el('code', null, stepText(s));
      code.title = 'Step ' + (i + 1) + ': ' + s.key;
      li.appendChild(code);
      ol.appendChild(li);
    });
    parts.steps.appendChild(ol);

    parts.triggers.textContent = '';
    if (!a.triggers.length) {
      parts.triggers.appendChild(el('span', 'sy-muted', 'By hand only'));
    } else {
      var ul = el('ul', 'sy-plain-list sy-trigger-list');
      a.triggers.forEach(function (t) { ul.appendChild(triggerItem(t)); });
      parts.triggers.appendChild(ul);
    }

    fillLastRun(parts);

    var sig = a.enabled + '|' + isOwner;
    if (sig !== parts.actionsSig && !parts.holder.dataset.confirming) {
      parts.actionsSig = sig;
      fillActionButtons(parts, a);
    }
    if (parts.form) parts.form.hint.textContent = inputHint(a);
  }

  function fillLastRun(parts) {
    var r = lastRunOf[parts.id];
    var td = parts.lastRun;
    td.textContent = '';
    if (!r) { td.className = 'sy-action-last sy-muted'; td.textContent = 'Never'; return; }
    td.className = 'sy-action-last';
    td.appendChild(statusPill(r.status, true));
    td.appendChild(document.createTextNode(' '));
    td.appendChild(timeEl(r.createdAt));
  }

  function fillActionButtons(parts, a) {
    var holder = parts.holder;
    holder.textContent = '';
    holder.appendChild(parts.runBtn);
    if (!isOwner) return;
    var toggle = button(a.enabled ? 'Disable' : 'Enable', 'sy-button-secondary', (a.enabled ? 'Disable ' : 'Enable ') + a.name);
    holder.appendChild(toggle);
    toggle.addEventListener('click', function () { setEnabled(parts, !a.enabled, toggle); });
    var del = button('Delete', 'sy-button-danger', 'Delete ' + a.name);
    holder.appendChild(del);
    del.addEventListener('click', function () { confirmDelete(parts, del); });
  }

  function setEnabled(parts, enabled, btn) {
    var a = parts.action;
    btn.disabled = true;
    gql(UPDATE_MUTATION, { input: { id: a.id, enabled: enabled } }).then(function (data) {
      var p = data.updateAction;
      if (p.userErrors.length) {
        btn.disabled = false;
        showBox(errorBox, 'Could not ' + (enabled ? 'enable ' : 'disable ') + a.name + ': ' + userErrorText(p.userErrors));
        return;
      }
      showBox(errorBox, '');
      var list = actions.map(function (x) { return x.id === a.id ? p.action : x; });
      renderActions(list);
      announce((enabled ? 'Enabled ' : 'Disabled ') + a.name + '.');
      // The toggle was redrawn: keep the focus on it.
      var again = Array.prototype.find.call(parts.holder.querySelectorAll('button'), function (b) {
        return b.textContent === (enabled ? 'Disable' : 'Enable');
      });
      if (again) again.focus();
    }, function (e) {
      btn.disabled = false;
      showBox(errorBox, 'Could not ' + (enabled ? 'enable ' : 'disable ') + a.name + ': ' + e.message);
    });
  }

  function confirmDelete(parts, del) {
    var a = parts.action;
    confirmStep(parts.holder, 'Its triggers and runs are deleted too.', 'Delete now', 'Cancel', a.name, del,
      function (restore) {
        gql(DELETE_MUTATION, { input: { id: a.id } }).then(function (data) {
          var p = data.deleteAction;
          if (p.userErrors.length) {
            restore(true);
            showBox(errorBox, 'Could not delete ' + a.name + ': ' + userErrorText(p.userErrors));
            return;
          }
          restore(false);
          showBox(errorBox, '');
          delete inputs[a.id];
          delete lastRunOf[a.id];
          announce('Deleted ' + a.name + '.');
          summary.focus();
          renderActions(actions.filter(function (x) { return x.id !== a.id; }));
          // Its runs went with it.
          var gone = runs.filter(function (r) { return r.actionId === a.id; });
          gone.forEach(function (r) { dropRun(r.id); });
          renderRunsSummary();
          refreshActions();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + a.name + ': ' + e.message);
        });
      });
  }

  // ---- the Run form (under the action's row) ----
  function inputHint(a) {
    var names = inputNames(a);
    return 'A JSON object; the steps read it as {{ input.… }}' +
      (names.length ? ' (these use ' + names.map(function (n) { return 'input.' + n; }).join(', ') + ')' : '') + '.';
  }

  function defaultInput(a) {
    var names = inputNames(a);
    if (!names.length) return '{}';
    var o = {};
    names.forEach(function (n) { o[n] = ''; });
    return JSON.stringify(o, null, 2);
  }

  function closeForm(parts, focus) {
    var input = parts.form && parts.form.textarea;
    if (input) inputs[parts.id] = input.value;
    parts.detail.hidden = true;
    parts.cell.textContent = '';
    parts.form = null;
    parts.runBtn.setAttribute('aria-expanded', 'false');
    if (openRunForm === parts.id) openRunForm = null;
    if (focus) parts.runBtn.focus();
  }

  function openForm(parts, focus) {
    if (openRunForm && openRunForm !== parts.id && rowParts[openRunForm]) closeForm(rowParts[openRunForm], false);
    openRunForm = parts.id;
    var a = parts.action;
    parts.runBtn.setAttribute('aria-expanded', 'true');
    parts.detail.hidden = false;
    var cell = parts.cell;
    cell.textContent = '';
    var base = 'run-' + a.id;

    var box = el('div', 'sy-oauth-authz sy-run-box');
    var h = el('h4', null, 'Run ' + a.name);
    h.id = base + '-title';
    box.appendChild(h);
    var form = el('form', 'sy-oauth-form sy-run-form');
    form.noValidate = true;
    form.setAttribute('aria-labelledby', h.id);

    var f = el('div', 'sy-field');
    var label = el('label', null, 'Input ');
    label.htmlFor = base + '-input';
    label.appendChild(el('span', 'sy-optional', '(JSON object)'));
    var textarea = el('textarea', 'sy-code-input sy-run-input');
    textarea.id = base + '-input';
    textarea.rows = 5;
    textarea.spellcheck = false;
    textarea.value = inputs[a.id] != null ? inputs[a.id] : defaultInput(a);
    var hint = el('p', 'sy-hint', inputHint(a));
    hint.id = base + '-input-hint';
    var fieldError = el('p', 'sy-field-error');
    fieldError.id = base + '-input-error';
    fieldError.hidden = true;
    textarea.setAttribute('aria-describedby', hint.id + ' ' + fieldError.id);
    f.appendChild(label);
    f.appendChild(textarea);
    f.appendChild(hint);
    f.appendChild(fieldError);
    form.appendChild(f);

    var formError = SY.formErrorBox();
    form.appendChild(formError);

    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', 'Run now');
    submit.type = 'submit';
    submit.setAttribute('aria-label', 'Run ' + a.name + ' now');
    var cancel = button('Close', 'sy-button-secondary', 'Close the Run form of ' + a.name);
    var result = el('span', 'sy-run-result');
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');
    row.appendChild(submit);
    row.appendChild(cancel);
    row.appendChild(result);
    form.appendChild(row);
    box.appendChild(form);
    cell.appendChild(box);
    parts.form = { textarea: textarea, hint: hint, error: fieldError, formError: formError, result: result };

    function clearErrors() {
      textarea.removeAttribute('aria-invalid');
      fieldError.textContent = '';
      fieldError.hidden = true;
      showBox(formError, '');
    }
    function fieldProblem(message) {
      fieldError.textContent = message;
      fieldError.hidden = false;
      textarea.setAttribute('aria-invalid', 'true');
      textarea.focus();
    }

    cancel.addEventListener('click', function () { closeForm(parts, true); });
    form.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); closeForm(parts, true); }
      // Ctrl+Enter (⌘Enter) runs from the textarea.
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(submit); }
    });
    textarea.addEventListener('input', function () {
      inputs[a.id] = textarea.value;
      if (textarea.getAttribute('aria-invalid')) clearErrors();
    });

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearErrors();
      result.className = 'sy-run-result';
      result.textContent = '';
      var text = textarea.value;
      var value;
      if (!text.trim()) {
        value = {};
      } else {
        try {
          value = JSON.parse(text);
        } catch (e) {
          fieldProblem('Not valid JSON: ' + e.message);
          var m = /position (\d+)/.exec(e.message);
          if (m) {
            var pos = Math.min(Number(m[1]), text.length);
            textarea.setSelectionRange(pos, Math.min(pos + 1, text.length));
          }
          return;
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          fieldProblem('Give a JSON object ({ … }), not ' + (Array.isArray(value) ? 'an array' : value === null ? 'null' : 'a ' + typeof value) + '.');
          return;
        }
      }
      submit.disabled = true;
      result.textContent = 'Starting…';
      gql(RUN_MUTATION, { input: { id: a.id, input: value } }).then(function (data) {
        var p = data.runAction;
        if (p.userErrors.length) {
          result.className = 'sy-run-result sy-inline-error';
          result.textContent = 'Not started.';
          var general = [];
          var onField = false;
          p.userErrors.forEach(function (e) {
            if (e.field && e.field[0] === 'input' && e.field[1] === 'input') {
              fieldError.appendChild(el('span', null, e.message));
              onField = true;
            } else {
              general.push(e.message);
            }
          });
          if (onField) {
            fieldError.hidden = false;
            textarea.setAttribute('aria-invalid', 'true');
            textarea.focus();
          }
          showBox(formError, general.join(' '));
          if (!onField && general.length) formError.focus();
          return;
        }
        var r = p.run;
        result.className = 'sy-run-result';
        result.textContent = '';
        result.appendChild(document.createTextNode('Started, ' + (STATUS_TEXT[r.status] || r.status) + ': '));
        var link = el('a', null, 'see the run below');
        link.href = '#run-' + r.id;
        link.addEventListener('click', function (ev2) {
          ev2.preventDefault();
          var rp = runParts[r.id];
          if (rp) { rp.row.scrollIntoView({ block: 'center' }); rp.stepsBtn.focus(); }
        });
        result.appendChild(link);
        result.appendChild(document.createTextNode('.'));
        if (wantRun(r)) {
          upsertRun(r, true);
          selectRun(r.id, false);
        } else {
          // The runs shown are another action's: show them all, with this one open.
          noteLastRun(r);
          runsFilter.value = '';
          loadRuns().then(function () { selectRun(r.id, false); });
        }
      }, function (e) {
        SY.formFailed(result, 'sy-run-result', 'Not started.', formError, e.message);
      }).then(function () { submit.disabled = false; });
    });

    if (focus) textarea.focus();
  }

  // ---- the list: HTTP once and after changes ----
  var LOAD_ERROR = 'Could not load the actions: ';

  var refreshActions = SY.oneAtATime(function () {
    return gql(ACTIONS_QUERY).then(function (data) {
      if (errorBox.textContent.indexOf(LOAD_ERROR) === 0) showBox(errorBox, '');
      renderActions(data.actions.nodes);
    }, function (e) {
      if (e.code === 'UNAUTHORIZED' || e.code === 'FORBIDDEN') { stopLive(e); return; }
      showBox(errorBox, LOAD_ERROR + e.message);
      if (!actions.length) setPlaceholder('The actions could not be loaded.');
    });
  });

  // A run's news can change an action's next tick or paused state: read
  // the list again, at most once every 2 s.
  var actionsTimer = null;
  function refreshActionsSoon() {
    if (actionsTimer) return;
    actionsTimer = setTimeout(function () { actionsTimer = null; refreshActions(); }, 2000);
  }

  // ================= the runs timeline =================
  function runPlaceholder(text) {
    SY.placeholderRow(runRows, text, 8);
    runParts = {};
  }

  function renderRunsSummary() {
    var n = runs.length;
    var filter = runsFilter.value;
    if (!n) {
      runsSummary.textContent = 'No runs yet' + (filter ? ' of ' + actionName(filter) : '') + '. Runs appear here as they start.';
      if (!runRows.querySelector('.sy-placeholder')) runPlaceholder('No runs yet.');
      return;
    }
    var going = runs.filter(function (r) { return !FINAL[r.status]; }).length;
    var failed = runs.filter(function (r) { return r.status === 'FAILED'; }).length;
    runsSummary.textContent = (n >= RUNS_PAGE ? 'The newest ' + n + ' runs' : plural(n, 'run', 'runs')) +
      (filter ? ' of ' + actionName(filter) : '') +
      (going ? ' · ' + going + ' under way' : '') + (failed ? ' · ' + failed + ' failed' : '') +
      '. Updated live; open a run to see its steps.';
  }

  function wantRun(r) {
    return !runsFilter.value || r.actionId === runsFilter.value;
  }

  function noteLastRun(r) {
    var prev = lastRunOf[r.actionId];
    if (prev && prev.id !== r.id && Date.parse(prev.createdAt) > Date.parse(r.createdAt)) return;
    // The list's short form of a run does not replace later news of it.
    if (prev && prev.id === r.id && !r.steps && prev.steps) return;
    lastRunOf[r.actionId] = r;
    if (rowParts[r.actionId]) fillLastRun(rowParts[r.actionId]);
  }

  // Adds or updates one run (from the list, runAction or the subscription).
  // Whether `r` is older news than `known` (runAction's answer may come
  // after the subscription already told of later states).
  function stale(r, known) {
    if (!known || !known.steps) return false;
    if (FINAL[known.status] && !FINAL[r.status]) return true;
    if (r.steps.length < known.steps.length) return true;
    return !r.startedAt && !!known.startedAt;
  }

  function upsertRun(r, mine) {
    var last = lastRunOf[r.actionId];
    if (stale(r, runById[r.id]) || (last && last.id === r.id && stale(r, last))) return;
    noteLastRun(r);
    if (!wantRun(r)) return;
    var before = runById[r.id];
    runById[r.id] = r;
    if (!before) {
      runs.push(r);
      runs.sort(function (x, y) {
        return x.createdAt < y.createdAt ? 1 : x.createdAt > y.createdAt ? -1 : (x.id < y.id ? 1 : -1);
      });
      // Keep the page's worth, never dropping the opened run.
      while (runs.length > RUNS_PAGE) {
        var drop = runs[runs.length - 1].id === selectedRun ? runs[runs.length - 2] : runs[runs.length - 1];
        dropRun(drop.id);
      }
    } else {
      runs[runs.indexOf(before)] = r;
    }
    placeRuns();
    var parts = runParts[r.id];
    if (parts) updateRunRow(parts, r);
    if (selectedRun === r.id && parts) renderSteps(parts, r);
    renderRunsSummary();
    if (!before || before.status !== r.status) {
      if (!before && !mine) announceRun('New run of ' + actionName(r.actionId) + ', ' + STATUS_TEXT[r.status] + '.');
      else if (before) announceRun('Run of ' + actionName(r.actionId) + ' ' + runSentence(r));
    }
  }

  function runSentence(r) {
    var s = STATUS_TEXT[r.status] || r.status;
    if (r.status === 'WAITING' && r.waitUntil) return s + ' until ' + shortTime(r.waitUntil) + '.';
    if ((r.status === 'FAILED' || r.status === 'PAUSED') && r.error) return s + ': ' + r.error;
    return s + '.';
  }

  function dropRun(id) {
    var r = runById[id];
    if (!r) return;
    delete runById[id];
    runs.splice(runs.indexOf(r), 1);
    var p = runParts[id];
    if (p) {
      if (p.row.parentNode) runRows.removeChild(p.row);
      if (p.detail.parentNode) runRows.removeChild(p.detail);
      delete runParts[id];
    }
    if (selectedRun === id) selectedRun = null;
    if (!runs.length) runPlaceholder('No runs yet.');
  }

  // Puts the rows in the runs' order (newest first), making missing ones.
  function placeRuns() {
    if (runRows.querySelector('.sy-placeholder')) { runRows.textContent = ''; runParts = {}; }
    var anchor = runRows.firstChild;
    runs.forEach(function (r) {
      var parts = runParts[r.id];
      if (!parts) {
        parts = runRowParts(r);
        runParts[r.id] = parts;
        updateRunRow(parts, r);
      }
      if (parts.row !== anchor) {
        runRows.insertBefore(parts.row, anchor);
        runRows.insertBefore(parts.detail, anchor);
      }
      anchor = parts.detail.nextSibling;
    });
  }

  function runRowParts(r) {
    var tr = el('tr');
    tr.id = 'run-' + r.id;
    tr.dataset.runId = r.id;
    var th = el('th');
    th.scope = 'row';
    th.appendChild(timeEl(r.createdAt));
    tr.appendChild(th);
    var actionCell = el('td', 'sy-run-action', actionName(r.actionId));
    var trigger = el('td', 'sy-run-trigger');
    var status = el('td', 'sy-run-state');
    var steps = el('td', 'sy-num');
    var duration = el('td', 'sy-num');
    var error = el('td', 'sy-conn-error sy-run-error');
    [actionCell, trigger, status, steps, duration, error].forEach(function (td) { tr.appendChild(td); });
    var actionsTd = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    actionsTd.appendChild(holder);
    tr.appendChild(actionsTd);

    var detailId = 'run-steps-' + r.id;
    var stepsBtn = button('Steps', 'sy-button-secondary');
    stepsBtn.setAttribute('aria-expanded', 'false');
    stepsBtn.setAttribute('aria-controls', detailId);
    holder.appendChild(stepsBtn);

    var d = SY.detailRow(detailId, 8, 'sy-run-detail');
    var detail = d.detail, cell = d.cell;

    var parts = {
      id: r.id, row: tr, detail: detail, cell: cell, holder: holder, stepsBtn: stepsBtn, cancelBtn: null,
      actionCell: actionCell, trigger: trigger, status: status, steps: steps, duration: duration, error: error
    };
    stepsBtn.addEventListener('click', function () {
      if (selectedRun === r.id) unselectRun(true);
      else selectRun(r.id, true);
    });
    return parts;
  }

  function fillDuration(td, r) {
    td.textContent = '';
    var ms = runDuration(r);
    if (ms == null || (!r.startedAt && !FINAL[r.status])) dashCell(td);
    else td.textContent = durationText(ms);
  }

  function updateRunRow(parts, r) {
    var total = actionById[r.actionId] ? actionById[r.actionId].steps.length : null;
    var name = actionName(r.actionId);
    parts.actionCell.textContent = name;
    parts.stepsBtn.setAttribute('aria-label', 'Steps of the run of ' + name + ' started ' + shortTime(r.createdAt));
    parts.trigger.textContent = TRIGGER_TEXT[r.trigger] || String(r.trigger).toLowerCase();
    parts.trigger.title = r.actor ? 'Started by ' + actorText(r.actor) : '';

    parts.status.textContent = '';
    parts.status.appendChild(statusPill(r.status));
    if (r.status === 'WAITING' && r.waitUntil) {
      var until = el('span', 'sy-run-until sy-muted', ' until ');
      until.appendChild(timeEl(r.waitUntil));
      parts.status.appendChild(until);
    }

    var done = r.steps.filter(function (s) { return s.status === 'SUCCEEDED'; }).length;
    parts.steps.textContent = done + (total != null ? ' / ' + total : '');
    parts.steps.title = done + ' of ' + (total != null ? total : '?') + ' steps done';

    fillDuration(parts.duration, r);

    parts.error.textContent = '';
    if (r.error) {
      var t = el('span', 'sy-trunc sy-trunc-error', r.error);
      t.title = r.error;
      parts.error.appendChild(t);
    } else {
      dashCell(parts.error);
    }
    parts.row.classList.toggle('sy-row-warn', r.status === 'FAILED' || r.status === 'PAUSED');

    // Cancel while the run has not ended (not while its confirm step is open).
    if (!parts.holder.dataset.confirming) {
      var want = !FINAL[r.status];
      if (want && !parts.cancelBtn) {
        var c = button('Cancel', 'sy-button-danger', 'Cancel the run of ' + name);
        parts.cancelBtn = c;
        parts.holder.appendChild(c);
        c.addEventListener('click', function () { confirmCancel(parts, c); });
      } else if (!want && parts.cancelBtn) {
        var hadFocus = document.activeElement === parts.cancelBtn;
        if (parts.cancelBtn.parentNode) parts.holder.removeChild(parts.cancelBtn);
        parts.cancelBtn = null;
        if (hadFocus) parts.stepsBtn.focus();
      }
    }
  }

  function confirmCancel(parts, btn) {
    var r = runById[parts.id];
    var name = r ? actionName(r.actionId) : 'the action';
    confirmStep(parts.holder, 'A step under way finishes; nothing after it runs.', 'Cancel run', 'Keep running',
      'the run of ' + name, btn, function (restore) {
        gql(CANCEL_MUTATION, { input: { id: parts.id } }).then(function (data) {
          var p = data.cancelActionRun;
          restore(false);
          // News that came while the question was open (the run may have ended).
          if (runById[parts.id]) updateRunRow(parts, runById[parts.id]);
          if (p.userErrors.length) {
            showBox(errorBox, 'Could not cancel the run of ' + name + ': ' + userErrorText(p.userErrors));
            if (btn.isConnected) btn.focus(); else parts.stepsBtn.focus();
            return;
          }
          showBox(errorBox, '');
          if (p.run) upsertRun(p.run, true);
          announce('Cancelled the run of ' + name + '.');
          parts.stepsBtn.focus();
        }, function (e) {
          restore(true);
          if (runById[parts.id]) updateRunRow(parts, runById[parts.id]);
          showBox(errorBox, 'Could not cancel the run of ' + name + ': ' + e.message);
        });
      });
  }

  // ---- one run's steps ----
  function selectRun(id, focus) {
    if (selectedRun && selectedRun !== id) unselectRun(false);
    var parts = runParts[id];
    var r = runById[id];
    if (!parts || !r) return;
    selectedRun = id;
    parts.detail.hidden = false;
    parts.row.classList.add('sy-row-current');
    parts.stepsBtn.setAttribute('aria-expanded', 'true');
    renderSteps(parts, r);
    if (focus) parts.heading.focus();
  }

  function unselectRun(focus) {
    var parts = runParts[selectedRun];
    selectedRun = null;
    if (!parts) return;
    parts.detail.hidden = true;
    parts.cell.textContent = '';
    parts.heading = null;
    parts.stepsSig = null;
    parts.row.classList.remove('sy-row-current');
    parts.stepsBtn.setAttribute('aria-expanded', 'false');
    if (focus) parts.stepsBtn.focus();
  }

  function jsonText(v) {
    if (v == null) return '';
    try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); }
  }

  // A response body as sent, pretty-printed when it is JSON.
  function bodyText(body) {
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }

  function requestLine(s) {
    var q = s.request;
    if (!q || typeof q !== 'object') return null;
    if (s.kind === 'DELAY') return null;
    var bits = [];
    if (q.method) bits.push(q.method);
    if (q.provider) bits.push(q.provider);
    if (q.path) bits.push(q.path);
    else if (q.url) bits.push(q.url);
    return bits.length ? bits.join(' ') : null;
  }

  function renderSteps(parts, r) {
    var cell = parts.cell;
    // Keep the reader's place: the heading stays (it may hold the focus).
    var a = actionById[r.actionId];
    var heading = parts.heading;
    if (!heading || heading.parentNode === null || !cell.contains(heading)) {
      cell.textContent = '';
      var box = el('div', 'sy-oauth-authz sy-run-steps-box');
      heading = el('h4');
      heading.id = 'run-steps-title-' + r.id;
      heading.tabIndex = -1;
      box.appendChild(heading);
      var body = el('div', 'sy-run-steps-body');
      box.appendChild(body);
      cell.appendChild(box);
      parts.heading = heading;
      parts.body = body;
    }
    heading.textContent = 'Run of ' + actionName(r.actionId) + ' started ' + shortTime(r.createdAt) + ' — ' +
      (STATUS_TEXT[r.status] || r.status);
    var out = parts.body;
    // Nothing new: keep the drawn steps (and the reader's scroll in them).
    var sig = JSON.stringify(r) + '|' + (a ? JSON.stringify(a.steps) : '');
    if (sig === parts.stepsSig && out.firstChild) return;
    parts.stepsSig = sig;
    // The focus, if it is on a part that is drawn again, goes back to it.
    var focused = out.contains(document.activeElement) && document.activeElement.dataset
      ? document.activeElement.dataset.focusKey : null;
    // Remember open <details> and scroll positions across redraws.
    var openDetails = {};
    Array.prototype.forEach.call(out.querySelectorAll('details[data-key]'), function (d) {
      openDetails[d.dataset.key] = d.open;
    });
    out.textContent = '';

    var meta = el('p', 'sy-run-meta sy-muted');
    meta.textContent = 'Run ' + r.id + ' · ' + (TRIGGER_TEXT[r.trigger] || r.trigger) +
      (r.actor ? ' · by ' + actorText(r.actor) : '') +
      (r.startedAt ? ' · started ' + shortTime(r.startedAt) : ' · not started yet') +
      (r.finishedAt ? ' · ended ' + shortTime(r.finishedAt) : '');
    out.appendChild(meta);
    if (r.error) {
      var err = el('p', r.status === 'PAUSED' ? 'sy-run-paused' : 'sy-inline-error sy-run-error-line');
      err.appendChild(el('strong', null, (r.status === 'PAUSED' ? 'Paused' : 'Error') + ': '));
      err.appendChild(document.createTextNode(r.error));
      out.appendChild(err);
    }
    if (r.status === 'WAITING' && r.waitUntil) {
      out.appendChild(el('p', 'sy-run-paused', 'Waiting until ' + formatTime(r.waitUntil) + '.'));
    }

    var inputDetails = el('details', 'sy-run-input-details');
    inputDetails.dataset.key = '_input';
    inputDetails.open = !!openDetails._input;
    var inputSummary = el('summary', null, 'Input');
    inputSummary.dataset.focusKey = 'input-summary';
    inputDetails.appendChild(inputSummary);
    var inputPre = el('pre', 'sy-code sy-run-pre', jsonText(r.input));
    inputPre.tabIndex = 0;
    inputPre.dataset.focusKey = 'input';
    inputPre.setAttribute('aria-label', 'Input of the run');
    inputDetails.appendChild(inputPre);
    out.appendChild(inputDetails);

    var list = el('ol', 'sy-run-steps');
    list.setAttribute('aria-label', 'Steps of the run');
    var planned = a ? a.steps : [];
    var count = Math.max(planned.length, r.steps.length);
    for (var i = 0; i < count; i++) {
      var s = r.steps[i];
      var plan = planned[i];
      var li = el('li', 'sy-run-step');
      li.dataset.key = s ? s.key : plan.key;
      li.dataset.status = s ? s.status : 'PENDING';
      var head = el('div', 'sy-run-step-head');
      // The spaces keep the parts apart when read out (the flex gap shows them).
      var add = function (node) {
        if (head.firstChild) head.appendChild(document.createTextNode(' '));
        head.appendChild(node);
      };
      add(el('span', 'sy-run-step-no', (i + 1) + '.'));
      add(el('code', 'sy-run-step-key', s ? s.key : plan.key));
      add(el('span', 'sy-muted sy-run-step-kind', (s ? s.kind : plan.kind)));
      if (s) {
        var chip = el('span', 'sy-pill sy-run-status sy-run-status-small', STATUS_TEXT[s.status] || s.status.toLowerCase());
        chip.dataset.status = s.status;
        add(chip);
        var facts = [];
        facts.push(plural(s.attempts, 'attempt', 'attempts'));
        if (s.response) facts.push('HTTP ' + s.response.status);
        facts.push(durationText(s.durationMs));
        if (s.status === 'WAITING' && s.waitUntil) facts.push('until ' + shortTime(s.waitUntil));
        add(el('span', 'sy-run-step-facts', facts.join(' · ')));
      } else {
        // The step under way is kept on the run once it ends or waits.
        var current = i === r.currentStep && r.status === 'RUNNING';
        var notYet = el('span', 'sy-pill sy-run-status sy-run-status-small',
          current ? 'running' : FINAL[r.status] ? 'not run' : 'pending');
        notYet.dataset.status = current ? 'RUNNING' : 'PENDING';
        li.dataset.status = current ? 'RUNNING' : 'PENDING';
        add(notYet);
      }
      li.appendChild(head);
      if (s) {
        var line = requestLine(s);
        if (line) li.appendChild(el('p', 'sy-request-line sy-run-request', line));
        if (s.error) {
          var e = el('p', s.status === 'FAILED' ? 'sy-inline-error sy-run-step-error' : 'sy-run-step-note');
          e.textContent = s.error;
          li.appendChild(e);
        }
        if (s.response) {
          var label = 'Response body of step ' + (i + 1) + ' (' + s.key + ')' + (s.response.truncated ? ', cut to 4 KiB' : '');
          var pre = el('pre', 'sy-code sy-run-pre sy-run-response', s.response.body ? bodyText(s.response.body) : '(empty)');
          pre.tabIndex = 0;
          pre.dataset.focusKey = 'response-' + i;
          pre.setAttribute('aria-label', label);
          li.appendChild(pre);
          if (s.response.truncated) li.appendChild(el('p', 'sy-hint', 'The body was cut to 4 KiB.'));
        }
      }
      list.appendChild(li);
    }
    out.appendChild(list);
    if (focused) {
      var again = out.querySelector('[data-focus-key="' + focused + '"]');
      if (again) again.focus();
    }
  }

  // ---- the runs: HTTP for the start (and the filter), then live ----
  var runsGen = 0;
  function loadRuns() {
    var gen = ++runsGen;
    var filter = runsFilter.value ? { actionId: runsFilter.value } : null;
    return gql(RUNS_QUERY, { filter: filter }).then(function (data) {
      if (gen !== runsGen) return;
      var keepSelected = selectedRun;
      runs = [];
      runById = {};
      runParts = {};
      selectedRun = null;
      runRows.textContent = '';
      var list = data.actionRuns.nodes;
      list.forEach(function (r) {
        runById[r.id] = r;
        runs.push(r);
        noteLastRun(r);
      });
      if (runs.length) placeRuns();
      else runPlaceholder('No runs yet.');
      renderRunsSummary();
      touched();
      if (keepSelected && runById[keepSelected]) selectRun(keepSelected, false);
    }, function (e) {
      if (gen !== runsGen) return;
      if (e.code === 'UNAUTHORIZED' || e.code === 'FORBIDDEN') { stopLive(e); return; }
      showBox(errorBox, 'Could not load the runs: ' + e.message);
      if (!runs.length) runPlaceholder('The runs could not be loaded.');
    });
  }

  runsFilter.addEventListener('change', function () {
    runsSummary.textContent = 'Loading runs…';
    loadRuns();
  });

  function onRunEvent(r) {
    touched();
    var before = runById[r.id] || lastRunOf[r.actionId];
    var isNew = !runById[r.id];
    upsertRun(r, false);
    // A new run or an ended one may move a schedule's next tick or a paused state.
    if (isNew || FINAL[r.status] || r.status === 'PAUSED' || (before && before.status === 'PAUSED')) refreshActionsSoon();
    if (!actionById[r.actionId]) refreshActionsSoon();
  }


  var feed = SY.liveFeed({
    area: 'actions', pill: pill, updated: updated, errorBox: errorBox, what: 'the actions',
    query: RUNS_SUBSCRIPTION, field: 'actionRuns', onData: onRunEvent,
    onConnected: function (again) {
      // Runs may be rare: "live" once the socket carries the subscription.
      // After a reconnect, read what changed while the socket was down.
      if (again) { loadRuns(); refreshActions(); }
      feed.setStatus('live');
    }
  });
  var stopLive = feed.stop;

  // ================= start =================
  // The inline dashboard script shows the "not signed in" notice; this
  // panel only appears for a session. Owners get enable/disable and delete.
  SY.session().then(function (session) {
    if (!session) return;
    return gql(VIEWER_QUERY).then(function (data) {
      isOwner = data.viewer.role === 'OWNER';
      viewerId = data.viewer.user && data.viewer.user.id;
      panel.hidden = false;
      return refreshActions().then(loadRuns).then(function () {
        feed.start();
        // Actions made or changed elsewhere, next ticks: read the list again
        // every minute while the page is shown.
        setInterval(function () {
          if (!feed.stopped() && document.visibilityState === 'visible') refreshActions();
        }, 60000);
        if (window.location.hash === '#actions-panel') panel.scrollIntoView({ block: 'start' });
      });
    }, function () {
      // Not signed in after all (the session ended in between): show nothing.
    });
  });
})();
