// Shared by the Switchyard pages (dashboard, sandbox, console, playground):
// the top bar, the session check, the GraphQL fetch helper, the graphql-ws
// client, a few small DOM helpers and the pieces the dashboard's panels share
// (confirm step, live feed with its status pill). Served at /playground/app.js; load it
// after /playground/vendor/graphql-ws.min.js and before the page's own script.
(function () {
  'use strict';

  var CSRF_HEADER = 'X-Switchyard-Csrf';

  // ---- small helpers ----
  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // Shows a message in an error/notice box; an empty message hides it.
  function showBox(box, message) {
    box.textContent = message || '';
    box.hidden = !message;
  }

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  // Local wall-clock time of a Date as HH:MM:SS (24 h).
  function clock(d) {
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function formatTime(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  var STATUS_TEXT = {
    200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request',
    401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
    422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error',
    502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
  };
  // HTTP/2 responses carry no reason phrase: fall back to the standard one.
  function statusText(res) { return res.statusText || STATUS_TEXT[res.status] || ''; }

  // JSON.parse of a textarea with a readable message in errorEl; selects the
  // offending spot when the engine names it.
  function parseJsonField(textarea, errorEl) {
    var text = textarea.value;
    try {
      var value = JSON.parse(text);
      textarea.removeAttribute('aria-invalid');
      showBox(errorEl, '');
      return { ok: true, value: value, text: text };
    } catch (e) {
      var msg = text.trim() ? e.message : 'The body is empty.';
      textarea.setAttribute('aria-invalid', 'true');
      showBox(errorEl, 'Not valid JSON: ' + msg);
      textarea.focus();
      var m = /position (\d+)/.exec(e.message);
      if (m) {
        var pos = Math.min(Number(m[1]), text.length);
        textarea.setSelectionRange(pos, Math.min(pos + 1, text.length));
      }
      return { ok: false };
    }
  }

  // ---- GraphQL over HTTP ----
  // Resolves with `data`; rejects with an Error carrying errors[0].message,
  // .code (extensions.code) and .details (extensions.details).
  // Set once Sign out is clicked: the session is ending and the page is
  // about to leave, so no new request goes out (a timer's refresh would
  // only meet a 401).
  var signingOut = false;

  function gql(query, variables) {
    if (signingOut) return new Promise(function () {});
    var payload = { query: query };
    if (variables) payload.variables = variables;
    var headers = { 'Content-Type': 'application/json' };
    headers[CSRF_HEADER] = '1';
    return window.fetch('/graphql', {
      method: 'POST',
      credentials: 'same-origin',
      headers: headers,
      body: JSON.stringify(payload)
    }).then(function (res) {
      return res.json().catch(function () {
        throw new Error('The server answered ' + res.status + ' ' + statusText(res));
      });
    }).then(function (body) {
      if (body && body.errors && body.errors.length) {
        var first = body.errors[0];
        var e = new Error(first.message || 'Request failed');
        e.code = first.extensions && first.extensions.code;
        e.details = first.extensions && first.extensions.details;
        throw e;
      }
      return body.data;
    });
  }

  // Runs a mutation of the one shape, `name(input: $input) { <selection>
  // userErrors { field message code } }`, and resolves with its payload.
  // Rejects like gql() for top-level errors, and with an Error carrying
  // .code (the UserErrorCode) and .userErrors when the input was refused.
  function mutate(name, inputType, input, selection) {
    var query = 'mutation($input: ' + inputType + '!) { ' + name + '(input: $input) { ' +
      (selection || '') + ' userErrors { field message code } } }';
    return gql(query, { input: input }).then(function (data) {
      var payload = data[name];
      var problems = payload.userErrors || [];
      if (problems.length) {
        var first = problems[0];
        var where = first.field ? first.field.slice(1).join('.') + ': ' : '';
        var e = new Error(where + first.message);
        e.code = first.code;
        e.userErrors = problems;
        throw e;
      }
      return payload;
    });
  }

  // extensions.code of the first error of a GraphQL error list.
  function errorCode(errors) {
    var e = errors && errors[0];
    return e && e.extensions && e.extensions.code;
  }

  // ---- GraphQL over WebSocket (graphql-transport-ws, vendored graphql-ws) ----
  // The session cookie rides on the WebSocket upgrade (same origin).
  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
  }

  function wsClient(opts) {
    return graphqlWs.createClient(Object.assign({ url: wsUrl() }, opts || {}));
  }

  // Exponential back-off capped at 30 s, with jitter (a graphql-ws retryWait).
  function retryWait(retries) {
    var wait = Math.min(30000, 1000 * Math.pow(2, retries)) + Math.random() * 1000;
    return new Promise(function (resolve) { setTimeout(resolve, wait); });
  }

  // ---- session and top bar ----
  // Resolves with the session object ({} when its JSON is unreadable), or
  // null when not signed in or the server cannot be reached. Never rejects.
  // Asked once per page load: the console's shell and areas share the answer.
  var sessionAnswer = null;
  function session() {
    if (!sessionAnswer) sessionAnswer = fetchSession();
    return sessionAnswer;
  }

  function fetchSession() {
    return window.fetch('/auth/session', {
      method: 'GET',
      credentials: 'same-origin',
      headers: { 'Accept': 'application/json' }
    }).then(function (res) {
      if (!res.ok) return null;
      return res.json().then(function (s) { return s || {}; },
                             function () { return {}; });
    }).catch(function () {
      return null;
    });
  }

  // "email · workspace" of a session.
  function showWho(whoEl, s) {
    var parts = [];
    if (s && s.user && s.user.email) parts.push(String(s.user.email));
    if (s && s.workspace && s.workspace.name) parts.push(String(s.workspace.name));
    whoEl.textContent = parts.join(' · ');
  }

  // POST /auth/logout, then to /login whatever the answer.
  function signOutButton(btn) {
    btn.addEventListener('click', function () {
      btn.disabled = true;
      signingOut = true;
      var done = function () { window.location.assign('/login'); };
      var headers = { 'Content-Type': 'application/json' };
      headers[CSRF_HEADER] = '1';
      window.fetch('/auth/logout', {
        method: 'POST',
        credentials: 'same-origin',
        headers: headers,
        body: '{}'
      }).then(done, done);
    });
  }

  // Wires the top bar's Sign out button (#sy-signout), checks the session and
  // shows who is signed in (#sy-who). Resolves with the session ({} when its
  // JSON is unreadable) or null when not signed in; the page decides what
  // "not signed in" shows.
  function topBar() {
    signOutButton(document.getElementById('sy-signout'));
    return session().then(function (s) {
      if (s) showWho(document.getElementById('sy-who'), s);
      return s;
    });
  }

  // Where a page goes once signed in: `next` if it is a path on this
  // origin, else `fallback`. It must start with a single `/` and hold no
  // `\`, whitespace or control character (browsers drop tabs and newlines
  // from URLs: `/\t/evil.example` would become `//evil.example`) and no `.`
  // or `..` segment (`/.//evil.example` normalises to `//evil.example`).
  // The server applies the same rule to /login and /setup (src/rest/pages.rs).
  function safeNext(next, fallback) {
    if (typeof next !== 'string' || next.charAt(0) !== '/' || next.charAt(1) === '/' ||
        /[\\\s\u0000-\u001f\u007f-\u009f]/.test(next)) {
      return fallback;
    }
    var path = next.split(/[?#]/)[0];
    var dots = path.split('/').some(function (seg) {
      var s = seg.toLowerCase().replace(/%2e/g, '.');
      return s === '.' || s === '..';
    });
    if (dots) return fallback;
    try {
      var url = new URL(next, window.location.origin);
      if (url.origin !== window.location.origin || url.pathname.indexOf('//') === 0) return fallback;
    } catch (e) {
      return fallback;
    }
    return next;
  }

  // GraphQL answers closed sets as enums (`PROCESSED`); the pages show and
  // style them in the REST API's lower-case words (`processed`).
  function lowerEnums(obj, fields) {
    if (!obj) return obj;
    fields.forEach(function (f) {
      if (typeof obj[f] === 'string') obj[f] = obj[f].toLowerCase();
    });
    return obj;
  }

  // Copies a shown-once value from its read-only input, saying in `status`
  // whether it worked; where the clipboard API is not allowed, selects the
  // value so the user can copy it (`what` names it: "secret", "URL").
  function copyField(input, status, what) {
    function copied() { status.textContent = 'Copied to the clipboard.'; }
    function fallback() {
      input.focus();
      input.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      status.textContent = ok ? 'Copied to the clipboard.'
        : 'The browser did not allow copying: the ' + what + ' is selected, press Ctrl+C (⌘C).';
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(copied, fallback);
    } else {
      fallback();
    }
  }


  // ---- pieces shared by the dashboard's panels (connections, actions, OAuth apps) ----
  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  // "14:05:53" today, "Dec 2, 14:05" before (the full time in the title).
  function shortTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    var hm = clock(d);
    if (d.toDateString() === new Date().toDateString()) return hm;
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ', ' + hm.slice(0, 5);
  }

  // A <time> showing shortTime(iso), the full time in its title.
  function timeEl(iso) {
    var t = el('time', null, shortTime(iso));
    t.dateTime = iso;
    t.title = formatTime(iso);
    return t;
  }

  // A "—" in a table cell, read out as "none".
  function dashCell(td) {
    var dash = el('span', null, '—');
    dash.setAttribute('aria-hidden', 'true');
    td.appendChild(dash);
    td.appendChild(el('span', 'sy-visually-hidden', 'none'));
    return td;
  }

  function button(text, className, label) {
    var b = el('button', 'sy-button sy-button-small' + (className ? ' ' + className : ''), text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    return b;
  }

  // The user errors' messages, for mutations whose input names one object.
  function userErrorText(errors) {
    return errors.map(function (e) { return e.message; }).join(' ');
  }

  // What a failed request says: a refused mutation its user errors' sentences, other errors their message.
  function errText(e) { return e.userErrors ? userErrorText(e.userErrors) : e.message; }

  // A function that reads `text` out in the live region `live`.
  function announcer(live) {
    return function (text) {
      // Cleared first so the same sentence twice is read twice.
      live.textContent = '';
      setTimeout(function () { live.textContent = text; }, 50);
    };
  }

  // Replaces the buttons in `holder` by a question with a confirm and a keep
  // button (`keepText`, e.g. "Cancel"); the keep button (the harmless choice)
  // gets the focus, Escape keeps. `subject` names what the step acts on (for
  // screen readers; accessible names start with the visible text). `run`
  // gets a function that puts the buttons back (focusing `focusBack` when
  // asked). While it is shown, holder.dataset.confirming is set. With
  // `busyText`, the question gives way to it once confirmed.
  function confirmStep(holder, question, confirmText, keepText, subject, focusBack, run, busyText) {
    var kept = Array.prototype.slice.call(holder.childNodes);
    kept.forEach(function (n) { holder.removeChild(n); });
    var box = el('span', 'sy-confirm');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Confirm: ' + subject);
    var q = el('span', 'sy-confirm-text', question);
    var yes = button(confirmText, 'sy-button-danger', confirmText + ': ' + subject);
    var no = button(keepText, 'sy-button-secondary', keepText + ': ' + subject);
    box.appendChild(q);
    box.appendChild(yes);
    box.appendChild(no);
    holder.appendChild(box);
    holder.dataset.confirming = '1';
    function restore(focus) {
      if (box.parentNode) holder.removeChild(box);
      kept.forEach(function (n) { holder.appendChild(n); });
      delete holder.dataset.confirming;
      if (focus && focusBack && focusBack.isConnected) focusBack.focus();
    }
    no.addEventListener('click', function () { restore(true); });
    box.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); restore(true); }
    });
    yes.addEventListener('click', function () {
      yes.disabled = true;
      no.disabled = true;
      if (busyText) q.textContent = busyText;
      run(restore);
    });
    no.focus();
  }

  // A form's error box for what no one field is at fault for: an alert,
  // hidden until shown with showBox, focusable.
  function formErrorBox() {
    var box = el('p', 'sy-error');
    box.setAttribute('role', 'alert');
    box.tabIndex = -1;
    box.hidden = true;
    return box;
  }

  // A form's request failed: `result` says `text` as an error (className
  // added), the error box says why and gets the focus.
  function formFailed(result, className, text, box, message) {
    result.className = className ? className + ' sy-inline-error' : 'sy-inline-error';
    result.textContent = text;
    showBox(box, message);
    box.focus();
  }

  // Empties a table body but for one muted row saying `text` across `colSpan` columns.
  function placeholderRow(tbody, text, colSpan) {
    tbody.textContent = '';
    var tr = el('tr', 'sy-placeholder');
    var td = el('td', 'sy-muted', text);
    td.colSpan = colSpan;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  // The hidden row under a table row (for a form or a log): { detail, cell }.
  function detailRow(id, colSpan, className) {
    var detail = el('tr', 'sy-oauth-detail' + (className ? ' ' + className : ''));
    detail.id = id;
    detail.hidden = true;
    var cell = el('td');
    cell.colSpan = colSpan;
    detail.appendChild(cell);
    return { detail: detail, cell: cell };
  }

  // Puts the row pairs ({ row, detail }) of `list` in its order in `tbody`,
  // updated in place and kept in `rowParts` by key(item): made with
  // make(item) when missing, then update(parts, item); the rows of items
  // no longer listed go (dropped(key) is told). A focused button, an open
  // confirm step or form survive.
  function placeRows(tbody, rowParts, list, key, make, update, dropped) {
    var seen = {};
    var anchor = tbody.firstChild;
    list.forEach(function (item) {
      var id = key(item);
      seen[id] = true;
      var parts = rowParts[id];
      if (!parts) {
        parts = make(item);
        rowParts[id] = parts;
        tbody.insertBefore(parts.row, anchor);
        tbody.insertBefore(parts.detail, anchor);
      } else if (parts.row !== anchor) {
        tbody.insertBefore(parts.row, anchor);
        tbody.insertBefore(parts.detail, anchor);
      }
      anchor = parts.detail.nextSibling;
      update(parts, item);
    });
    Object.keys(rowParts).forEach(function (id) {
      if (seen[id]) return;
      var p = rowParts[id];
      if (p.row.parentNode) tbody.removeChild(p.row);
      if (p.detail.parentNode) tbody.removeChild(p.detail);
      delete rowParts[id];
      if (dropped) dropped(id);
    });
  }

  // A loader that runs one at a time: a call while `load` (a function
  // returning a promise) runs makes it run once more after.
  function oneAtATime(load) {
    var running = false;
    var again = false;
    function run() {
      if (running) { again = true; return Promise.resolve(); }
      running = true;
      return load().then(function () {
        running = false;
        if (again) { again = false; return run(); }
      });
    }
    return run;
  }

  // A panel's live feed over one subscription, with its status pill
  // (connecting / live / reconnecting / error) and "Last update" line.
  //   o.pill, o.updated (optional), o.errorBox: the panel's elements
  //   o.what: "the actions", for "Sign in again to see the actions."
  //   o.query: the subscription; o.field: its root field
  //   o.variables(): its variables (optional; asked at each subscribe)
  //   o.area: the console area the panel is in (see below)
  //   o.onData(value): each value the subscription sends
  //   o.onConnected(again): the feed is up (again: after a reconnect, or
  //     back from a hidden area: read what may have been missed)
  //   o.onStop(e): it stopped for good (after the error box said why)
  // On the console (shell.js loaded: Switchyard.live) every feed rides on
  // the shell's one WebSocket, graphql-ws multiplexing the subscriptions,
  // and a feed whose area is hidden is unsubscribed until the area shows
  // again. Elsewhere a feed has a client of its own.
  // Subscribes again later after an error or the end of the stream; stops
  // for good (and says so) on UNAUTHORIZED or FORBIDDEN.
  function liveFeed(o) {
    var live = window.Switchyard && window.Switchyard.live;   // the shell's socket (shell.js), on the console
    var client = null;          // the feed's own client (pages without the shell)
    var started = false;
    var stopped = false;
    var paused = false;         // its area is hidden: no subscription
    var dispose = null;         // ends the running subscription (null: none)
    var current = null;         // the running subscription's token, for its callbacks
    var onClient = null;        // the client it runs on
    var again = false;          // the next "connected" is a catch-up
    var resubscribeTimer = null;
    var lastAt = null;

    function setStatus(state) {
      o.pill.dataset.state = state;
      o.pill.textContent = state;
    }

    function renderUpdated() {
      if (!lastAt || !o.updated) return;
      var age = Math.max(0, Math.round((Date.now() - lastAt) / 1000));
      o.updated.textContent = 'Last update ' + new Date(lastAt).toLocaleTimeString() +
        (age >= 10 ? ' (' + age + ' s ago)' : '');
    }

    function touched() {
      lastAt = Date.now();
      renderUpdated();
    }

    function stop(e) {
      stopped = true;
      setStatus('error');
      if (o.updated) o.updated.hidden = true;
      showBox(o.errorBox, e.code === 'UNAUTHORIZED'
        ? 'Your session has ended. Sign in again to see ' + o.what + '.' : e.message);
      if (live) unsubscribe();
      else if (client) client.dispose();
      if (o.onStop) o.onStop(e);
    }

    function connected() {
      var was = again;
      again = true;
      if (o.onConnected && !stopped) o.onConnected(was);
    }

    function resubscribeLater(ms) {
      if (stopped || resubscribeTimer) return;
      resubscribeTimer = setTimeout(function () { resubscribeTimer = null; subscribe(); }, ms);
    }

    // Ends the running subscription. graphql-ws then calls its sink's
    // complete: the cleared token keeps that from passing for the server
    // ending the stream (which would subscribe again).
    function unsubscribe() {
      clearTimeout(resubscribeTimer);
      resubscribeTimer = null;
      var end = dispose;
      dispose = null;
      current = null;
      onClient = null;
      if (end) end();
    }

    // Subscribes (again: with the variables of now); a running
    // subscription ends once the new one is asked for, so that a lazy
    // socket is not closed in between.
    function subscribe() {
      clearTimeout(resubscribeTimer);
      resubscribeTimer = null;
      if (stopped || paused) return;
      // On the console: the shell's client of now (null until signed in, or
      // while it replaces one that gave up: then sy:live comes with it).
      // None when the shell's socket was refused for good (sign in again):
      // asking would only knock on it once more.
      if (live && live.state() === 'error') { setStatus('error'); return; }
      var c = live ? live.client() : client;
      if (!c) return;
      var previous = dispose;
      var mine = {};
      current = mine;
      onClient = c;
      var request = { query: o.query };
      if (o.variables) request.variables = o.variables();
      dispose = c.subscribe(request, {
        next: function (result) {
          if (current !== mine) return;
          if (result.data && result.data[o.field]) {
            setStatus('live');
            o.onData(result.data[o.field]);
          } else if (result.errors && result.errors.length) {
            var code = errorCode(result.errors);
            var err = new Error(result.errors[0].message);
            err.code = code;
            if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') { stop(err); return; }
            setStatus('error');
            resubscribeLater(10000);
          }
        },
        error: function (err) {
          if (current !== mine) return;
          dispose = null;
          if (Array.isArray(err)) {
            var code = errorCode(err);
            if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN') {
              var e = new Error(err[0].message);
              e.code = code;
              stop(e);
              return;
            }
          }
          setStatus('error');
          resubscribeLater(15000);
        },
        complete: function () {
          if (current !== mine) return;
          dispose = null;
          // The server ends the stream when it shuts down: subscribe again.
          if (!stopped) { setStatus('reconnecting'); resubscribeLater(2000); }
        }
      });
      if (previous) previous();
    }

    // Its own client, which says when its socket is up or down.
    function startOwn() {
      var everConnected = false;
      client = wsClient({
        retryAttempts: Infinity,
        shouldRetry: function () { return !stopped; },
        retryWait: retryWait,
        on: {
          connecting: function (isRetry) {
            if (!stopped) setStatus(isRetry || everConnected ? 'reconnecting' : 'connecting');
          },
          connected: function () {
            everConnected = true;
            if (!stopped) connected();
          },
          closed: function () { if (everConnected && !stopped) setStatus('reconnecting'); }
        }
      });
      subscribe();
    }

    // ---- on the console: the shell's socket ----
    function hidden() {
      return !!o.area && window.Switchyard.currentArea() !== o.area;
    }

    // The pill follows the shell's while its socket is not up ("live" is
    // the feed's own to say: on data, or by onConnected).
    function followShell(state) {
      if (state !== 'live') setStatus(state);
    }

    // Subscribes on the shared socket; when it is up already, that is the
    // feed's "connected" (else sy:live says it).
    function subscribeShared() {
      followShell(live.state());
      subscribe();
      if (live.state() === 'live') connected();
    }

    function startShared() {
      // Hidden at start: subscribes when its area shows, to catch up then
      // on what happened since the area read its data.
      if (hidden()) { paused = true; again = true; return; }
      subscribeShared();
    }

    if (live) {
      document.addEventListener('sy:area', function () {
        if (!started || stopped) return;
        if (hidden()) {
          if (!paused) { paused = true; again = true; unsubscribe(); }
        } else if (paused) {
          paused = false;
          subscribeShared();
        }
      });
      live.onChange(function (state) {
        if (started && !stopped && !paused) followShell(state);
      });
      // The shared socket is up (again). graphql-ws subscribes its running
      // subscriptions again by itself; one it dropped (ended by the server,
      // failed while the socket was down) or on a client the shell has
      // since replaced is asked for now.
      document.addEventListener('sy:live', function () {
        if (!started || stopped || paused) return;
        if (!dispose || onClient !== live.client()) subscribe();
        connected();
      });
    }

    function start() {
      if (started || stopped) return;
      started = true;
      if (live) startShared();
      else startOwn();
    }

    // Subscribes again, with the variables of now (a new filter).
    function restart() {
      if (!started) start();
      else if (!stopped && !paused) subscribe();
    }

    return {
      start: start,
      restart: restart,
      stop: stop,
      stopped: function () { return stopped; },
      setStatus: setStatus,
      touched: touched,
      renderUpdated: renderUpdated
    };
  }

  // ---- charts (the vendored uPlot, /playground/vendor/uplot.iife.min.js) ----
  // A chart in `holder` that keeps to its width (also when it was hidden
  // while made). o.label: its accessible name (the holder is an image for
  // screen readers: describe() sets the sentence they hear). o.series:
  // [{ label, color, bars, dash, scale ('y' by default, or 'ms' for a
  // second axis on the right) }]. o.time: x values are Unix seconds
  // (default); else o.xLabel(x) names each x value. o.yUnit / o.msUnit:
  // axis titles. o.height: pixels (default 220). Returns
  //   update(xs, ys, shown): ys one array per series; shown (optional), the
  //     values the legend shows for each series (for stacked bars, whose
  //     drawn heights are running totals);
  //   describe(text); destroy().
  // Time-axis tick labels in the browser's locale: days as "Dec 4" when the
  // ticks are a day or more apart, else times ("08:35 PM"), with the date
  // under the first tick and under each tick that starts a new day.
  function timeTicks(u, xs) {
    var day = function (d) { return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }); };
    var incr = xs.length > 1 ? xs[1] - xs[0] : 0;
    var before = null;
    return xs.map(function (x, i) {
      var d = new Date(x * 1000);
      if (incr >= 86400) return day(d);
      var label = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
      if (i === 0 || d.toDateString() !== before) label += '\n' + day(d);
      before = d.toDateString();
      return label;
    });
  }

  // Time-axis tick positions: the roundest step (a minute up to a month)
  // that leaves about 90 px between ticks; days start at local midnight.
  var TICK_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 345600, 604800,
    1209600, 2592000];
  function timeSplits(u, axis, min, max) {
    var most = Math.max(2, Math.floor((u.bbox.width / (window.devicePixelRatio || 1)) / 90));
    var step = TICK_STEPS[TICK_STEPS.length - 1];
    for (var i = 0; i < TICK_STEPS.length; i++) {
      if ((max - min) / TICK_STEPS[i] <= most) { step = TICK_STEPS[i]; break; }
    }
    var off = step >= 86400 ? new Date(max * 1000).getTimezoneOffset() * 60 : 0;
    var out = [];
    for (var x = Math.ceil((min - off) / step) * step + off; x <= max && out.length <= most; x += step) out.push(x);
    return out;
  }

  function chart(holder, o) {
    var shown = null;
    holder.classList.add('sy-chart');
    holder.setAttribute('role', 'img');
    holder.setAttribute('aria-label', o.label);
    var bars = o.series.some(function (s) { return s.bars; });
    var scales = {
      x: {
        time: o.time !== false,
        // o.span: the last that many x units, whatever the data (a live
        // chart's window); bars get half a step of room at both ends.
        range: function (u, min, max) {
          // From the data itself: with one point uPlot pads a time scale by
          // a day of milliseconds, which for these seconds is 1,000 days.
          var d = u.data[0];
          if (d && d.length) { min = d[0]; max = d[d.length - 1]; }
          if (o.span) {
            // The last o.span units at most, the data's own span at least (a minute or more).
            var lo = Math.max(min, max - o.span);
            return [Math.min(lo, max - 60), max];
          }
          var xs = u.data[0];
          var half = bars && xs.length > 1 ? (xs[1] - xs[0]) / 2 : 0;
          return min === max ? [min - 1, max + 1] : [min - half, max + half];
        }
      },
      y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } }
    };
    var axes = [
      { stroke: '#5b6576', grid: { stroke: '#eceef2' }, ticks: { stroke: '#d5d9e0' },
        splits: o.time === false ? undefined : timeSplits,
        values: o.time === false ? function (u, xs) { return xs.map(function (x) { return o.xLabel(x); }); } : timeTicks },
      { stroke: '#5b6576', grid: { stroke: '#eceef2' }, ticks: { stroke: '#d5d9e0' }, label: o.yUnit || '', size: 56 }
    ];
    var uses = o.series.some(function (s) { return s.scale === 'ms'; });
    if (uses) {
      scales.ms = { range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } };
      axes.push({ scale: 'ms', side: 1, stroke: '#5b6576', grid: { show: false }, label: o.msUnit || 'ms', size: 56 });
    }
    // At rest the legend shows the newest values; under the pointer, the pointed ones.
    var newest = function (u, si, idx) {
      var col = u.data[si] || [];
      return idx == null ? { v: col[col.length - 1], i: col.length - 1 } : { v: col[idx], i: idx };
    };
    var series = [{
      label: o.time === false ? (o.xName || '') : 'Time',
      value: function (u, x, si, idx) {
        var at = newest(u, 0, idx);
        if (at.v == null) return '—';
        return o.time === false ? o.xLabel(at.v) : new Date(at.v * 1000).toLocaleString(undefined,
          { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
      }
    }];
    o.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        scale: s.scale || 'y',
        stroke: s.color,
        width: s.bars ? 0 : 2,
        dash: s.dash,
        fill: s.bars ? s.color : undefined,
        points: { show: !s.bars, size: 4 },
        paths: s.bars && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 24] }) : undefined,
        value: function (u, v, si, idx) {
          var at = newest(u, si, idx);
          var x = shown && shown[i] ? shown[i][at.i] : at.v;
          return x == null ? '—' : (s.format ? s.format(x) : String(x));
        }
      });
    });
    var plot = new window.uPlot({
      width: Math.max(200, holder.clientWidth || 600),
      height: o.height || 220,
      scales: scales,
      axes: axes,
      series: series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true }
    }, [[]].concat(o.series.map(function () { return []; })), holder);
    var resize = window.ResizeObserver ? new window.ResizeObserver(function () {
      var w = holder.clientWidth;
      if (w > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height: o.height || 220 });
    }) : null;
    if (resize) resize.observe(holder);
    return {
      update: function (xs, ys, values) {
        shown = values || null;
        plot.setData([xs].concat(ys));
        // How many values are drawn, and how many of them are not zero (for tests).
        var count = function (keep) {
          return String(ys.reduce(function (n, s) { return n + s.filter(keep).length; }, 0));
        };
        holder.dataset.points = count(function (v) { return v != null; });
        holder.dataset.nonzero = count(function (v) { return v != null && v !== 0; });
      },
      describe: function (text) { holder.setAttribute('aria-label', o.label + ': ' + text); },
      destroy: function () { if (resize) resize.disconnect(); plot.destroy(); }
    };
  }

  // ---- the management areas' shared pieces (API keys, webhooks, data endpoints, members, events) ----

  // The caller's role and user, asked once per page: resolves with
  // { role, userId, email } or null when not signed in. Never rejects.
  var viewerPromise = null;
  function viewer() {
    if (!viewerPromise) {
      viewerPromise = gql('query { viewer { role user { id email } } }').then(function (d) {
        return { role: d.viewer.role, userId: d.viewer.user.id, email: d.viewer.user.email };
      }, function () { return null; });
    }
    return viewerPromise;
  }

  // Runs `start` once, the first time the area `area` is shown: at once
  // when the page has no router (every area shows) or the router shows it
  // now, else on its `sy:area` event.
  function whenShown(area, start) {
    var started = false;
    function go() { if (!started) { started = true; start(); } }
    var current = window.Switchyard.currentArea ? window.Switchyard.currentArea() : null;
    if (!current || current === area) go();
    document.addEventListener('sy:area', function (ev) {
      if (ev.detail && ev.detail.area === area) go();
    });
  }

  // A value shown only once (a secret, an invitation link), in a modal
  // dialog with Copy and "I stored it — close". Closing it (the button or
  // Escape) removes the dialog and the value from the page and focuses
  // `o.focusBack`. o: title, note, value, label (of the field), what ("secret").
  var dialogCount = 0;
  function onceDialog(o) {
    var n = ++dialogCount;
    var d = el('dialog', 'sy-dialog sy-secret');
    d.setAttribute('aria-labelledby', 'sy-once-title-' + n);
    d.setAttribute('aria-describedby', 'sy-once-note-' + n);
    var h = el('h2', 'sy-dialog-title', o.title);
    h.id = 'sy-once-title-' + n;
    var note = el('p', 'sy-secret-note');
    note.id = 'sy-once-note-' + n;
    note.appendChild(el('strong', null, 'Shown only this once. '));
    note.appendChild(document.createTextNode(o.note));
    var row = el('div', 'sy-inline');
    var label = el('label', 'sy-visually-hidden', o.label);
    label.htmlFor = 'sy-once-value-' + n;
    var input = el('input', 'sy-secret-value');
    input.id = 'sy-once-value-' + n;
    input.type = 'text';
    input.readOnly = true;
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.value = o.value;
    var copy = button('Copy', null, 'Copy the ' + o.what);
    var done = button('I stored it — close', 'sy-button-secondary');
    var status = el('p', 'sy-hint');
    status.setAttribute('role', 'status');
    status.setAttribute('aria-live', 'polite');
    row.appendChild(label);
    row.appendChild(input);
    row.appendChild(copy);
    row.appendChild(done);
    d.appendChild(h);
    d.appendChild(note);
    d.appendChild(row);
    d.appendChild(status);
    copy.addEventListener('click', function () { copyField(input, status, o.what); });
    done.addEventListener('click', function () { d.close(); });
    d.addEventListener('close', function () {
      input.value = '';
      if (d.parentNode) d.parentNode.removeChild(d);
      if (o.focusBack && o.focusBack.isConnected) o.focusBack.focus();
    });
    document.body.appendChild(d);
    d.showModal();
    copy.focus();
    return d;
  }

  // The form fields of a mutation's input: { key: { input, error } }, key
  // being `userErrors.field[1]`. showFieldErrors puts each user error next
  // to its field (the rest in `box`), marks the field aria-invalid and
  // focuses the first one at fault; clearFieldErrors undoes it.
  function clearFieldErrors(fields, box) {
    Object.keys(fields).forEach(function (k) {
      var f = fields[k];
      f.error.textContent = '';
      f.error.hidden = true;
      (f.inputs || [f.input]).forEach(function (i) { i.removeAttribute('aria-invalid'); });
    });
    if (box) showBox(box, '');
  }

  function showFieldErrors(fields, errors, box) {
    var first = null;
    var general = [];
    errors.forEach(function (e) {
      var key = e.field && e.field[0] === 'input' ? e.field[1] : null;
      var f = key && fields[key];
      if (!f) { general.push(e.message); return; }
      var rest = e.field.slice(2);
      f.error.appendChild(el('p', null, (f.where && rest.length ? f.where(rest) + ': ' : '') + e.message));
      f.error.hidden = false;
      (f.inputs || [f.input]).forEach(function (i) { i.setAttribute('aria-invalid', 'true'); });
      if (!first) first = f.inputs ? f.inputs[0] : f.input;
    });
    if (general.length && box) showBox(box, general.join(' '));
    if (first) first.focus();
    else if (general.length && box) box.focus();
  }

  // Editing a field clears its error.
  function clearOnInput(fields) {
    Object.keys(fields).forEach(function (k) {
      var f = fields[k];
      (f.inputs || [f.input]).forEach(function (i) {
        i.addEventListener(i.type === 'checkbox' || i.type === 'radio' || i.tagName === 'SELECT' ? 'change' : 'input', function () {
          if (f.error.hidden) return;
          f.error.textContent = '';
          f.error.hidden = true;
          (f.inputs || [f.input]).forEach(function (x) { x.removeAttribute('aria-invalid'); });
        });
      });
    });
  }

  // <input type="datetime-local"> value ↔ RFC 3339; '' ↔ null.
  function localToIso(value) {
    if (!value) return null;
    var d = new Date(value);
    return isNaN(d.getTime()) ? null : d.toISOString();
  }

  function isoToLocal(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + 'T' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  // A JSON value, indented, in a focusable, scrollable <pre> named `label`.
  function jsonBlock(value, label) {
    var pre = el('pre', 'sy-code sy-json', typeof value === 'string' ? value : JSON.stringify(value, null, 2));
    pre.tabIndex = 0;
    pre.setAttribute('role', 'region');
    pre.setAttribute('aria-label', label);
    return pre;
  }


  // A form field (`.sy-field`): its label (with `o.optional` in muted
  // text), the control — o.kind: an input type (default 'text'),
  // 'textarea' or 'select' with o.options [[value, text]] — a hint
  // (o.hint) and an error box, both named by aria-describedby.
  // Resolves to { wrap, input, error }.
  function formField(id, labelText, o) {
    o = o || {};
    var wrap = el('div', 'sy-field' + (o.className ? ' ' + o.className : ''));
    var label = el('label', null, labelText);
    label.htmlFor = id;
    if (o.optional) {
      label.appendChild(document.createTextNode(' '));
      label.appendChild(el('span', 'sy-optional', o.optional));
    }
    var kind = o.kind || 'text';
    var input;
    if (kind === 'textarea') {
      input = el('textarea', o.code ? 'sy-code-input' : 'sy-text-input');
      input.rows = o.rows || 3;
    } else if (kind === 'select') {
      input = el('select', 'sy-select sy-select-wide');
      (o.options || []).forEach(function (opt) {
        var option = el('option', null, opt[1]);
        option.value = opt[0];
        input.appendChild(option);
      });
    } else {
      input = el('input', o.code ? 'sy-mono' : null);
      input.type = kind;
    }
    input.id = id;
    if (o.code) { input.spellcheck = false; input.setAttribute('autocapitalize', 'none'); }
    if (kind !== 'select') input.autocomplete = 'off';
    if (o.maxLength) input.maxLength = o.maxLength;
    if (o.placeholder) input.placeholder = o.placeholder;
    if (o.min != null) input.min = o.min;
    if (o.value != null) input.value = o.value;
    var described = [];
    wrap.appendChild(label);
    wrap.appendChild(input);
    if (o.hint) {
      var hint = el('p', 'sy-hint', o.hint);
      hint.id = id + '-hint';
      described.push(hint.id);
      wrap.appendChild(hint);
    }
    var error = el('div', 'sy-field-error');
    error.id = id + '-error';
    error.hidden = true;
    described.push(error.id);
    wrap.appendChild(error);
    input.setAttribute('aria-describedby', described.join(' '));
    return { wrap: wrap, input: input, error: error };
  }

  // A fieldset of checkboxes or radios (o.type) named `name`: options
  // [[value, text, note]], o.checked the values ticked. Resolves to
  // { wrap, inputs, error }.
  function choiceField(id, legendText, name, options, o) {
    o = o || {};
    var wrap = el('fieldset', 'sy-field sy-checks' + (o.className ? ' ' + o.className : ''));
    var legend = el('legend', null, legendText);
    if (o.optional) {
      legend.appendChild(document.createTextNode(' '));
      legend.appendChild(el('span', 'sy-optional', o.optional));
    }
    wrap.appendChild(legend);
    var inputs = options.map(function (opt, i) {
      var label = el('label');
      var input = el('input');
      input.type = o.type || 'checkbox';
      input.name = name;
      input.value = opt[0];
      input.id = id + '-' + i;
      input.checked = (o.checked || []).indexOf(opt[0]) >= 0;
      label.appendChild(input);
      label.appendChild(document.createTextNode(' ' + opt[1]));
      if (opt[2]) label.appendChild(el('span', 'sy-muted', ' — ' + opt[2]));
      wrap.appendChild(label);
      return input;
    });
    var error = el('div', 'sy-field-error');
    error.id = id + '-error';
    error.hidden = true;
    wrap.appendChild(error);
    wrap.setAttribute('aria-describedby', error.id);
    return { wrap: wrap, inputs: inputs, error: error };
  }

  // The values ticked in a choiceField.
  function checkedValues(inputs) {
    return inputs.filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
  }

  // Sets aria-expanded on each button of `holder` that has it: "true" where
  // isOpen(button) says so, "false" on the others (on all without isOpen).
  function markExpanded(holder, isOpen) {
    Array.prototype.forEach.call(holder.querySelectorAll('[aria-expanded]'), function (b) {
      b.setAttribute('aria-expanded', String(!!isOpen && !!isOpen(b)));
    });
  }

  // A create/edit form's last row: the submit button (`createText`, or, when
  // editing the item called `subject`, "Save changes" labelled "Save changes
  // to <subject>" and a Cancel that calls onCancel) and a status line.
  // Returns { row, submit, result }.
  function submitRow(createText, subject, onCancel) {
    var editing = subject != null;
    var row = el('div', 'sy-actions sy-send-row');
    var submit = el('button', 'sy-button', editing ? 'Save changes' : createText);
    submit.type = 'submit';
    if (editing) submit.setAttribute('aria-label', 'Save changes to ' + subject);
    var result = el('span');
    result.setAttribute('role', 'status');
    result.setAttribute('aria-live', 'polite');
    row.appendChild(submit);
    if (editing) {
      var cancel = button('Cancel', 'sy-button-secondary', 'Cancel editing ' + subject);
      row.appendChild(cancel);
      cancel.addEventListener('click', onCancel);
    }
    row.appendChild(result);
    return { row: row, submit: submit, result: result };
  }

  // A form's request was refused: with user errors, `result` says `what`
  // (and, with `count`, how many problems there are to fix) and each error
  // goes next to its field; otherwise formFailed says `what` and why.
  function formRejected(e, result, fields, box, what, count) {
    if (e.userErrors) {
      result.className = 'sy-inline-error';
      result.textContent = what + (count ? ': ' + plural(e.userErrors.length, 'problem', 'problems') + ' to fix.' : '.');
      showFieldErrors(fields, e.userErrors, box);
    } else {
      formFailed(result, null, what + '.', box, e.message);
    }
  }

  // Rows of an area's table that open an edit form in their detail row
  // (parts: detail, cell, holder, sig). Which item's form is open is kept
  // in `editor.open` (it survives a reload of the list); the row's Edit
  // button (its [aria-controls]) says whether it is expanded and gets the
  // focus back when the form closes.
  //   o.id(parts) → the item's id; o.heading(parts) → the form's heading;
  //   o.form(box, parts, done) draws the form in box, done(payload, cancelled)
  //   when it is saved or cancelled, and returns { first } (the field to focus);
  //   o.saved(payload, parts): after a save (the form is closed by then).
  function rowEditor(o) {
    var editor = { open: null };
    function editButton(parts) { return parts.holder && parts.holder.querySelector('[aria-controls]'); }
    editor.show = function (parts, focus) {
      parts.cell.textContent = '';
      var box = el('div', 'sy-oauth-authz');
      box.appendChild(el('h4', null, o.heading(parts)));
      var f = o.form(box, parts, function (payload, cancelled) {
        editor.open = null;
        parts.detail.hidden = true;
        parts.cell.textContent = '';
        parts.sig = null;
        var edit = editButton(parts);
        if (edit) { edit.setAttribute('aria-expanded', 'false'); edit.focus(); }
        if (!cancelled) o.saved(payload, parts);
      });
      parts.cell.appendChild(box);
      parts.detail.hidden = false;
      var btn = editButton(parts);
      if (btn) btn.setAttribute('aria-expanded', 'true');
      if (focus) f.first.focus();
    };
    editor.toggle = function (parts, btn) {
      if (parts.detail.hidden) {
        editor.open = o.id(parts);
        editor.show(parts, true);
      } else {
        editor.open = null;
        parts.detail.hidden = true;
        parts.cell.textContent = '';
        btn.setAttribute('aria-expanded', 'false');
      }
    };
    return editor;
  }

  window.Switchyard = {
    copyField: copyField,
    safeNext: safeNext,
    lowerEnums: lowerEnums,
    el: el,
    showBox: showBox,
    clock: clock,
    formatTime: formatTime,
    statusText: statusText,
    parseJsonField: parseJsonField,
    gql: gql,
    mutate: mutate,
    errorCode: errorCode,
    wsUrl: wsUrl,
    wsClient: wsClient,
    retryWait: retryWait,
    session: session,
    showWho: showWho,
    signOutButton: signOutButton,
    topBar: topBar,
    plural: plural,
    shortTime: shortTime,
    timeEl: timeEl,
    dashCell: dashCell,
    button: button,
    userErrorText: userErrorText,
    errText: errText,
    announcer: announcer,
    confirmStep: confirmStep,
    formErrorBox: formErrorBox,
    formFailed: formFailed,
    placeholderRow: placeholderRow,
    detailRow: detailRow,
    placeRows: placeRows,
    oneAtATime: oneAtATime,
    liveFeed: liveFeed,
    chart: chart,
    // the management areas' (api-keys, webhooks, data-endpoints, members, events)
    viewer: viewer,
    whenShown: whenShown,
    onceDialog: onceDialog,
    clearFieldErrors: clearFieldErrors,
    showFieldErrors: showFieldErrors,
    clearOnInput: clearOnInput,
    localToIso: localToIso,
    isoToLocal: isoToLocal,
    jsonBlock: jsonBlock,
    formField: formField,
    choiceField: choiceField,
    checkedValues: checkedValues,
    markExpanded: markExpanded,
    submitRow: submitRow,
    formRejected: formRejected,
    rowEditor: rowEditor
  };
})();

