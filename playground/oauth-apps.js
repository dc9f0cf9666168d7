// The dashboard's OAuth panels (issue 20): "OAuth apps" for workspace owners
// (register, list with usage, roll the client secret, delete, see and revoke
// the members' authorizations) and "Apps you authorized" for every signed-in
// user (withdraw). Served at /playground/oauth-apps.js; load it after
// /playground/app.js. It keeps to its own two <section>s of dashboard.html.
(function () {
  'use strict';

  var APP_FIELDS = 'id name description clientId confidential redirectUris scopes createdAt ' +
    'lastUsedAt usageCount usage(days: 7) { day total }';
  var VIEWER_QUERY = 'query { viewer { role user { id } } }';
  var APPS_QUERY = 'query { oauthApps(first: 100) { totalCount pageInfo { hasNextPage } ' +
    'edges { node { ' + APP_FIELDS + ' } } } }';
  var APP_AUTHORIZATIONS_QUERY = 'query($id: ID!) { oauthApp(id: $id) { id authorizations(first: 100) { ' +
    'pageInfo { hasNextPage } edges { node { id user { id email } scopes createdAt lastUsedAt } } } } }';
  var AUTHORIZED_QUERY = 'query { authorizedApps(first: 100) { pageInfo { hasNextPage } ' +
    'edges { node { id app { id name description } scopes createdAt lastUsedAt } } } }';
  var USER_ERRORS = 'userErrors { field message code }';
  var CREATE_MUTATION = 'mutation($input: CreateOAuthAppInput!) { createOAuthApp(input: $input) { ' +
    'secret oauthApp { ' + APP_FIELDS + ' } ' + USER_ERRORS + ' } }';
  var ROLL_MUTATION = 'mutation($input: RollOAuthAppSecretInput!) { rollOAuthAppSecret(input: $input) { ' +
    'secret oauthApp { id name } ' + USER_ERRORS + ' } }';
  var DELETE_MUTATION = 'mutation($input: DeleteOAuthAppInput!) { deleteOAuthApp(input: $input) { ' +
    'deletedId ' + USER_ERRORS + ' } }';
  var REVOKE_MUTATION = 'mutation($input: RevokeAppAuthorizationInput!) { revokeAppAuthorization(input: $input) { ' +
    'deletedId ' + USER_ERRORS + ' } }';

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, gql = SY.gql, showBox = SY.showBox, formatTime = SY.formatTime;
  var $ = function (id) { return document.getElementById(id); };

  var viewerUserId = null;

  // ---- small helpers ----
  var plural = SY.plural, button = SY.button, userErrorText = SY.userErrorText;

  // A table cell with a <time>; `never` when there is no time.
  function timeCell(iso, never) {
    var td = el('td');
    if (!iso) { td.textContent = never; td.className = 'sy-muted'; return td; }
    td.appendChild(SY.timeEl(iso));
    return td;
  }

  function scopesText(scopes) { return scopes.length ? scopes.join(', ') : '—'; }

  function sevenDayTotal(usage) {
    return (usage || []).reduce(function (n, d) { return n + d.total; }, 0);
  }

  function codeEl(text) { return el('code', null, text); }

  // A URL in <code> that may wrap after a "/" (not inside a host name).
  function urlCode(url) {
    var c = el('code');
    url.split('/').forEach(function (part, i, all) {
      c.appendChild(document.createTextNode(part + (i < all.length - 1 ? '/' : '')));
      if (i > 1 && i < all.length - 1) c.appendChild(el('wbr'));
    });
    return c;
  }

  // "App name", a confidential/public chip and the description.
  function appNameCell(name, description, confidential) {
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    th.appendChild(el('span', 'sy-oauth-app-name', name));
    if (confidential != null) {
      var chip = el('span', 'sy-kind-chip', confidential ? 'confidential' : 'public');
      chip.dataset.kind = confidential ? 'confidential' : 'public';
      chip.title = confidential ? 'A server-side app with a client secret' : 'A public app: no secret, uses PKCE';
      th.appendChild(document.createTextNode(' '));
      th.appendChild(chip);
    }
    if (description) th.appendChild(el('span', 'sy-oauth-desc sy-muted', description));
    return th;
  }

  // The confirm step of app.js with a Cancel button.
  function confirmStep(holder, question, confirmText, subject, focusBack, run) {
    SY.confirmStep(holder, question, confirmText, 'Cancel', subject, focusBack, run);
  }

  // ================= OAuth apps (owners) =================
  var panel = $('oauth-panel');
  var errorBox = $('oauth-error');
  var live = $('oauth-live');
  var count = $('oauth-count');
  var summary = $('oauth-summary');
  var rows = $('oauth-rows');
  var secretBox = $('oauth-secret');
  var secretTitle = $('oauth-secret-title');
  var secretValue = $('oauth-secret-value');
  var secretCopy = $('oauth-secret-copy');
  var secretDone = $('oauth-secret-done');
  var secretCopied = $('oauth-secret-copied');
  var form = $('oauth-form');
  var nameInput = $('oauth-name');
  var descInput = $('oauth-description');
  var urisInput = $('oauth-uris');
  var confidentialInput = $('oauth-confidential');
  var formError = $('oauth-form-error');
  var formResult = $('oauth-form-result');
  var createBtn = $('oauth-create');
  var scopeBoxes = Array.prototype.slice.call(form.querySelectorAll('input[name="oauth-scope"]'));

  // Which field each `userErrors.field[1]` belongs to: its input and error box.
  var FIELDS = {
    name: { input: nameInput, error: $('oauth-name-error') },
    description: { input: descInput, error: $('oauth-description-error') },
    redirectUris: { input: urisInput, error: $('oauth-uris-error') },
    scopes: { input: scopeBoxes[0], error: $('oauth-scopes-error') }
  };

  var apps = [];            // as listed, newest first
  var openAuthz = {};       // app id → true when its authorizations row is open

  var announce = SY.announcer(live);

  // ---- the secret, shown once ----
  function showSecret(appName, secret, rolled) {
    secretTitle.textContent = (rolled ? 'New client secret for ' : 'Client secret for ') + appName;
    secretValue.value = secret;
    secretCopied.textContent = '';
    secretBox.hidden = false;
    secretTitle.focus();
  }

  function hideSecret() {
    secretValue.value = '';
    secretBox.hidden = true;
  }

  secretCopy.addEventListener('click', function () {
    SY.copyField(secretValue, secretCopied, 'secret');
  });

  secretDone.addEventListener('click', function () {
    hideSecret();
    summary.focus();
  });

  // ---- the list ----
  function setPlaceholder(text) {
    SY.placeholderRow(rows, text, 8);
  }

  var loadApps = SY.oneAtATime(function () {
    return gql(APPS_QUERY).then(function (data) {
      showBox(errorBox, '');
      renderApps(data.oauthApps);
    }, function (e) {
      if (e.code === 'FORBIDDEN') { panel.hidden = true; return; }
      showBox(errorBox, 'Could not load the apps: ' + e.message);
      if (!apps.length) setPlaceholder('The apps could not be loaded.');
    });
  });

  function renderApps(conn) {
    apps = conn.edges.map(function (e) { return e.node; });
    count.textContent = plural(conn.totalCount, 'app', 'apps');
    summary.textContent = conn.totalCount === 0
      ? 'No apps yet. Register one below.'
      : plural(conn.totalCount, 'app', 'apps') +
        (conn.pageInfo.hasNextPage ? ' (newest ' + apps.length + ' shown)' : '') +
        '. Request counts are updated every few seconds.';
    var stillOpen = {};
    rows.textContent = '';
    if (!apps.length) { setPlaceholder('No apps yet.'); openAuthz = {}; return; }
    apps.forEach(function (a) {
      var parts = appRows(a);
      rows.appendChild(parts.row);
      rows.appendChild(parts.detail);
      if (openAuthz[a.id]) {
        stillOpen[a.id] = true;
        openAuthorizations(a, parts, false);
      }
    });
    openAuthz = stillOpen;
  }

  function appRows(a) {
    var tr = el('tr');
    tr.dataset.appId = a.id;

    tr.appendChild(appNameCell(a.name, a.description, a.confidential));

    var idCell = el('td');
    idCell.appendChild(codeEl(a.clientId));
    tr.appendChild(idCell);

    tr.appendChild(el('td', 'sy-oauth-scopes', scopesText(a.scopes)));

    var uris = el('td', 'sy-oauth-uris');
    var ul = el('ul', 'sy-plain-list');
    a.redirectUris.forEach(function (u) {
      var li = el('li');
      li.appendChild(urlCode(u));
      ul.appendChild(li);
    });
    uris.appendChild(ul);
    tr.appendChild(uris);

    tr.appendChild(el('td', 'sy-num', sevenDayTotal(a.usage)));
    tr.appendChild(el('td', 'sy-num', a.usageCount));
    tr.appendChild(timeCell(a.lastUsedAt, 'Never'));

    var actions = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    var authzBtn = button('Authorizations', 'sy-button-secondary');
    var detailId = 'oauth-authz-' + a.id;
    authzBtn.setAttribute('aria-expanded', 'false');
    authzBtn.setAttribute('aria-controls', detailId);
    authzBtn.setAttribute('aria-label', 'Authorizations of ' + a.name);
    holder.appendChild(authzBtn);
    if (a.confidential) {
      var rollBtn = button('Roll secret', 'sy-button-secondary', 'Roll secret of ' + a.name);
      holder.appendChild(rollBtn);
      rollBtn.addEventListener('click', function () { confirmRoll(a, holder, rollBtn); });
    }
    var delBtn = button('Delete', 'sy-button-danger', 'Delete ' + a.name);
    holder.appendChild(delBtn);
    delBtn.addEventListener('click', function () { confirmDelete(a, holder, delBtn); });
    actions.appendChild(holder);
    tr.appendChild(actions);

    var d = SY.detailRow(detailId, 8);
    var detail = d.detail, cell = d.cell;

    var parts = { row: tr, detail: detail, cell: cell, button: authzBtn };
    authzBtn.addEventListener('click', function () {
      if (detail.hidden) {
        openAuthz[a.id] = true;
        openAuthorizations(a, parts, true);
      } else {
        delete openAuthz[a.id];
        detail.hidden = true;
        authzBtn.setAttribute('aria-expanded', 'false');
      }
    });
    return parts;
  }

  // ---- roll and delete ----
  function confirmRoll(a, holder, rollBtn) {
    confirmStep(holder, 'The current secret stops working at once.', 'Roll now',
      'the client secret of ' + a.name, rollBtn, function (restore) {
        gql(ROLL_MUTATION, { input: { id: a.id } }).then(function (data) {
          var p = data.rollOAuthAppSecret;
          restore(false);
          if (p.userErrors.length) {
            showBox(errorBox, 'Could not roll the secret of ' + a.name + ': ' + userErrorText(p.userErrors));
            rollBtn.focus();
            return;
          }
          showBox(errorBox, '');
          formResult.textContent = '';
          announce('New client secret for ' + a.name + ' shown once above the list.');
          showSecret(p.oauthApp.name, p.secret, true);
          loadApps();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not roll the secret of ' + a.name + ': ' + e.message);
        });
      });
  }

  function confirmDelete(a, holder, delBtn) {
    confirmStep(holder, 'Every token of this app stops working.', 'Delete app',
      'the app ' + a.name, delBtn, function (restore) {
        gql(DELETE_MUTATION, { input: { id: a.id } }).then(function (data) {
          var p = data.deleteOAuthApp;
          if (p.userErrors.length) {
            restore(true);
            showBox(errorBox, 'Could not delete ' + a.name + ': ' + userErrorText(p.userErrors));
            return;
          }
          showBox(errorBox, '');
          delete openAuthz[a.id];
          announce('Deleted the app ' + a.name + '.');
          formResult.textContent = '';
          summary.focus();
          loadApps();
          loadAuthorized();
        }, function (e) {
          restore(true);
          showBox(errorBox, 'Could not delete ' + a.name + ': ' + e.message);
        });
      });
  }

  // ---- one app's authorizations ----
  function openAuthorizations(a, parts, focus) {
    parts.detail.hidden = false;
    parts.button.setAttribute('aria-expanded', 'true');
    var cell = parts.cell;
    if (!cell.firstChild) cell.appendChild(el('p', 'sy-muted sy-small', 'Loading authorizations…'));
    gql(APP_AUTHORIZATIONS_QUERY, { id: a.id }).then(function (data) {
      renderAuthorizations(a, parts, data.oauthApp, focus);
    }, function (e) {
      cell.textContent = '';
      cell.appendChild(el('p', 'sy-inline-error', 'Could not load the authorizations: ' + e.message));
    });
  }

  function renderAuthorizations(a, parts, app, focus) {
    var cell = parts.cell;
    cell.textContent = '';
    var box = el('div', 'sy-oauth-authz');
    var headingId = 'oauth-authz-title-' + a.id;
    var h = el('h4', null, 'Members who authorized ' + a.name);
    h.id = headingId;
    h.tabIndex = -1;
    box.appendChild(h);
    var list = app ? app.authorizations.edges.map(function (e) { return e.node; }) : [];
    if (!list.length) {
      box.appendChild(el('p', 'sy-muted sy-small', app ? 'Nobody has authorized this app yet.'
        : 'The app no longer exists.'));
    } else {
      var table = el('table', 'sy-table sy-authz-table');
      table.setAttribute('aria-labelledby', headingId);
      var head = el('tr');
      ['Member', 'Scopes', 'Authorized', 'Last used', ''].forEach(function (t) {
        var th = el('th', null, t);
        th.scope = 'col';
        if (!t) th.appendChild(el('span', 'sy-visually-hidden', 'Actions'));
        head.appendChild(th);
      });
      var thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = el('tbody');
      list.forEach(function (z) { tbody.appendChild(authorizationRow(a, z, parts)); });
      table.appendChild(tbody);
      box.appendChild(table);
      if (app.authorizations.pageInfo.hasNextPage) {
        box.appendChild(el('p', 'sy-muted sy-small', 'The newest 100 are shown.'));
      }
    }
    cell.appendChild(box);
    if (focus) h.focus();
  }

  function authorizationRow(a, z, parts) {
    var tr = el('tr');
    var who = el('th', null, z.user.email);
    who.scope = 'row';
    tr.appendChild(who);
    tr.appendChild(el('td', null, scopesText(z.scopes)));
    tr.appendChild(timeCell(z.createdAt, '—'));
    tr.appendChild(timeCell(z.lastUsedAt, 'Never'));
    var td = el('td');
    var holder = el('div', 'sy-row-actions');
    var revoke = button('Revoke', 'sy-button-danger', 'Revoke the authorization of ' + z.user.email);
    holder.appendChild(revoke);
    td.appendChild(holder);
    tr.appendChild(td);
    revoke.addEventListener('click', function () {
      confirmStep(holder, 'Its tokens stop working at once.', 'Revoke now',
        'the authorization of ' + z.user.email, revoke, function (restore) {
          gql(REVOKE_MUTATION, { input: { appId: a.id, userId: z.user.id } }).then(function (data) {
            var p = data.revokeAppAuthorization;
            if (p.userErrors.length) {
              restore(true);
              showBox(errorBox, 'Could not revoke: ' + userErrorText(p.userErrors));
              return;
            }
            showBox(errorBox, '');
            announce('Revoked the authorization of ' + z.user.email + ' for ' + a.name + '.');
            // Reloads this list only, and focuses its heading once redrawn.
            openAuthorizations(a, parts, true);
            if (z.user.id === viewerUserId) loadAuthorized();
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not revoke: ' + e.message);
          });
        });
    });
    return tr;
  }

  // ---- the create form ----
  function clearFieldErrors() {
    Object.keys(FIELDS).forEach(function (k) {
      var f = FIELDS[k];
      f.error.textContent = '';
      f.error.hidden = true;
    });
    [nameInput, descInput, urisInput].forEach(function (i) { i.removeAttribute('aria-invalid'); });
    scopeBoxes.forEach(function (i) { i.removeAttribute('aria-invalid'); });
    showBox(formError, '');
  }

  function uriLines() {
    return urisInput.value.split('\n').map(function (s) { return s.trim(); })
      .filter(function (s) { return s; });
  }

  // Puts each user error next to its field (a redirect URI's by its line)
  // and focuses the first field at fault.
  function showUserErrors(errors, uris) {
    var first = null;
    var general = [];
    errors.forEach(function (e) {
      var key = e.field && e.field[0] === 'input' ? e.field[1] : null;
      var f = key && FIELDS[key];
      if (!f) { general.push(e.message); return; }
      var text = e.message;
      if (key === 'redirectUris' && e.field.length > 2) {
        var i = Number(e.field[2]);
        text = 'Line ' + (i + 1) + ': ' + e.message;
      }
      f.error.appendChild(el('p', null, text));
      f.error.hidden = false;
      if (key === 'scopes') scopeBoxes.forEach(function (b) { b.setAttribute('aria-invalid', 'true'); });
      else f.input.setAttribute('aria-invalid', 'true');
      if (!first) first = f.input;
    });
    if (general.length) showBox(formError, general.join(' '));
    if (first) first.focus();
    else if (general.length) formError.focus();
  }

  formError.tabIndex = -1;

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    clearFieldErrors();
    formResult.className = '';
    formResult.textContent = 'Registering…';
    var uris = uriLines();
    var input = {
      name: nameInput.value.trim(),
      description: descInput.value.trim() || null,
      redirectUris: uris,
      scopes: scopeBoxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }),
      confidential: confidentialInput.checked
    };
    createBtn.disabled = true;
    gql(CREATE_MUTATION, { input: input }).then(function (data) {
      var p = data.createOAuthApp;
      if (p.userErrors.length) {
        formResult.className = 'sy-inline-error';
        formResult.textContent = 'Not registered: ' + plural(p.userErrors.length, 'problem', 'problems') +
          ' to fix.';
        showUserErrors(p.userErrors, uris);
        return;
      }
      var app = p.oauthApp;
      form.reset();
      formResult.textContent = 'Registered ' + app.name + ' (client id ' + app.clientId + ').';
      if (p.secret) {
        showSecret(app.name, p.secret, false);
      } else {
        hideSecret();
        summary.focus();
      }
      loadApps();
    }, function (e) {
      SY.formFailed(formResult, null, 'Not registered.', formError, e.message);
    }).then(function () {
      createBtn.disabled = false;
    });
  });

  // Editing a field clears its error.
  [['name', nameInput], ['description', descInput], ['redirectUris', urisInput]].forEach(function (p) {
    p[1].addEventListener('input', function () {
      if (!p[1].getAttribute('aria-invalid')) return;
      p[1].removeAttribute('aria-invalid');
      FIELDS[p[0]].error.textContent = '';
      FIELDS[p[0]].error.hidden = true;
    });
  });
  scopeBoxes.forEach(function (b) {
    b.addEventListener('change', function () {
      scopeBoxes.forEach(function (x) { x.removeAttribute('aria-invalid'); });
      FIELDS.scopes.error.textContent = '';
      FIELDS.scopes.error.hidden = true;
    });
  });

  // ================= Apps you authorized (everyone) =================
  var aPanel = $('authorized-panel');
  var aError = $('authorized-error');
  var aLive = $('authorized-live');
  var aCount = $('authorized-count');
  var aSummary = $('authorized-summary');
  var aRows = $('authorized-rows');

  function aPlaceholder(text) {
    SY.placeholderRow(aRows, text, 5);
  }

  function loadAuthorized() {
    return gql(AUTHORIZED_QUERY).then(function (data) {
      showBox(aError, '');
      renderAuthorized(data.authorizedApps);
    }, function (e) {
      showBox(aError, 'Could not load your authorizations: ' + e.message);
      aPlaceholder('Your authorizations could not be loaded.');
    });
  }

  function renderAuthorized(conn) {
    var list = conn.edges.map(function (e) { return e.node; });
    aCount.textContent = plural(list.length, 'app', 'apps') + (conn.pageInfo.hasNextPage ? '+' : '');
    aSummary.textContent = list.length
      ? 'These apps may act for you in this workspace, within the scopes you approved. ' +
        'Withdrawing stops their tokens at once.'
      : 'You have not authorized any app.';
    aRows.textContent = '';
    if (!list.length) { aPlaceholder('No authorized apps.'); return; }
    list.forEach(function (z) { aRows.appendChild(authorizedRow(z)); });
  }

  function authorizedRow(z) {
    var tr = el('tr');
    tr.appendChild(appNameCell(z.app.name, z.app.description, null));
    tr.appendChild(el('td', null, scopesText(z.scopes)));
    tr.appendChild(timeCell(z.createdAt, '—'));
    tr.appendChild(timeCell(z.lastUsedAt, 'Never'));
    var td = el('td');
    var holder = el('div', 'sy-row-actions');
    var withdraw = button('Withdraw', 'sy-button-danger', 'Withdraw the authorization of ' + z.app.name);
    holder.appendChild(withdraw);
    td.appendChild(holder);
    tr.appendChild(td);
    withdraw.addEventListener('click', function () {
      confirmStep(holder, z.app.name + ' loses access at once.', 'Withdraw now',
        'your authorization of ' + z.app.name, withdraw, function (restore) {
          gql(REVOKE_MUTATION, { input: { appId: z.app.id } }).then(function (data) {
            var p = data.revokeAppAuthorization;
            if (p.userErrors.length) {
              restore(true);
              showBox(aError, 'Could not withdraw: ' + userErrorText(p.userErrors));
              return;
            }
            showBox(aError, '');
            aLive.textContent = 'Withdrew the authorization of ' + z.app.name + '.';
            aSummary.focus();
            loadAuthorized();
            if (!panel.hidden) loadApps();
          }, function (e) {
            restore(true);
            showBox(aError, 'Could not withdraw: ' + e.message);
          });
        });
    });
    return tr;
  }

  // ================= start =================
  // The inline dashboard script shows the "not signed in" notice; these
  // panels only appear for a session. Owners get both panels.
  SY.session().then(function (session) {
    if (!session) return;
    return gql(VIEWER_QUERY).then(function (data) {
      viewerUserId = data.viewer.user.id;
      aPanel.hidden = false;
      loadAuthorized();
      if (data.viewer.role === 'OWNER') {
        panel.hidden = false;
        loadApps();
      }
    }, function () {
      // Not signed in after all (the session ended in between): show nothing.
    });
  });
})();
