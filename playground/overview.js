// The console's Overview area (dashboard.html, #/overview): charts of what
// the server adds up per minute, hour or day (deliveryTimeline,
// ServiceConnection.callTimeline, ApiKey.usage, OAuthApp.usage,
// DataEndpoint.usageByMonth), and of the queue, live from queueStatus over
// the shell's WebSocket (Switchyard.live). Charts an owner-only query
// feeds are shown to owners only. Everything is (re)loaded when the area
// is shown and every 30 s while it stays shown; nothing runs while it is
// hidden but the queue feed, which has no history to catch up on.
(function () {
  'use strict';

  var SY = window.Switchyard;
  var el = SY.el, gql = SY.gql;
  var $ = function (id) { return document.getElementById(id); };
  var panel = $('overview-panel');
  var updated = $('overview-updated');

  var REFRESH_MS = 30000;
  var QUEUE_WINDOW_S = 600;    // the queue charts keep the last 10 minutes
  var COLORS = ['#2453c7', '#c2410c', '#15803d', '#7e22ce', '#0e7490', '#a16207', '#be123c', '#4d7c0f', '#334155'];
  var CLASS_COLORS = { '2xx': '#3f9d5a', '3xx': '#5b8def', '4xx': '#d99a1e', '5xx': '#c0392b' };
  var CLASSES = ['2xx', '3xx', '4xx', '5xx'];

  var owner = false;
  var started = false;
  var charts = {};

  function shown() {
    return !SY.currentArea || SY.currentArea() === 'overview';
  }

  function num(n) { return Number(n).toLocaleString(); }

  function pct(part, whole) {
    if (!whole) return '0%';
    var p = 100 * part / whole;
    return (p > 0 && p < 1 ? p.toFixed(1) : String(Math.round(p))) + '%';
  }

  function say(id, text) {
    $(id + '-summary').textContent = text;
    if (charts[id]) charts[id].describe(text);
  }

  function failed(id, e) {
    $(id + '-summary').textContent = 'Could not load this chart: ' + e.message;
  }

  // Unix seconds of the first of `count` buckets of `width` seconds, the last holding now.
  function windowStart(width, count) {
    var now = Math.floor(Date.now() / 1000);
    return now - (now % width) - (count - 1) * width;
  }

  // Buckets keyed by start (Unix seconds) onto every bucket of the window.
  function fill(width, count, buckets, pick) {
    var first = windowStart(width, count);
    var byStart = {};
    buckets.forEach(function (b) { byStart[Math.floor(Date.parse(b.start || b.day) / 1000)] = b; });
    var xs = [];
    var rows = [];
    for (var i = 0; i < count; i++) {
      var t = first + i * width;
      xs.push(t);
      rows.push(pick(byStart[t] || null));
    }
    return { xs: xs, rows: rows };
  }

  function column(rows, i) { return rows.map(function (r) { return r[i]; }); }

  // A <select> of resources: `label(node)` for each; keeps the choice when
  // it is still listed; hides the card and says so when there is none.
  function fillPicker(select, nodes, label) {
    var keep = select.value;
    select.textContent = '';
    nodes.forEach(function (n) {
      var o = el('option', null, label(n));
      o.value = n.id;
      select.appendChild(o);
    });
    if (nodes.some(function (n) { return n.id === keep; })) select.value = keep;
    // Nothing to pick: neither the picker nor an empty chart, only the summary.
    var card = select.closest('.sy-chart-card');
    select.closest('.sy-filter').hidden = nodes.length === 0;
    card.querySelector('.sy-chart-box').hidden = nodes.length === 0;
    return nodes.length > 0;
  }

  function make(id, o) {
    if (!charts[id]) charts[id] = SY.chart($(id), o);
    return charts[id];
  }

  // ---- webhook deliveries, last hour per minute ----
  var DELIVERIES = 'query($w: ID) { deliveryTimeline(webhookId: $w) { start succeeded failed ' +
    'p50ResponseTimeMs p99ResponseTimeMs } }';

  function loadWebhooks() {
    return gql('{ webhooks(first: 100) { edges { node { id url } } } }').then(function (d) {
      var select = $('chart-webhook');
      var keep = select.value;
      while (select.options.length > 1) select.remove(1);
      d.webhooks.edges.forEach(function (e) {
        var o = el('option', null, String(e.node.url).replace(/^https?:\/\//, ''));
        o.value = e.node.id;
        select.appendChild(o);
      });
      select.value = keep;
      if (select.value !== keep) select.value = '';
    });
  }

  function loadDeliveries() {
    var id = 'chart-deliveries';
    var w = $('chart-webhook').value || null;
    return gql(DELIVERIES, { w: w }).then(function (d) {
      var f = fill(60, 60, d.deliveryTimeline, function (b) {
        return b ? [b.succeeded + b.failed, b.failed, b.p50ResponseTimeMs, b.p99ResponseTimeMs] : [0, 0, null, null];
      });
      var c = make(id, {
        label: 'Webhook delivery attempts per minute over the last hour, with response times',
        yUnit: 'attempts / min', msUnit: 'response ms',
        series: [
          { label: 'Attempts', color: '#8cc7a0', bars: true },
          { label: 'Failed', color: '#c0392b', bars: true },
          { label: 'p50 response', color: '#2453c7', scale: 'ms', format: function (v) { return v + ' ms'; } },
          { label: 'p99 response', color: '#7e22ce', scale: 'ms', dash: [6, 4], format: function (v) { return v + ' ms'; } }
        ]
      });
      c.update(f.xs, [column(f.rows, 0), column(f.rows, 1), column(f.rows, 2), column(f.rows, 3)]);
      var total = d.deliveryTimeline.reduce(function (n, b) { return n + b.succeeded + b.failed; }, 0);
      var bad = d.deliveryTimeline.reduce(function (n, b) { return n + b.failed; }, 0);
      var worst = d.deliveryTimeline.reduce(function (m, b) { return Math.max(m, b.p99ResponseTimeMs); }, 0);
      say(id, total === 0 ? 'No delivery attempts in the last hour.'
        : num(total) + ' attempts in the last hour, ' + num(bad) + ' failed (' + pct(bad, total) + '); ' +
          'p99 response time of the slowest minute: ' + num(worst) + ' ms.');
    }, function (e) { failed(id, e); });
  }

  // Attempts arriving live: the chart follows within a few seconds.
  var deliveriesSoon = null;
  function deliveriesLater() {
    if (deliveriesSoon || !shown()) return;
    deliveriesSoon = setTimeout(function () { deliveriesSoon = null; if (shown()) loadDeliveries(); }, 3000);
  }

  // ---- the queue, live ----
  var samples = [];          // { t, kinds: { kind: { depth, rate } } }, oldest first
  var queueKinds = '';       // the kinds the charts were made for
  var queueDrawAt = 0;

  function onQueue(q) {
    var t = Math.floor(Date.parse(q.at) / 1000) || Math.floor(Date.now() / 1000);
    var kinds = {};
    q.kinds.forEach(function (k) {
      kinds[k.kind] = { depth: k.pending + k.delayed + k.inFlight, rate: k.doneLastMinute + k.failedLastMinute };
    });
    if (samples.length && samples[samples.length - 1].t === t) samples.pop();
    samples.push({ t: t, kinds: kinds });
    while (samples.length && samples[0].t < t - QUEUE_WINDOW_S) samples.shift();
    if (!$('chart-queue-since').textContent) {
      $('chart-queue-since').textContent = 'live since ' + SY.clock(new Date(t * 1000));
    }
    if (shown() && Date.now() - queueDrawAt > 2000) drawQueue();
  }

  function drawQueue() {
    queueDrawAt = Date.now();
    // Kinds with anything to show in the window; the total always.
    var active = {};
    samples.forEach(function (s) {
      Object.keys(s.kinds).forEach(function (k) {
        if (s.kinds[k].depth > 0 || s.kinds[k].rate > 0) active[k] = true;
      });
    });
    var kinds = Object.keys(active).sort();
    var key = kinds.join(',');
    if (key !== queueKinds) {
      ['chart-queue-depth', 'chart-queue-rate'].forEach(function (id) {
        if (charts[id]) { charts[id].destroy(); delete charts[id]; }
      });
      queueKinds = key;
    }
    var series = [{ label: 'All kinds', color: '#141a26', dash: [4, 3] }].concat(kinds.map(function (k, i) {
      return { label: k, color: COLORS[i % COLORS.length] };
    }));
    var xs = samples.map(function (s) { return s.t; });
    function ys(field) {
      var total = samples.map(function (s) {
        return Object.keys(s.kinds).reduce(function (n, k) { return n + s.kinds[k][field]; }, 0);
      });
      return [total].concat(kinds.map(function (k) {
        return samples.map(function (s) { return s.kinds[k] ? s.kinds[k][field] : 0; });
      }));
    }
    var depth = ys('depth');
    var rate = ys('rate');
    make('chart-queue-depth', { label: 'Jobs waiting or running per kind, live', yUnit: 'jobs', series: series, height: 200, span: QUEUE_WINDOW_S })
      .update(xs, depth);
    make('chart-queue-rate', { label: 'Jobs finished per minute per kind, live', yUnit: 'jobs / min', series: series, height: 200, span: QUEUE_WINDOW_S })
      .update(xs, rate);
    var last = samples.length ? samples.length - 1 : -1;
    var busiest = function (set) {
      var best = null;
      kinds.forEach(function (k, i) { if (last >= 0 && set[i + 1][last] > 0 && (!best || set[i + 1][last] > best.n)) best = { k: k, n: set[i + 1][last] }; });
      return best;
    };
    var d = busiest(depth), r = busiest(rate);
    say('chart-queue-depth', last < 0 ? 'Waiting for the first update…'
      : num(depth[0][last]) + ' jobs waiting or running now' + (d ? ', most of them ' + d.k + ' (' + num(d.n) + ').' : '.'));
    say('chart-queue-rate', last < 0 ? 'Waiting for the first update…'
      : num(rate[0][last]) + ' jobs finished in the last minute' + (r ? ', most of them ' + r.k + ' (' + num(r.n) + ').' : '.'));
  }

  // ---- per-day requests by status class (API keys, OAuth apps) ----
  function drawUsage(id, what, days) {
    var f = fill(86400, 30, days, function (d) {
      var by = {};
      if (d) d.byStatusClass.forEach(function (c) { by[c.statusClass] = c.count; });
      return CLASSES.map(function (k) { return by[k] || 0; });
    });
    // Stacked bars: each class drawn as the running total up to it, the
    // tallest first; the legend shows each class's own count.
    var totals = CLASSES.map(function (k, i) {
      return f.rows.map(function (r) { return r.slice(0, i + 1).reduce(function (a, b) { return a + b; }, 0); });
    });
    var order = CLASSES.map(function (k, i) { return i; }).reverse();
    var c = make(id, {
      label: what + ' requests per day over the last 30 days, by HTTP status class', yUnit: 'requests / day',
      series: order.map(function (i) { return { label: CLASSES[i], color: CLASS_COLORS[CLASSES[i]], bars: true }; })
    });
    c.update(f.xs, order.map(function (i) { return totals[i]; }), order.map(function (i) { return column(f.rows, i); }));
    var sum = CLASSES.map(function (k, i) { return column(f.rows, i).reduce(function (a, b) { return a + b; }, 0); });
    var all = sum.reduce(function (a, b) { return a + b; }, 0);
    say(id, all === 0 ? 'No requests in the last 30 days.'
      : num(all) + ' requests in the last 30 days: ' + CLASSES.filter(function (k, i) { return sum[i] > 0; })
        .map(function (k) { return num(sum[CLASSES.indexOf(k)]) + ' ' + k; }).join(', ') + '.');
  }

  function loadKeys() {
    var id = 'chart-keys';
    return gql('{ apiKeys(first: 100) { edges { node { id name prefix } } } }').then(function (d) {
      var nodes = d.apiKeys.edges.map(function (e) { return e.node; });
      if (!fillPicker($('chart-key'), nodes, function (k) { return k.name + ' (' + k.prefix + '…)'; })) {
        say(id, 'No API keys yet.');
        return null;
      }
      return loadKeyUsage();
    }, function (e) { failed(id, e); });
  }

  function loadKeyUsage() {
    var key = $('chart-key').value;
    if (!key) return Promise.resolve();
    return gql('query($id: ID!) { apiKey(id: $id) { usage(days: 30) { day byStatusClass { statusClass count } } } }', { id: key })
      .then(function (d) { if (d.apiKey) drawUsage('chart-keys', 'API key', d.apiKey.usage); },
        function (e) { failed('chart-keys', e); });
  }

  function loadApps() {
    var id = 'chart-apps';
    return gql('{ oauthApps(first: 100) { edges { node { id name } } } }').then(function (d) {
      var nodes = d.oauthApps.edges.map(function (e) { return e.node; });
      if (!fillPicker($('chart-app'), nodes, function (a) { return a.name; })) {
        say(id, 'No OAuth apps yet.');
        return null;
      }
      return loadAppUsage();
    }, function (e) { failed(id, e); });
  }

  function loadAppUsage() {
    var app = $('chart-app').value;
    if (!app) return Promise.resolve();
    return gql('query($id: ID!) { oauthApp(id: $id) { usage(days: 30) { day byStatusClass { statusClass count } } } }', { id: app })
      .then(function (d) { if (d.oauthApp) drawUsage('chart-apps', 'OAuth app', d.oauthApp.usage); },
        function (e) { failed('chart-apps', e); });
  }

  // ---- connections: calls per hour against the provider's quota ----
  function loadConnections() {
    var id = 'chart-calls';
    return gql('{ connections(first: 100) { edges { node { id provider account } } } }').then(function (d) {
      var nodes = d.connections.edges.map(function (e) { return e.node; });
      if (!fillPicker($('chart-connection'), nodes, function (c) { return c.provider + (c.account ? ' — ' + c.account : ''); })) {
        say(id, 'No connections yet: connect a service under Connections.');
        return null;
      }
      return loadCalls();
    }, function (e) { failed(id, e); });
  }

  function loadCalls() {
    var id = 'chart-calls';
    var conn = $('chart-connection').value;
    if (!conn) return Promise.resolve();
    var q = 'query($id: ID!) { connection(id: $id) { provider callTimeline { start calls failed } ' +
      'stats { callsLastDay successRate quotaPerDay usageLabel window { requests perSeconds } } } }';
    return gql(q, { id: conn }).then(function (d) {
      var c = d.connection;
      if (!c) return;
      var w = c.stats.window;
      var hourly = w ? Math.floor(w.requests * 3600 / Math.max(1, w.perSeconds)) : null;
      var f = fill(3600, 24, c.callTimeline, function (b) { return b ? [b.calls, b.failed] : [0, 0]; });
      var series = [{ label: 'Calls', color: '#7aa2ff', bars: true }, { label: 'Failed', color: '#c0392b', bars: true }];
      var ys = [column(f.rows, 0), column(f.rows, 1)];
      if (hourly != null) {
        series.push({ label: 'Quota per hour', color: '#a16207', dash: [6, 4] });
        ys.push(f.xs.map(function () { return hourly; }));
      }
      // The quota line comes and goes with the connection: a chart per shape.
      var shape = id + (hourly != null ? ':q' : '');
      if (charts[id] && charts[id].shape !== shape) { charts[id].destroy(); delete charts[id]; }
      make(id, { label: 'Calls per hour through the ' + c.provider + ' connection over the last 24 hours', yUnit: 'calls / hour', series: series })
        .shape = shape;
      charts[id].update(f.xs, ys);
      var rate = c.stats.successRate;
      say(id, c.stats.usageLabel + ' calls in the last 24 hours' + (c.stats.quotaPerDay ? ' (' + pct(c.stats.callsLastDay, c.stats.quotaPerDay) + ' of the quota)' : ' (no published quota)') +
        (rate == null ? '; none finished yet.' : '; ' + (Math.round(rate * 1000) / 10) + '% succeeded.'));
    }, function (e) { failed(id, e); });
  }

  // ---- data endpoints: requests per month against the quota ----
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function lastMonths(n) {
    var d = new Date();
    var index = d.getUTCFullYear() * 12 + d.getUTCMonth();
    var out = [];
    for (var i = n - 1; i >= 0; i--) {
      var m = index - i;
      out.push({ key: Math.floor(m / 12) + '-' + String(m % 12 + 1).padStart(2, '0'), label: MONTHS[m % 12] + ' ' + Math.floor(m / 12) });
    }
    return out;
  }

  function loadEndpoints() {
    var id = 'chart-endpoints';
    return gql('{ dataEndpoints(first: 100) { edges { node { id name slug } } } }').then(function (d) {
      var nodes = d.dataEndpoints.edges.map(function (e) { return e.node; });
      if (!fillPicker($('chart-endpoint'), nodes, function (n) { return n.name + ' (/' + n.slug + ')'; })) {
        say(id, 'No data endpoints yet.');
        return null;
      }
      return loadEndpointUsage();
    }, function (e) { failed(id, e); });
  }

  function loadEndpointUsage() {
    var id = 'chart-endpoints';
    var ep = $('chart-endpoint').value;
    if (!ep) return Promise.resolve();
    var q = 'query($id: ID!) { dataEndpoint(id: $id) { name monthlyQuota usageThisMonth usageByMonth(months: 6) { month requests } } }';
    return gql(q, { id: ep }).then(function (d) {
      var e = d.dataEndpoint;
      if (!e) return;
      var months = lastMonths(6);
      var by = {};
      e.usageByMonth.forEach(function (u) { by[u.month] = u.requests; });
      var xs = months.map(function (m, i) { return i; });
      var series = [{ label: 'Requests', color: '#7aa2ff', bars: true }];
      var ys = [months.map(function (m) { return by[m.key] || 0; })];
      if (e.monthlyQuota != null) {
        series.push({ label: 'Monthly quota', color: '#c0392b', dash: [6, 4] });
        ys.push(months.map(function () { return e.monthlyQuota; }));
      }
      var shape = id + (e.monthlyQuota != null ? ':q' : '');
      if (charts[id] && charts[id].shape !== shape) { charts[id].destroy(); delete charts[id]; }
      make(id, { label: 'Requests per month to ' + e.name + ' over the last 6 months, against its quota', yUnit: 'requests',
        time: false, xName: 'Month', xLabel: function (i) { return months[i] ? months[i].label : ''; }, series: series }).shape = shape;
      charts[id].update(xs, ys);
      say(id, e.monthlyQuota != null
        ? num(e.usageThisMonth) + ' of ' + num(e.monthlyQuota) + ' requests used this month (' + pct(e.usageThisMonth, e.monthlyQuota) + ').'
        : num(e.usageThisMonth) + ' requests this month; the endpoint has no quota.');
    }, function (e) { failed(id, e); });
  }

  // ---- loading ----
  function refresh() {
    var loads = [loadConnections(), loadEndpoints()];
    if (owner) loads.push(loadWebhooks().then(loadDeliveries, function (e) { failed('chart-deliveries', e); }), loadKeys(), loadApps());
    return Promise.all(loads).then(function () {
      updated.textContent = 'Updated ' + SY.clock(new Date());
    });
  }

  function tick() {
    if (shown() && document.visibilityState !== 'hidden') refresh();
  }

  // On the shell's socket for the page's whole life (the queue charts keep
  // their samples while the Overview is hidden): subscribed again on a new
  // client, and when the socket is back after the server ended a stream
  // (as it does when it shuts down).
  var liveClient = null;    // the client the subscriptions run on
  var liveEnds = [];        // the end of each
  var liveDropped = false;  // one was ended by the server or failed
  function subscribeLive() {
    var client = SY.live && SY.live.client();
    if (!client || !owner || (client === liveClient && !liveDropped)) return;
    var old = liveEnds;
    liveClient = client;
    liveDropped = false;
    liveEnds = [
      subscribeOne(client, 'subscription { queueStatus { at kinds { kind pending delayed inFlight doneLastMinute failedLastMinute } } }',
        function (r) { if (r.data && r.data.queueStatus) onQueue(r.data.queueStatus); },
        function () { say('chart-queue-depth', 'The live queue feed stopped; reload the page to try again.'); }),
      subscribeOne(client, 'subscription { deliveryLogs { id } }', function () { deliveriesLater(); })
    ];
    // The old ones end once the new ones are asked for: the socket stays.
    old.forEach(function (end) { end(); });
  }

  // One subscription on `client`; returns its end (after which its
  // sink's complete is ours, not the server's).
  function subscribeOne(client, query, next, failed) {
    var ours = true;
    var end = client.subscribe({ query: query }, {
      next: next,
      error: function () { if (!ours) return; liveDropped = true; if (failed) failed(); },
      complete: function () { if (ours) liveDropped = true; }
    });
    return function () { ours = false; end(); };
  }

  function start() {
    if (started) return;
    started = true;
    ['chart-calls', 'chart-endpoints'].concat(owner ? ['chart-deliveries', 'chart-queue-depth', 'chart-queue-rate', 'chart-keys', 'chart-apps'] : [])
      .forEach(function (id) { $(id + '-card').hidden = false; });
    $('chart-webhook').addEventListener('change', loadDeliveries);
    $('chart-key').addEventListener('change', loadKeyUsage);
    $('chart-app').addEventListener('change', loadAppUsage);
    $('chart-connection').addEventListener('change', loadCalls);
    $('chart-endpoint').addEventListener('change', loadEndpointUsage);
    refresh();
    setInterval(tick, REFRESH_MS);
  }

  document.addEventListener('sy:area', function (e) {
    if (e.detail.area !== 'overview' || panel.hidden) return;
    if (!started) start();
    else { refresh(); if (samples.length) drawQueue(); }
  });
  // After the live feed was down: what happened meanwhile.
  document.addEventListener('sy:live', function (e) {
    subscribeLive();   // on a new client, or again after the server ended them
    if (e.detail.reconnected && started && shown()) refresh();
  });

  SY.session().then(function (s) {
    if (!s) return;
    owner = s.role === 'owner';
    panel.hidden = false;
    if (owner) {
      $('chart-queue-depth-summary').textContent = 'Waiting for the first update…';
      $('chart-queue-rate-summary').textContent = 'Waiting for the first update…';
    }
    subscribeLive();
    if (shown()) start();
  });
})();
