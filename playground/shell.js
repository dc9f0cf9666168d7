// The console's shell (dashboard.html): the navigation and its hash router,
// the menu on narrow screens, the workspace switcher and the live-feed
// indicator. Load it right after /playground/app.js and before the areas'
// scripts, so that Switchyard.currentArea() answers when they start.
//
// Areas are <section data-area="ID"> blocks in <main>. The router shows
// those of `#/ID` (default `#/overview`) by setting data-current on them;
// CSS hides the others. It never touches `hidden`, which the areas' own
// scripts set for sign-in and permission reasons. Each time an area is
// shown after load, it dispatches `sy:area` ({ detail: { area } }) on the
// document. An old-style hash naming an element (`#connections-panel`)
// shows that element's area and scrolls to it; the hash is left as it is.
(function () {
  'use strict';

  var SY = window.Switchyard;
  var DEFAULT_AREA = 'overview';
  var $ = function (id) { return document.getElementById(id); };
  var main = $('sy-main');
  var heading = $('sy-dash-title');
  var nav = $('sy-sidenav');
  var menu = $('sy-menu');
  var shell = $('sy-console');
  var links = Array.prototype.slice.call(nav.querySelectorAll('a[data-area-link]'));
  var current = null;

  function sections(area) {
    return main.querySelectorAll('section[data-area="' + area + '"]');
  }

  function hasArea(area) { return sections(area).length > 0; }

  // The area a hash asks for: `#/ID`, or the area holding the element
  // `#some-id`; null when it names neither.
  function areaOfHash(hash) {
    var m = /^#\/([a-z0-9-]+)$/.exec(hash || '');
    if (m) return hasArea(m[1]) ? m[1] : null;
    if (hash && hash.length > 1) {
      var target = null;
      try { target = document.getElementById(decodeURIComponent(hash.slice(1))); } catch (e) { target = null; }
      var holder = target && target.closest && target.closest('section[data-area]');
      if (holder && main.contains(holder)) return holder.getAttribute('data-area');
    }
    return null;
  }

  function titleOf(area) {
    var link = links.filter(function (a) { return a.getAttribute('data-area-link') === area; })[0];
    return link ? link.textContent.trim() : area;
  }

  function show(area, announce) {
    var changed = area !== current;
    current = area;
    Array.prototype.forEach.call(main.querySelectorAll('section[data-area]'), function (s) {
      if (s.getAttribute('data-area') === area) s.setAttribute('data-current', '');
      else s.removeAttribute('data-current');
    });
    main.setAttribute('data-area', area);
    links.forEach(function (a) {
      if (a.getAttribute('data-area-link') === area) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    document.title = titleOf(area) + ' — Switchyard';
    // <main> is labelled by this heading: focus on it reads out the area.
    heading.textContent = titleOf(area);
    if (changed && announce) {
      document.dispatchEvent(new CustomEvent('sy:area', { detail: { area: area } }));
    }
  }

  function route(announce) {
    var hash = window.location.hash;
    var area = areaOfHash(hash);
    if (!area) {
      var anchor = hash && hash.length > 1 && document.getElementById(hash.slice(1));
      if (anchor && current) {
        // An anchor outside the areas (the skip link to <main>): stay.
        area = current;
      } else {
        area = DEFAULT_AREA;
        // An unknown or empty hash: say where we are, without a history entry.
        if (hash !== '#/' + area && !anchor) window.history.replaceState(null, '', '#/' + area);
      }
    }
    show(area, announce);
    return area;
  }

  // Links to areas this page has no sections for are left out of the menu.
  links.forEach(function (a) {
    if (!hasArea(a.getAttribute('data-area-link'))) a.parentNode.hidden = true;
  });
  Array.prototype.forEach.call(nav.querySelectorAll('.sy-nav-group'), function (g) {
    var any = Array.prototype.some.call(g.querySelectorAll('li li'), function (li) { return !li.hidden; });
    g.hidden = !any;
  });

  route(false);

  window.addEventListener('hashchange', function () {
    var before = current;
    var area = route(true);
    closeMenu(false);
    // A new area starts at the top, its heading read out; an anchor inside
    // an area scrolls to itself (the browser does that).
    if (area !== before && /^#\//.test(window.location.hash)) {
      window.scrollTo(0, 0);
      main.focus({ preventScroll: true });
    }
  });

  // ---- the menu on narrow screens ----
  function openMenu() {
    shell.setAttribute('data-menu-open', '');
    menu.setAttribute('aria-expanded', 'true');
    var first = nav.querySelector('a[aria-current="page"]') || nav.querySelector('a');
    if (first) first.focus();
  }

  function closeMenu(focusButton) {
    if (!shell.hasAttribute('data-menu-open')) return;
    shell.removeAttribute('data-menu-open');
    menu.setAttribute('aria-expanded', 'false');
    if (focusButton) menu.focus();
  }

  menu.addEventListener('click', function () {
    if (shell.hasAttribute('data-menu-open')) closeMenu(true);
    else openMenu();
  });
  nav.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') closeMenu(true);
  });
  // A click on the current area's link changes no hash: close all the same.
  nav.addEventListener('click', function (ev) {
    if (ev.target.closest && ev.target.closest('a')) closeMenu(false);
  });

  // ---- the live feed: the page's one WebSocket, which the areas share ----
  // connecting → live → reconnecting (with back-off) → live …; offline when
  // the server refuses the session (then no retry: sign in again). The
  // areas' feeds (Switchyard.liveFeed) follow its state in their pills.
  var pill = $('sy-live');
  var liveState = 'connecting';
  var listeners = [];
  var liveClient = null;

  function setLive(state, text) {
    liveState = state;
    pill.dataset.state = state;
    pill.textContent = text || state;
    listeners.forEach(function (fn) { fn(state); });
  }

  var everConnected = false;
  function startLive() {
    var refused = false;
    liveClient = SY.wsClient({
      lazy: false,
      keepAlive: 10000,
      retryAttempts: Infinity,
      retryWait: SY.retryWait,
      // The client gave up: the session was refused (signed out: no more
      // tries), or the server closed with a code graphql-ws takes as final
      // (then a new client, a little later). graphql-ws would log it otherwise.
      onNonLazyError: function () {
        if (refused) { setLive('error', 'offline: sign in again'); return; }
        // No client until the new one: a subscription asked for meanwhile
        // would open a socket of its own on the old one.
        liveClient = null;
        setLive('reconnecting', 'offline, reconnecting');
        setTimeout(function () { everConnected = true; startLive(); }, 5000);
      },
      shouldRetry: function (e) {
        // 4401/4403: the session is gone or not allowed; retrying cannot help.
        refused = !!(e && (e.code === 4401 || e.code === 4403));
        return !refused;
      },
      on: {
        connecting: function () {
          setLive(everConnected ? 'reconnecting' : 'connecting');
        },
        connected: function () {
          var again = everConnected;
          everConnected = true;
          setLive('live');
          document.dispatchEvent(new CustomEvent('sy:live', { detail: { reconnected: again } }));
        },
        closed: function () {
          if (refused) setLive('error', 'offline: sign in again');
          else setLive(everConnected ? 'reconnecting' : 'connecting', everConnected ? 'offline, reconnecting' : 'connecting');
        }
      }
    });
  }

  // ---- workspace switcher ----
  var wsBox = $('sy-ws');
  var wsSelect = $('sy-ws-select');
  var wsError = $('sy-ws-error');

  function loadWorkspaces() {
    return SY.gql('{ viewer { workspace { id } workspaces { id name role } } }').then(function (d) {
      var list = d.viewer.workspaces;
      if (list.length < 2) return;
      wsSelect.textContent = '';
      list.forEach(function (w) {
        var o = SY.el('option', null, w.name + (w.role === 'OWNER' ? '' : ' (' + w.role.toLowerCase() + ')'));
        o.value = w.id;
        if (w.id === d.viewer.workspace.id) o.selected = true;
        wsSelect.appendChild(o);
      });
      wsSelect.dataset.current = d.viewer.workspace.id;
      wsBox.hidden = false;
    }, function () { /* the areas say what went wrong with the session */ });
  }

  wsSelect.addEventListener('change', function () {
    var id = wsSelect.value;
    wsSelect.disabled = true;
    SY.showBox(wsError, '');
    SY.mutate('switchWorkspace', 'SwitchWorkspaceInput', { workspaceId: id }, 'workspace { id name } role')
      .then(function () {
        // Every area reads the new workspace from scratch.
        window.location.reload();
      }, function (e) {
        wsSelect.disabled = false;
        wsSelect.value = wsSelect.dataset.current;
        SY.showBox(wsError, 'Could not switch workspaces: ' + e.message);
      });
  });

  SY.session().then(function (s) {
    if (!s) {
      setLive('error', 'offline: not signed in');
      return;
    }
    document.body.dataset.role = String(s.role || '').toLowerCase();
    // Areas only owners can use leave a collaborator's menu.
    if (s.role !== 'owner') {
      links.forEach(function (a) { if (a.hasAttribute('data-owner-only')) a.parentNode.hidden = true; });
    }
    // The Sandbox area: the data console is the owner's.
    var live = $('sandbox-console-link');
    if (live && s.role !== 'owner') live.hidden = true;
    startLive();
    loadWorkspaces();
  });

  // The shell's part of Switchyard (see app.js for the rest).
  SY.currentArea = function () { return current; };
  SY.live = {
    // The shared graphql-ws client: null until signed in, and while a new
    // one replaces one the server closed for good (sy:live tells when it
    // is there). Switchyard.liveFeed subscribes on it.
    client: function () { return liveClient; },
    state: function () { return liveState; },
    // fn(state) on each change: connecting, live, reconnecting, error.
    onChange: function (fn) { listeners.push(fn); }
  };
})();
