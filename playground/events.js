// The console's Events area (issue 25, `#/events`): the workspace's
// events, newest first, new ones added live over the `events`
// subscription, filtered by type or family from the event catalog, each
// with its payload a click away; older ones a page at a time. Any member:
// the server leaves out, for collaborators, events about what only owners
// manage. Served at /playground/events.js; load it after
// /playground/app.js and /playground/vendor/graphql-ws.min.js. It keeps to
// its own <section> of dashboard.html (data-area="events").
(function () {
  'use strict';

  var PAGE = 50;
  var MAX_ROWS = 500;
  var EVENT_FIELDS = 'id type actor subjectId data createdAt actedBy { __typename ' +
    '... on User { id email } ... on FormerUser { id } ... on ApiKeyActor { id } ... on OauthAppActor { id } ' +
    '... on ConnectionActor { id } ... on SystemActor { name } }';
  var EVENTS_QUERY = 'query($after: String, $filter: EventFilterInput) { events(first: ' + PAGE +
    ', after: $after, filter: $filter) { pageInfo { hasNextPage endCursor } nodes { ' + EVENT_FIELDS + ' } } }';
  var TYPES_QUERY = 'query { eventTypes { name description ownersOnly } }';
  var EVENTS_SUBSCRIPTION = 'subscription { events { ' + EVENT_FIELDS + ' } }';

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, showBox = SY.showBox, button = SY.button, plural = SY.plural;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('ev-panel');
  var errorBox = $('ev-error');
  var typeSel = $('ev-type');
  var summary = $('ev-summary');
  var rows = $('ev-rows');
  var more = $('ev-more');
  var live = $('ev-live');

  var events = [];            // shown, newest first
  var rowParts = {};
  var open = {};              // event id → payload shown
  var endCursor = null;
  var hasMore = false;
  var gen = 0;                // bumped when the filter changes; stale answers are dropped
  var newCount = 0;
  var me = null;

  // `family.*` or an exact type; '' matches everything.
  function matches(type, pattern) {
    if (!pattern) return true;
    if (pattern.slice(-2) === '.*') return type.indexOf(pattern.slice(0, -1)) === 0;
    return type === pattern;
  }

  function actorText(e) {
    var a = e.actedBy || {};
    switch (a.__typename) {
      case 'User': return me && a.id === me.userId ? 'you (' + a.email + ')' : a.email;
      case 'FormerUser': return 'a former member';
      case 'ApiKeyActor': return 'API key ' + a.id;
      case 'OauthAppActor': return 'OAuth app ' + a.id;
      case 'ConnectionActor': return 'connection ' + a.id;
      case 'SystemActor': return 'the server';
      default: return e.actor;
    }
  }

  function newerThan(a, b) { return a.id > b.id; }

  function render() {
    if (!events.length) {
      rowParts = {};
      SY.placeholderRow(rows, typeSel.value ? 'No events of this type yet.' : 'No events yet.', 5);
    } else {
      if (rows.querySelector('.sy-placeholder')) rows.textContent = '';
      SY.placeRows(rows, rowParts, events, function (e) { return e.id; }, makeRow, function () {},
        function (id) { delete open[id]; });
    }
    summary.textContent = events.length
      ? plural(events.length, 'event', 'events') + ' shown' + (typeSel.value ? ' of type ' + typeSel.value : '') +
        ', newest first. New ones appear as they happen.'
      : 'Nothing yet' + (typeSel.value ? ' of type ' + typeSel.value : '') + '. New events appear as they happen.';
    more.hidden = !hasMore;
  }

  function makeRow(e) {
    var tr = el('tr');
    tr.dataset.eventId = e.id;
    tr.dataset.type = e.type;
    var th = el('th', 'sy-time');
    th.scope = 'row';
    th.appendChild(SY.timeEl(e.createdAt));
    tr.appendChild(th);
    var type = el('td');
    type.appendChild(el('code', null, e.type));
    tr.appendChild(type);
    tr.appendChild(el('td', 'sy-ev-actor', actorText(e)));
    var subj = el('td');
    if (e.subjectId) subj.appendChild(el('code', null, e.subjectId));
    else SY.dashCell(subj);
    tr.appendChild(subj);
    var td = el('td', 'sy-oauth-actions');
    var b = button('Payload', 'sy-button-secondary', 'Payload of ' + e.type + ' ' + e.id);
    var d = SY.detailRow('ev-payload-' + e.id, 5);
    b.setAttribute('aria-expanded', 'false');
    b.setAttribute('aria-controls', d.detail.id);
    td.appendChild(b);
    tr.appendChild(td);
    b.addEventListener('click', function () {
      if (d.detail.hidden) {
        open[e.id] = true;
        d.cell.textContent = '';
        var box = el('div', 'sy-oauth-authz');
        box.appendChild(el('h4', null, e.type + ' · ' + e.id));
        box.appendChild(SY.jsonBlock({ id: e.id, type: e.type, actor: e.actor, subjectId: e.subjectId,
          createdAt: e.createdAt, data: e.data }, 'Payload of ' + e.id));
        d.cell.appendChild(box);
        d.detail.hidden = false;
        b.setAttribute('aria-expanded', 'true');
      } else {
        delete open[e.id];
        d.detail.hidden = true;
        b.setAttribute('aria-expanded', 'false');
      }
    });
    return { row: tr, detail: d.detail };
  }

  function filterInput() {
    return typeSel.value ? { eventTypes: [typeSel.value] } : null;
  }

  // The newest page (merged with what is shown, so live rows stay).
  function loadNewest(replace) {
    var g = gen;
    return SY.gql(EVENTS_QUERY, { after: null, filter: filterInput() }).then(function (data) {
      if (g !== gen) return;
      showBox(errorBox, '');
      var page = data.events;
      if (replace) {
        events = page.nodes.slice();
        endCursor = page.pageInfo.endCursor;
        hasMore = page.pageInfo.hasNextPage;
      } else {
        page.nodes.forEach(insert);
      }
      render();
    }, function (e) {
      if (g !== gen) return;
      showBox(errorBox, 'Could not load the events: ' + e.message);
      if (!events.length) SY.placeholderRow(rows, 'The events could not be loaded.', 5);
    });
  }

  function insert(e) {
    if (rowParts[e.id] || events.some(function (x) { return x.id === e.id; })) return false;
    var i = 0;
    while (i < events.length && !newerThan(e, events[i])) i++;
    events.splice(i, 0, e);
    if (events.length > MAX_ROWS) { events.length = MAX_ROWS; hasMore = true; endCursor = events[events.length - 1].id; }
    return true;
  }

  more.addEventListener('click', function () {
    var g = gen;
    more.disabled = true;
    SY.gql(EVENTS_QUERY, { after: endCursor, filter: filterInput() }).then(function (data) {
      if (g !== gen) return;
      var page = data.events;
      page.nodes.forEach(function (e) { if (!rowParts[e.id]) events.push(e); });
      endCursor = page.pageInfo.endCursor;
      hasMore = page.pageInfo.hasNextPage;
      render();
      live.textContent = plural(page.nodes.length, 'older event', 'older events') + ' added.';
    }, function (e) {
      showBox(errorBox, 'Could not load older events: ' + e.message);
    }).then(function () { more.disabled = false; });
  });

  typeSel.addEventListener('change', function () {
    gen++;
    events = [];
    open = {};
    rowParts = {};
    SY.placeholderRow(rows, 'Loading…', 5);
    summary.textContent = 'Loading events…';
    loadNewest(true);
  });

  // New events are announced in batches, not row by row.
  var announceTimer = null;
  function onEvent(e) {
    feed.touched();
    if (!matches(e.type, typeSel.value)) return;
    if (!insert(e)) return;
    render();
    var parts = rowParts[e.id];
    if (parts) {
      parts.row.classList.add('sy-row-new');
      setTimeout(function () { parts.row.classList.remove('sy-row-new'); }, 4000);
    }
    newCount++;
    if (!announceTimer) {
      announceTimer = setTimeout(function () {
        announceTimer = null;
        live.textContent = plural(newCount, 'new event', 'new events') + '.';
        newCount = 0;
      }, 1500);
    }
  }

  var feed = SY.liveFeed({
    area: 'events', pill: $('ev-status'), updated: $('ev-updated'), errorBox: errorBox, what: 'the events',
    query: EVENTS_SUBSCRIPTION, field: 'events', onData: onEvent,
    onConnected: function (again) {
      // Events committed while the socket was down: read the newest page and merge.
      if (again) loadNewest(false);
      feed.setStatus('live');
    }
  });
  setInterval(function () { feed.renderUpdated(); }, 5000);

  function loadTypes() {
    return SY.gql(TYPES_QUERY).then(function (data) {
      var families = {};
      data.eventTypes.forEach(function (t) { families[t.name.split('.')[0]] = true; });
      var famGroup = el('optgroup');
      famGroup.label = 'Families';
      Object.keys(families).sort().forEach(function (f) {
        var o = el('option', null, f + '.*');
        o.value = f + '.*';
        famGroup.appendChild(o);
      });
      var typeGroup = el('optgroup');
      typeGroup.label = 'Types';
      data.eventTypes.map(function (t) { return t; }).sort(function (a, b) { return a.name < b.name ? -1 : 1; })
        .forEach(function (t) {
          var o = el('option', null, t.name);
          o.value = t.name;
          o.title = t.description;
          typeGroup.appendChild(o);
        });
      typeSel.appendChild(famGroup);
      typeSel.appendChild(typeGroup);
    }, function () { /* the filter keeps "All events" */ });
  }

  SY.whenShown('events', function () {
    SY.viewer().then(function (v) {
      if (!v) return;
      me = v;
      panel.hidden = false;
      loadTypes();
      loadNewest(true).then(function () { feed.start(); });
    });
  });
})();
