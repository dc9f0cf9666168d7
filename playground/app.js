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
  function gql(query, variables) {
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
  //   o.pill, o.updated, o.errorBox: the panel's elements
  //   o.what: "the actions", for "Sign in again to see the actions."
  //   o.query: the subscription; o.field: its root field
  //   o.onData(value): each value the subscription sends
  //   o.onConnected(again): the socket is up (again: after a reconnect)
  // Subscribes again later after an error or the end of the stream; stops
  // for good (and says so) on UNAUTHORIZED or FORBIDDEN.
  function liveFeed(o) {
    var client = null;
    var stopped = false;
    var resubscribeTimer = null;
    var lastAt = null;

    function setStatus(state) {
      o.pill.dataset.state = state;
      o.pill.textContent = state;
    }

    function renderUpdated() {
      if (!lastAt) return;
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
      o.updated.hidden = true;
      showBox(o.errorBox, e.code === 'UNAUTHORIZED'
        ? 'Your session has ended. Sign in again to see ' + o.what + '.' : e.message);
      if (client) client.dispose();
    }

    function resubscribeLater(ms) {
      if (stopped || resubscribeTimer) return;
      resubscribeTimer = setTimeout(function () { resubscribeTimer = null; subscribe(); }, ms);
    }

    function subscribe() {
      if (stopped) return;
      client.subscribe({ query: o.query }, {
        next: function (result) {
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
          // The server ends the stream when it shuts down: subscribe again.
          if (!stopped) { setStatus('reconnecting'); resubscribeLater(2000); }
        }
      });
    }

    function start() {
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
            var again = everConnected;
            everConnected = true;
            if (o.onConnected && !stopped) o.onConnected(again);
          },
          closed: function () { if (everConnected && !stopped) setStatus('reconnecting'); }
        }
      });
      subscribe();
    }

    return {
      start: start,
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
        values: o.time === false ? function (u, xs) { return xs.map(function (x) { return o.xLabel(x); }); } : undefined },
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
    announcer: announcer,
    confirmStep: confirmStep,
    formErrorBox: formErrorBox,
    formFailed: formFailed,
    placeholderRow: placeholderRow,
    detailRow: detailRow,
    placeRows: placeRows,
    oneAtATime: oneAtATime,
    liveFeed: liveFeed,
    chart: chart
  };
})();
