// The console's Members area (issue 25, `#/members`): the workspace's
// members with their role; for owners, change a role, remove a member
// (confirmed), the pending invitations (send again, revoke — confirmed) and
// an invite form whose link is shown once in a dialog. Collaborators see
// the members only: the API refuses them the rest. Served at
// /playground/members.js; load it after /playground/app.js. It keeps to
// its own <section> of dashboard.html (data-area="members").
(function () {
  'use strict';

  var MEMBERS_QUERY = 'query { members(first: 100) { totalCount pageInfo { hasNextPage } ' +
    'nodes { id role joinedAt user { id email name } } } }';
  var INVITATIONS_QUERY = 'query { invitations(first: 100) { totalCount nodes { id email role expiresAt createdAt } } }';
  var ROLES = [['COLLABORATOR', 'Collaborator', 'works with the data'], ['OWNER', 'Owner', 'manages members, keys, webhooks']];

  var SY = window.Switchyard;   // /playground/app.js
  var el = SY.el, showBox = SY.showBox, button = SY.button, plural = SY.plural, errText = SY.errText;
  var $ = function (id) { return document.getElementById(id); };

  var panel = $('mem-panel');
  var errorBox = $('mem-error');
  var count = $('mem-count');
  var summary = $('mem-summary');
  var rows = $('mem-rows');
  var actionsCol = $('mem-actions-col');
  var invSection = $('inv-section');
  var invSummary = $('inv-summary');
  var invRows = $('inv-rows');
  var invForm = $('inv-form');
  var announce = SY.announcer($('mem-live'));

  var me = null;
  var isOwner = false;

  function rolePill(role) {
    var p = el('span', 'sy-pill sy-role', role === 'OWNER' ? 'owner' : 'collaborator');
    p.dataset.role = role;
    return p;
  }

  // ---- members ----
  var loadMembers = SY.oneAtATime(function () {
    return SY.gql(MEMBERS_QUERY).then(function (data) {
      showBox(errorBox, '');
      renderMembers(data.members);
    }, function (e) {
      showBox(errorBox, 'Could not load the members: ' + errText(e));
      SY.placeholderRow(rows, 'The members could not be loaded.', 4);
    });
  });

  function renderMembers(conn) {
    var list = conn.nodes;
    count.textContent = plural(conn.totalCount, 'member', 'members');
    var owners = list.filter(function (m) { return m.role === 'OWNER'; }).length;
    summary.textContent = plural(conn.totalCount, 'member', 'members') + ': ' + plural(owners, 'owner', 'owners') +
      ', ' + plural(list.length - owners, 'collaborator', 'collaborators') +
      (conn.pageInfo.hasNextPage ? ' (the newest ' + list.length + ' shown)' : '') + '.';
    rows.textContent = '';
    list.forEach(function (m) { rows.appendChild(memberRow(m, owners)); });
  }

  function memberRow(m, owners) {
    var tr = el('tr');
    tr.dataset.memberId = m.id;
    var th = el('th', 'sy-oauth-name');
    th.scope = 'row';
    var self = me && m.user.id === me.userId;
    th.appendChild(el('span', 'sy-oauth-app-name', m.user.name || m.user.email));
    if (self) th.appendChild(el('span', 'sy-muted', ' (you)'));
    if (m.user.name) th.appendChild(el('span', 'sy-oauth-desc sy-muted', m.user.email));
    tr.appendChild(th);
    var role = el('td');
    role.appendChild(rolePill(m.role));
    tr.appendChild(role);
    var joined = el('td');
    joined.appendChild(SY.timeEl(m.joinedAt));
    tr.appendChild(joined);
    var td = el('td', 'sy-oauth-actions');
    if (isOwner) {
      var holder = el('div', 'sy-row-actions');
      var who = m.user.email;
      var other = m.role === 'OWNER' ? 'COLLABORATOR' : 'OWNER';
      var change = button(other === 'OWNER' ? 'Make owner' : 'Make collaborator', 'sy-button-secondary',
        (other === 'OWNER' ? 'Make owner: ' : 'Make collaborator: ') + who);
      holder.appendChild(change);
      change.addEventListener('click', function () {
        var run = function (restore) { changeRole(m, other, change, restore); };
        // Giving up one's own owner role is confirmed: it cannot be undone from here.
        if (self && other === 'COLLABORATOR') {
          SY.confirmStep(holder, 'You lose owner rights at once.', 'Make me collaborator', 'Cancel',
            'your own role', change, run, 'Changing…');
        } else {
          run(null);
        }
      });
      if (!self) {
        var remove = button('Remove', 'sy-button-danger', 'Remove ' + who);
        holder.appendChild(remove);
        remove.addEventListener('click', function () {
          SY.confirmStep(holder, 'Their sessions end and their keys stop working here.', 'Remove member', 'Cancel',
            who, remove, function (restore) { removeMember(m, restore); }, 'Removing…');
        });
      }
      td.appendChild(holder);
      tr.appendChild(td);
    }
    return tr;
  }

  function changeRole(m, role, btn, restore) {
    btn.disabled = true;
    SY.mutate('updateMemberRole', 'UpdateMemberRoleInput', { id: m.id, role: role }, 'member { id role }').then(function () {
      showBox(errorBox, '');
      announce(m.user.email + ' is now ' + (role === 'OWNER' ? 'an owner.' : 'a collaborator.'));
      if (me && m.user.id === me.userId && role !== 'OWNER') {
        // No longer an owner: the page shows what a collaborator may do.
        window.location.reload();
        return;
      }
      summary.focus();
      loadMembers();
    }, function (e) {
      if (restore) restore(true);
      btn.disabled = false;
      showBox(errorBox, 'Could not change the role of ' + m.user.email + ': ' + errText(e));
      errorBox.focus();
    });
  }

  function removeMember(m, restore) {
    SY.mutate('removeMember', 'RemoveMemberInput', { id: m.id }, 'deletedId').then(function () {
      showBox(errorBox, '');
      announce('Removed ' + m.user.email + '.');
      summary.focus();
      loadMembers();
    }, function (e) {
      restore(true);
      showBox(errorBox, 'Could not remove ' + m.user.email + ': ' + errText(e));
    });
  }

  // ---- invitations (owners) ----
  var loadInvitations = SY.oneAtATime(function () {
    return SY.gql(INVITATIONS_QUERY).then(function (data) {
      renderInvitations(data.invitations);
    }, function (e) {
      if (e.code === 'FORBIDDEN') { invSection.hidden = true; return; }
      showBox(errorBox, 'Could not load the invitations: ' + errText(e));
    });
  });

  function renderInvitations(conn) {
    var list = conn.nodes;
    invSummary.textContent = list.length
      ? plural(conn.totalCount, 'invitation', 'invitations') + ' waiting to be accepted. A link works for 7 days; ' +
        'sending again makes a new link.'
      : 'No pending invitations.';
    invRows.textContent = '';
    if (!list.length) { SY.placeholderRow(invRows, 'No pending invitations.', 5); return; }
    list.forEach(function (inv) { invRows.appendChild(invitationRow(inv)); });
  }

  function invitationRow(inv) {
    var tr = el('tr');
    tr.dataset.invitationId = inv.id;
    var th = el('th', 'sy-oauth-name', inv.email);
    th.scope = 'row';
    tr.appendChild(th);
    var role = el('td');
    role.appendChild(rolePill(inv.role));
    tr.appendChild(role);
    var sent = el('td');
    sent.appendChild(SY.timeEl(inv.createdAt));
    tr.appendChild(sent);
    var exp = el('td');
    exp.appendChild(SY.timeEl(inv.expiresAt));
    if (Date.parse(inv.expiresAt) < Date.now()) {
      exp.appendChild(el('span', 'sy-inline-error', ' expired'));
      tr.className = 'sy-row-warn';
    }
    tr.appendChild(exp);
    var td = el('td', 'sy-oauth-actions');
    var holder = el('div', 'sy-row-actions');
    var again = button('Send again', 'sy-button-secondary', 'Send again: ' + inv.email);
    var revoke = button('Revoke', 'sy-button-danger', 'Revoke the invitation of ' + inv.email);
    holder.appendChild(again);
    holder.appendChild(revoke);
    td.appendChild(holder);
    tr.appendChild(td);
    again.addEventListener('click', function () {
      again.disabled = true;
      invite({ email: inv.email, role: inv.role }, again).then(null, function (e) {
        showBox(errorBox, 'Could not send again: ' + errText(e));
      }).then(function () { again.disabled = false; });
    });
    revoke.addEventListener('click', function () {
      SY.confirmStep(holder, 'The link stops working.', 'Revoke now', 'Cancel', 'the invitation of ' + inv.email, revoke,
        function (restore) {
          SY.mutate('revokeInvitation', 'RevokeInvitationInput', { id: inv.id }, 'deletedId').then(function () {
            showBox(errorBox, '');
            announce('Revoked the invitation of ' + inv.email + '.');
            invSummary.focus();
            loadInvitations();
          }, function (e) {
            restore(true);
            showBox(errorBox, 'Could not revoke: ' + errText(e));
          });
        }, 'Revoking…');
    });
    return tr;
  }

  // Invites (or invites again) and shows the link once.
  function invite(input, focusBack) {
    return SY.mutate('inviteMember', 'InviteMemberInput', input, 'acceptUrl invitation { id email role }').then(function (p) {
      showBox(errorBox, '');
      announce('Invited ' + p.invitation.email + '. The invitation link is shown once in a dialog.');
      SY.onceDialog({
        title: 'Invitation link for ' + p.invitation.email,
        note: 'Send it to them yourself (Switchyard sends no email): it opens a page where they create their ' +
          'account or accept with the one they have. It works for 7 days and cannot be shown again; send the ' +
          'invitation again for a new link.',
        value: p.acceptUrl, label: 'Invitation link', what: 'link', focusBack: focusBack
      });
      loadInvitations();
      return p;
    });
  }

  function buildInviteForm() {
    invForm.textContent = '';
    var form = el('form', 'sy-oauth-form sy-invite-form');
    form.noValidate = true;
    var email = SY.formField('inv-email', 'Email', { kind: 'email', maxLength: 254, placeholder: 'name@example.com' });
    var role = SY.choiceField('inv-role', 'Role', 'inv-role', ROLES, { type: 'radio', checked: ['COLLABORATOR'] });
    var fields = { email: { input: email.input, error: email.error }, role: { inputs: role.inputs, error: role.error } };
    form.appendChild(email.wrap);
    form.appendChild(role.wrap);
    var formError = SY.formErrorBox();
    form.appendChild(formError);
    var bar = SY.submitRow('Invite');
    var submit = bar.submit;
    var result = bar.result;
    form.appendChild(bar.row);
    SY.clearOnInput(fields);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      SY.clearFieldErrors(fields, formError);
      result.className = '';
      result.textContent = 'Inviting…';
      submit.disabled = true;
      invite({ email: email.input.value.trim(), role: SY.checkedValues(role.inputs)[0] }, email.input).then(function (p) {
        result.textContent = 'Invited ' + p.invitation.email + '.';
        email.input.value = '';
      }, function (e) {
        SY.formRejected(e, result, fields, formError, 'Not invited');
      }).then(function () { submit.disabled = false; });
    });
    invForm.appendChild(form);
  }

  SY.whenShown('members', function () {
    SY.viewer().then(function (v) {
      if (!v) return;
      me = v;
      isOwner = v.role === 'OWNER';
      panel.hidden = false;
      if (!isOwner) actionsCol.hidden = true;
      loadMembers();
      if (isOwner) {
        invSection.hidden = false;
        buildInviteForm();
        loadInvitations();
      }
    });
  });
})();