// ---- forms generated from a JSON Schema (the Plugins and Integrations areas) ----
// Switchyard.schemaForm(container, schema, o) draws one labelled control
// per property of an object schema: text (a password input for a secret,
// `writeOnly`, field), number, checkbox, a select for an enum, a textarea
// (one item per line) for a list of strings, a fieldset for a nested
// object, JSON for anything else. Each has its hint (the description) and
// its error line under it.
//   o.idPrefix: ids start with it; o.values: the current config, secrets
//   shown as `***` (a secret left empty then keeps its value: `***` is sent
//   back); o.secretFields: more field names to treat as secret.
// Returns { value(), showErrors(userErrors, prefix), clearErrors(), focusFirst() }:
// value() → { ok, value } (a number or JSON that does not parse is shown
// on its field); showErrors puts each user error whose `field` starts with
// `prefix` (e.g. ['input', 'config']) next to the deepest field it names,
// focuses the first, and returns the messages no field took.
(function () {
  'use strict';
  var SY = window.Switchyard;
  var el = SY.el;
  var MASK = '***';
  var WORDS = { url: 'URL', api: 'API', id: 'ID', http: 'HTTP', ssl: 'SSL' };

  function humanize(key) {
    var words = String(key).split(/[_\s]+/).filter(Boolean).map(function (w) {
      return WORDS[w.toLowerCase()] || w.toLowerCase();
    });
    if (!words.length) return String(key);
    words[0] = words[0].charAt(0).toUpperCase() + words[0].slice(1);
    return words.join(' ');
  }

  // A description's `code` spans as <code>.
  function hintNodes(p, text) {
    String(text).split('`').forEach(function (part, i) {
      if (!part) return;
      p.appendChild(i % 2 ? el('code', null, part) : document.createTextNode(part));
    });
  }

  function typeOf(s) {
    var t = s && s.type;
    if (Array.isArray(t)) t = t.filter(function (x) { return x !== 'null'; })[0];
    if (!t && s && s.enum) return 'enum';
    if (!t && s && s.properties) return 'object';
    if (s && s.enum && (t === 'string' || !t)) return 'enum';
    if (t === 'array' && s.items && s.items.type === 'string' && !s.items.enum) return 'lines';
    return t || 'json';
  }

  function schemaForm(container, schema, o) {
    o = o || {};
    var fields = [];     // { path: 'a.b', control, error, get(), isSecret }
    var secretNames = {};
    (o.secretFields || []).forEach(function (k) { secretNames[k] = true; });

    function addError(holder, id) {
      var err = el('p', 'sy-field-error');
      err.id = id;
      err.hidden = true;
      holder.appendChild(err);
      return err;
    }

    function build(parent, props, required, values, path, depth) {
      // Required fields first, each group in the schema's order.
      var keys = Object.keys(props || {});
      keys = keys.filter(function (k) { return required.indexOf(k) >= 0; })
        .concat(keys.filter(function (k) { return required.indexOf(k) < 0; }));
      keys.forEach(function (key) {
        var s = props[key] || {};
        var p = path ? path + '.' + key : key;
        var id = o.idPrefix + '-' + p.replace(/[^A-Za-z0-9_-]/g, '-');
        var has = values && Object.prototype.hasOwnProperty.call(values, key);
        var value = has ? values[key] : undefined;
        var isReq = required.indexOf(key) >= 0;
        var secret = s.writeOnly === true || (depth === 0 && secretNames[key]);
        var t = typeOf(s);
        var labelText = s.title || humanize(key);

        if (t === 'object' && s.properties) {
          var fs = el('fieldset', 'sy-field sy-plain-fieldset sy-schema-group');
          var legend = el('legend', null, labelText + ' ');
          if (!isReq) legend.appendChild(el('span', 'sy-optional', '(optional)'));
          fs.appendChild(legend);
          if (s.description) {
            var gh = el('p', 'sy-hint');
            gh.id = id + '-hint';
            hintNodes(gh, s.description);
            fs.appendChild(gh);
            fs.setAttribute('aria-describedby', gh.id);
          }
          var groupErr = addError(fs, id + '-error');
          var before = fields.length;
          build(fs, s.properties, s.required || [], value && typeof value === 'object' ? value : {}, p, depth + 1);
          var inner = fields.slice(before);
          fields.push({
            path: p, error: groupErr, control: null, group: true,
            get: function () {
              var out = {};
              var any = false;
              inner.forEach(function (f) {
                if (f.parent !== p) return;
                var v = f.get();
                if (v === undefined) return;
                out[f.key] = v;
                // A default shown in a field is not the user asking for the group.
                if (JSON.stringify(v) !== JSON.stringify(f.def)) any = true;
              });
              return any || isReq ? out : undefined;
            }, key: key, parent: path, def: undefined
          });
          parent.appendChild(fs);
          return;
        }

        var wrap = el(t === 'boolean' ? 'div' : 'div', 'sy-field' + (t === 'boolean' ? ' sy-checks' : ''));
        var label = el('label', null, t === 'boolean' ? null : labelText + ' ');
        label.htmlFor = id;
        if (t !== 'boolean' && !isReq) label.appendChild(el('span', 'sy-optional', '(optional)'));
        var control;
        var shown = value === undefined ? s['default'] : value;
        if (t === 'boolean') {
          control = el('input');
          control.type = 'checkbox';
          control.checked = shown === true;
          label.appendChild(control);
          label.appendChild(document.createTextNode(' ' + labelText));
        } else if (t === 'enum') {
          control = el('select', 'sy-select sy-select-wide');
          if (!isReq || shown === undefined) {
            var none = el('option', null, isReq ? 'Choose…' : '(none)');
            none.value = '';
            control.appendChild(none);
          }
          (s.enum || []).forEach(function (v) {
            var opt = el('option', null, String(v));
            opt.value = JSON.stringify(v);
            control.appendChild(opt);
          });
          control.value = shown === undefined ? '' : JSON.stringify(shown);
        } else if (t === 'lines') {
          control = el('textarea', 'sy-code-input sy-schema-lines');
          control.rows = 3;
          control.spellcheck = false;
          control.value = Array.isArray(shown) ? shown.join('\n') : '';
        } else if (t === 'json' || t === 'array' || t === 'object') {
          control = el('textarea', 'sy-code-input');
          control.rows = 4;
          control.spellcheck = false;
          control.value = shown === undefined ? '' : JSON.stringify(shown, null, 2);
        } else {
          control = el('input', secret ? 'sy-mono' : null);
          control.type = secret ? 'password' : (t === 'integer' || t === 'number') ? 'number' : 'text';
          control.autocomplete = secret ? 'new-password' : 'off';
          control.spellcheck = false;
          if (t === 'integer') control.step = '1';
          if (s.minimum != null) control.min = String(s.minimum);
          if (s.maximum != null) control.max = String(s.maximum);
          if (s.maxLength != null) control.maxLength = s.maxLength;
          if (secret && value === MASK) {
            control.value = '';
            control.placeholder = 'Stored — leave empty to keep it';
          } else {
            control.value = shown === undefined || shown === null ? '' : String(shown);
          }
        }
        control.id = id;
        control.name = p;
        if (isReq) control.setAttribute('aria-required', 'true');
        if (t === 'boolean') wrap.appendChild(label);
        else { wrap.appendChild(label); wrap.appendChild(control); }
        var described = [];
        var hintText = s.description || '';
        if (t === 'lines') hintText += (hintText ? ' ' : '') + 'One per line.';
        if (t === 'json' || t === 'array' || t === 'object') hintText += (hintText ? ' ' : '') + 'JSON.';
        if (secret) hintText += (hintText ? ' ' : '') + (value === MASK
          ? 'Secret: stored encrypted and never shown; leave empty to keep it.'
          : 'Secret: stored encrypted and never shown again.');
        if (hintText) {
          var hint = el('p', 'sy-hint');
          hint.id = id + '-hint';
          hintNodes(hint, hintText);
          wrap.appendChild(hint);
          described.push(hint.id);
        }
        var err = addError(wrap, id + '-error');
        described.push(err.id);
        control.setAttribute('aria-describedby', described.join(' '));
        parent.appendChild(wrap);

        var f = {
          path: p, key: key, parent: path, control: control, error: err, def: s['default'],
          get: function () {
            if (t === 'boolean') return control.checked;
            var raw = control.value;
            if (t === 'enum') return raw === '' ? undefined : JSON.parse(raw);
            if (t === 'lines') {
              var items = raw.split('\n').map(function (x) { return x.trim(); }).filter(Boolean);
              return items.length || isReq || has ? items : undefined;
            }
            if (t === 'json' || t === 'array' || t === 'object') {
              if (!raw.trim()) return undefined;
              try { return JSON.parse(raw); } catch (e) { throw fieldProblem(f, 'Not valid JSON: ' + e.message); }
            }
            if (secret && value === MASK && raw === '') return MASK;
            if (raw === '') return undefined;
            if (t === 'integer' || t === 'number') {
              var n = Number(raw);
              if (!isFinite(n) || (t === 'integer' && Math.floor(n) !== n)) {
                throw fieldProblem(f, t === 'integer' ? 'Give a whole number.' : 'Give a number.');
              }
              return n;
            }
            return raw;
          }
        };
        control.addEventListener('input', function () { clearOne(f); });
        fields.push(f);
      });
    }

    function fieldProblem(f, message) {
      var e = new Error(message);
      e.field = f;
      return e;
    }

    function clearOne(f) {
      if (f.control) f.control.removeAttribute('aria-invalid');
      f.error.textContent = '';
      f.error.hidden = true;
    }

    function mark(f, message) {
      if (f.error.textContent) f.error.appendChild(document.createTextNode(' '));
      f.error.appendChild(document.createTextNode(message));
      f.error.hidden = false;
      if (f.control) f.control.setAttribute('aria-invalid', 'true');
    }

    function focusOf(f) {
      if (f.control) return f.control;
      var first = fields.filter(function (x) { return x.control && x.path.indexOf(f.path + '.') === 0; })[0];
      return first && first.control;
    }

    var root = el('div', 'sy-schema-form');
    build(root, schema && schema.properties, (schema && schema.required) || [], o.values || {}, '', 0);
    container.appendChild(root);

    return {
      empty: fields.length === 0,
      value: function () {
        fields.forEach(clearOne);
        var out = {};
        try {
          fields.forEach(function (f) {
            if (f.parent) return;
            var v = f.get();
            if (v !== undefined) out[f.key] = v;
          });
        } catch (e) {
          if (!e.field) throw e;
          mark(e.field, e.message);
          var c = focusOf(e.field);
          if (c) c.focus();
          return { ok: false };
        }
        return { ok: true, value: out };
      },
      clearErrors: function () { fields.forEach(clearOne); },
      showErrors: function (errors, prefix) {
        var rest = [];
        var first = null;
        (errors || []).forEach(function (e) {
          var f = e.field || [];
          var match = prefix.every(function (part, i) { return f[i] === part; });
          var path = match ? f.slice(prefix.length) : null;
          var best = null;
          if (path && path.length) {
            for (var n = path.length; n > 0 && !best; n--) {
              var want = path.slice(0, n).join('.');
              best = fields.filter(function (x) { return x.path === want; })[0] || null;
            }
          }
          if (!best) { rest.push(e.message); return; }
          mark(best, e.message);
          if (!first) first = best;
        });
        if (first) {
          var c = focusOf(first);
          if (c) c.focus();
        }
        return rest;
      },
      focusFirst: function () {
        var f = fields.filter(function (x) { return x.control; })[0];
        if (f) f.control.focus();
      }
    };
  }

  SY.schemaForm = schemaForm;
  SY.humanize = humanize;
  SY.hintNodes = hintNodes;
})();
