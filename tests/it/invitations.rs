//! Invitations (issue 18, finding 2): an owner can no longer take over or
//! probe accounts of other tenants. Inviting creates nothing but the
//! invitation; only the invitee's own action (creating the account with the
//! token, or accepting while signed in as the invited address) makes a
//! membership. Also the workspaces of a session and switching between them.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set};
use serde_json::{json, Value};

use crate::helpers::{for_each_backend, TestApp, PASSWORD};

const INVITE: &str =
    "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { acceptUrl invitation { id email role expiresAt createdAt } } }";
const ACCEPT: &str = "mutation($t: String!) { acceptInvitation(input: { token: $t }) { role workspace { id name }
    userErrors { field code } } }";
const SWITCH: &str = "mutation($w: ID!) { switchWorkspace(input: { workspaceId: $w }) { role workspace { id }
    userErrors { field code } } }";

async fn user_by_email(app: &TestApp, email: &str) -> Option<entity::user::Model> {
    entity::user::Entity::find().filter(entity::user::Column::Email.eq(email)).one(&app.state.db).await.unwrap()
}

async fn memberships_of(app: &TestApp, user_id: &str) -> Vec<String> {
    let mut ws: Vec<String> = entity::membership::Entity::find()
        .filter(entity::membership::Column::UserId.eq(user_id))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.workspace_id)
        .collect();
    ws.sort();
    ws
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Option<String>) {
    let (status, cookie, _) = app.auth_post("/auth/login", json!({ "email": email, "password": password }), None).await;
    (status, cookie)
}

/// The workspace id a session works in.
async fn session_workspace(app: &TestApp, cookie: &str) -> String {
    let me = app.gql_session(cookie, "{ viewer { workspace { id } } }", json!({})).await;
    me["data"]["viewer"]["workspace"]["id"].as_str().unwrap_or_else(|| panic!("{me}")).to_string()
}

/// The object keys of a JSON value, recursively (`a.b.c`), sorted.
fn key_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let path = format!("{prefix}{k}");
            out.push(path.clone());
            key_paths(child, &format!("{path}."), out);
        }
    }
    out.sort();
}

#[tokio::test]
async fn an_owner_cannot_pre_claim_an_account_to_enter_another_workspace() {
    for_each_backend(&[], |app: TestApp| async move {
        let (ws_b, key_b) = app.other_workspace("owner@b.test").await;
        // The owner's own browser session (the first-start link).
        let setup = app.setup_url.as_deref().unwrap().split("token=").nth(1).unwrap().to_string();
        let (_, owner_a, _) = app.auth_post("/auth/setup", json!({ "token": setup, "password": PASSWORD }), None).await;
        let owner_a = owner_a.unwrap();

        // There is no way left to add someone directly.
        let (_, _, body) = app
            .gql_raw(
                Some(&app.owner_key),
                "mutation { addMember(input: { email: \"carol@b.test\" }) { setupUrl } }",
                json!({}),
            )
            .await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("addMember"), "{body}");

        // A's owner invites carol and redeems his own link with a password
        // of his: that creates an account for carol, but a member of A only.
        let token_a = app.invite(&app.owner_key, "carol@b.test", "COLLABORATOR").await;
        let attacker_pw = "the attacker's password";
        let (status, attacker, body) =
            app.auth_post("/auth/invite/accept", json!({ "token": token_a, "password": attacker_pw }), None).await;
        assert_eq!(status, 200, "{body}");
        let attacker = attacker.unwrap();
        let carol = user_by_email(&app, "carol@b.test").await.unwrap();
        assert_eq!(memberships_of(&app, &carol.id).await, vec![app.workspace_id.clone()]);
        let hash_before = carol.password_hash.clone();

        // B's owner invites carol (an existing account now).
        let token_b = app.invite(&key_b, "carol@b.test", "COLLABORATOR").await;

        // A's link is spent; a made-up token is nothing.
        for t in [token_a.as_str(), "not-a-token"] {
            let (status, _, body) = app
                .auth_post("/auth/invite/accept", json!({ "token": t, "password": "another long password" }), None)
                .await;
            assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("token")), "{body}");
            let out = app.gql_session(&attacker, ACCEPT, json!({ "t": t })).await;
            assert!(out.get("errors").is_none(), "{out}");
            assert_eq!(
                out["data"]["acceptInvitation"],
                json!({ "role": null, "workspace": null, "userErrors": [{ "field": ["input", "token"], "code": "INVALID" }] }),
                "{out}"
            );
        }
        // With B's token: a password never opens or changes an existing account,
        assert_eq!(
            app.auth_post(
                "/auth/invite/accept",
                json!({ "token": token_b, "password": "another long password" }),
                None
            )
            .await
            .0,
            400
        );
        let (status, _, body) =
            app.auth_post("/auth/invite/accept", json!({ "token": token_b, "password": attacker_pw }), None).await;
        assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("password")), "{body}");
        assert!(body["details"][0]["error"].as_str().unwrap().contains("sign in"), "{body}");
        // no session accepts it for someone else, and API keys cannot accept.
        let (status, _, _) = app.auth_post("/auth/invite/accept", json!({ "token": token_b }), None).await;
        assert_eq!(status, 401);
        let (status, _, body) = app.auth_post("/auth/invite/accept", json!({ "token": token_b }), Some(&owner_a)).await;
        assert_eq!(status, 403, "{body}");
        let out = app.gql_session(&owner_a, ACCEPT, json!({ "t": token_b })).await;
        assert_eq!(out["errors"][0]["extensions"]["code"], "FORBIDDEN", "{out}");
        app.gql_err(Some(&app.owner_key), ACCEPT, json!({ "t": token_b }), "FORBIDDEN").await;

        // Carol's password is untouched, B has no new member, and the
        // attacker's session as carol knows only A.
        let carol = user_by_email(&app, "carol@b.test").await.unwrap();
        assert_eq!(carol.password_hash, hash_before);
        assert_eq!(memberships_of(&app, &carol.id).await, vec![app.workspace_id.clone()]);
        assert_eq!(login(&app, "carol@b.test", "another long password").await.0, 401);
        let mine = app.gql_session(&attacker, "{ viewer { workspaces { id } } }", json!({})).await;
        assert_eq!(mine["data"]["viewer"]["workspaces"], json!([{ "id": app.workspace_id }]));
        let out = app.gql_session(&attacker, SWITCH, json!({ "w": ws_b })).await;
        assert_eq!(
            out["data"]["switchWorkspace"]["userErrors"],
            json!([{ "field": ["input", "workspaceId"], "code": "NOT_FOUND" }]),
            "{out}"
        );
        let b_members = app.gql(&key_b, "{ members { totalCount } }", json!({})).await;
        assert_eq!(b_members["members"]["totalCount"], 1);
    })
    .await;
}

#[tokio::test]
async fn inviting_reveals_nothing_about_accounts_and_adds_no_one_until_they_accept() {
    for_each_backend(&[], |app: TestApp| async move {
        let (ws_b, key_b) = app.other_workspace("owner@b.test").await;
        let (dave_id, dave) = app.invite_and_accept(&key_b, "dave@b.test", "COLLABORATOR").await;
        let name = "mutation { updateProfile(input: { name: \"Dave Secret\" }) { user { name } } }";
        app.gql_session(&dave, name, json!({})).await;

        // A's owner invites B's collaborator as OWNER, and a new address.
        let existing =
            app.gql(&app.owner_key, INVITE, json!({ "i": { "email": "dave@b.test", "role": "OWNER" } })).await;
        let new = app.gql(&app.owner_key, INVITE, json!({ "i": { "email": "nobody@b.test", "role": "OWNER" } })).await;
        let (mut k1, mut k2) = (vec![], vec![]);
        key_paths(&existing, "", &mut k1);
        key_paths(&new, "", &mut k2);
        assert_eq!(k1, k2);
        let text = existing.to_string();
        assert!(!text.contains(&dave_id) && !text.contains("usr_") && !text.contains("Dave Secret"), "{text}");
        assert_eq!(existing["inviteMember"]["invitation"]["email"], "dave@b.test");
        assert_eq!(existing["inviteMember"]["invitation"]["role"], "OWNER");
        // The payload types cannot carry more than that.
        let types = app
            .gql(
                &app.owner_key,
                "{ p: __type(name: \"InviteMemberPayload\") { fields { name } } i: __type(name: \"Invitation\") { fields { name } } }",
                json!({}),
            )
            .await;
        let names = |t: &Value| -> Vec<String> {
            let mut v: Vec<String> =
                t["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&types["p"]), ["acceptUrl", "invitation", "userErrors"]);
        assert_eq!(names(&types["i"]), ["createdAt", "email", "expiresAt", "id", "role"]);
        let ev = app
            .gql(&app.owner_key, "{ events(filter: { eventTypes: [\"member.invited\"] }) { edges { node { data } } } }", json!({}))
            .await;
        let data = &ev["events"]["edges"][0]["node"]["data"];
        let mut keys: Vec<&String> = data.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["email", "id", "role"], "{data}");

        // Nothing changed for dave: no membership in A, and he signs in to B.
        assert_eq!(memberships_of(&app, &dave_id).await, vec![ws_b.clone()]);
        assert_eq!(app.gql(&app.owner_key, "{ members { totalCount } }", json!({})).await["members"]["totalCount"], 1);
        let (status, dave) = login(&app, "dave@b.test", PASSWORD).await;
        assert_eq!(status, 200);
        let dave = dave.unwrap();
        assert_eq!(session_workspace(&app, &dave).await, ws_b);

        // He accepts in his own session: now an owner of A, working there.
        let token = existing["inviteMember"]["acceptUrl"].as_str().unwrap().split("token=").nth(1).unwrap();
        let out = app.gql_session(&dave, ACCEPT, json!({ "t": token })).await;
        assert_eq!(out["data"]["acceptInvitation"]["role"], "OWNER", "{out}");
        assert_eq!(out["data"]["acceptInvitation"]["workspace"]["id"], app.workspace_id);
        assert_eq!(session_workspace(&app, &dave).await, app.workspace_id);
        // Back to B by his own choice: owning A does not pull his next login.
        let out = app.gql_session(&dave, SWITCH, json!({ "w": ws_b })).await;
        assert_eq!(out["data"]["switchWorkspace"]["role"], "COLLABORATOR", "{out}");
        let (_, again) = login(&app, "dave@b.test", PASSWORD).await;
        assert_eq!(session_workspace(&app, &again.unwrap()).await, ws_b);
    })
    .await;
}

#[tokio::test]
async fn a_new_account_is_created_once_by_the_token_and_an_existing_one_accepts_signed_in() {
    for_each_backend(&[], |app: TestApp| async move {
        let token = app.invite(&app.owner_key, "erin@example.com", "COLLABORATOR").await;
        let info: Value = app
            .client
            .get(format!("{}/auth/invite?token={token}", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["workspaceName"], "My workspace");
        assert_eq!((info["email"].as_str(), info["role"].as_str()), (Some("erin@example.com"), Some("collaborator")));
        assert!(info["expiresAt"].is_string() && info.get("accountExists").is_none(), "{info}");
        let bad = app.client.get(format!("{}/auth/invite?token=nope", app.url)).send().await.unwrap();
        assert_eq!(bad.status(), 400);

        // Bad requests create nothing: no CSRF header, a short password.
        let resp = app
            .client
            .post(format!("{}/auth/invite/accept", app.url))
            .json(&json!({ "token": token, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403);
        let (status, _, body) =
            app.auth_post("/auth/invite/accept", json!({ "token": token, "password": "short" }), None).await;
        assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("password")));
        assert!(user_by_email(&app, "erin@example.com").await.is_none());

        let (status, cookie, body) = app
            .auth_post("/auth/invite/accept", json!({ "token": token, "password": PASSWORD, "name": "Erin" }), None)
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["workspace"]["id"], app.workspace_id);
        let erin = cookie.expect("a session");
        let me = app
            .gql_session(
                &erin,
                "{ viewer { role credential user { email name hasPassword } workspace { id } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            me["data"]["viewer"],
            json!({ "role": "COLLABORATOR", "credential": "SESSION", "workspace": { "id": app.workspace_id },
                    "user": { "email": "erin@example.com", "name": "Erin", "hasPassword": true } })
        );
        // The token works once.
        let (status, _, body) =
            app.auth_post("/auth/invite/accept", json!({ "token": token, "password": PASSWORD }), None).await;
        assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("token")));
        let (status, _, _) = app.auth_post("/auth/invite/accept", json!({ "token": token }), Some(&erin)).await;
        assert_eq!(status, 400);

        // An expired token is refused and creates nothing.
        let late = app.invite(&app.owner_key, "late@example.com", "COLLABORATOR").await;
        let row = entity::invitation::Entity::find()
            .filter(entity::invitation::Column::Email.eq("late@example.com"))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut am = row.into_active_model();
        am.expires_at = Set(chrono::Utc::now() - chrono::Duration::minutes(1));
        am.update(&app.state.writer).await.unwrap();
        let (status, _, body) =
            app.auth_post("/auth/invite/accept", json!({ "token": late, "password": PASSWORD }), None).await;
        assert_eq!((status, body["details"][0]["field"].as_str()), (400, Some("token")), "{body}");
        assert!(user_by_email(&app, "late@example.com").await.is_none());

        // An existing account: another workspace invites erin. Someone else
        // signed in cannot accept; erin, signed in, can, and her session
        // moves there.
        let (ws_b, key_b) = app.other_workspace("owner@b.test").await;
        let token_b = app.invite(&key_b, "erin@example.com", "OWNER").await;
        let (_, someone) = app.invite_and_accept(&app.owner_key, "someone@example.com", "COLLABORATOR").await;
        let (status, _, body) = app.auth_post("/auth/invite/accept", json!({ "token": token_b }), Some(&someone)).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
        let (status, _, body) = app.auth_post("/auth/invite/accept", json!({ "token": token_b }), Some(&erin)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["workspace"]["id"].as_str(), body["role"].as_str()), (Some(ws_b.as_str()), Some("owner")));
        assert_eq!(session_workspace(&app, &erin).await, ws_b);
        let erin_id = user_by_email(&app, "erin@example.com").await.unwrap().id;
        let mut both = vec![app.workspace_id.clone(), ws_b.clone()];
        both.sort();
        assert_eq!(memberships_of(&app, &erin_id).await, both);
    })
    .await;
}

#[tokio::test]
async fn a_session_lists_its_workspaces_and_switches_but_api_keys_stay_bound() {
    for_each_backend(&[], |app: TestApp| async move {
        let (_, erin) = app.invite_and_accept(&app.owner_key, "erin@example.com", "COLLABORATOR").await;
        let (ws_b, key_b) = app.other_workspace("owner@b.test").await;
        let (ws_c, _) = app.other_workspace("owner@c.test").await;
        let token = app.invite(&key_b, "erin@example.com", "OWNER").await;
        let out = app.gql_session(&erin, ACCEPT, json!({ "t": token })).await;
        assert_eq!(out["data"]["acceptInvitation"]["workspace"]["id"], ws_b, "{out}");

        let list = "{ viewer { workspace { id } workspaces { id name role } } }";
        let mine = app.gql_session(&erin, list, json!({})).await;
        assert_eq!(
            mine["data"]["viewer"]["workspaces"],
            json!([
                { "id": app.workspace_id, "name": "My workspace", "role": "COLLABORATOR" },
                { "id": ws_b, "name": "Other", "role": "OWNER" }
            ])
        );
        assert_eq!(mine["data"]["viewer"]["workspace"]["id"], ws_b);

        let out = app.gql_session(&erin, SWITCH, json!({ "w": app.workspace_id })).await;
        assert_eq!(
            out["data"]["switchWorkspace"],
            json!({ "role": "COLLABORATOR", "workspace": { "id": app.workspace_id }, "userErrors": [] })
        );
        let me = app.gql_session(&erin, "{ viewer { role workspace { id } } }", json!({})).await;
        assert_eq!(me["data"]["viewer"], json!({ "role": "COLLABORATOR", "workspace": { "id": app.workspace_id } }));

        // Not a member of C (or no such workspace): refused, nothing moves.
        for w in [ws_c.as_str(), "ws_nope"] {
            let out = app.gql_session(&erin, SWITCH, json!({ "w": w })).await;
            assert_eq!(
                out["data"]["switchWorkspace"]["userErrors"],
                json!([{ "field": ["input", "workspaceId"], "code": "NOT_FOUND" }]),
                "{out}"
            );
        }
        assert_eq!(session_workspace(&app, &erin).await, app.workspace_id);

        // An API key sees and keeps its own workspace only.
        app.gql_err(Some(&app.owner_key), SWITCH, json!({ "w": ws_b }), "FORBIDDEN").await;
        let keyed = app.gql(&key_b, "{ viewer { workspaces { id role } } }", json!({})).await;
        assert_eq!(keyed["viewer"]["workspaces"], json!([{ "id": ws_b, "role": "OWNER" }]));
    })
    .await;
}

#[tokio::test]
async fn owners_list_replace_and_revoke_invitations_and_no_one_else_can() {
    for_each_backend(&[], |app: TestApp| async move {
        let list = "{ invitations { totalCount edges { node { id email role } } } }";
        let old = app.invite(&app.owner_key, "x@example.com", "COLLABORATOR").await;
        let y = app.invite(&app.owner_key, "y@example.com", "COLLABORATOR").await;
        // Inviting again replaces the pending invitation and its link.
        let x = app.invite(&app.owner_key, "X@example.com", "OWNER").await;
        let status = |t: String| {
            let app = app.clone();
            async move { app.client.get(format!("{}/auth/invite?token={t}", app.url)).send().await.unwrap().status() }
        };
        assert_eq!(status(old.clone()).await, 400);
        assert_eq!(status(x.clone()).await, 200);
        let out = app.gql(&app.owner_key, list, json!({})).await;
        assert_eq!(out["invitations"]["totalCount"], 2);
        let nodes = &out["invitations"]["edges"];
        assert_eq!(
            (nodes[0]["node"]["email"].as_str(), nodes[0]["node"]["role"].as_str()),
            (Some("x@example.com"), Some("OWNER"))
        );
        assert_eq!(nodes[1]["node"]["email"], "y@example.com");
        let y_id = nodes[1]["node"]["id"].as_str().unwrap().to_string();
        let revoke = "mutation($id: ID!) { revokeInvitation(input: { id: $id }) { deletedId } }";
        let revoke_refused = |key: String, id: String| {
            let app = app.clone();
            async move {
                let got = app.user_error(&key, "revokeInvitation", json!({ "id": id })).await;
                assert_eq!(got, ("input.id".into(), "NOT_FOUND".into()), "[{}] {id}", app.backend);
            }
        };

        // Another workspace's owner neither sees nor revokes them.
        let (_, key_b) = app.other_workspace("owner@b.test").await;
        assert_eq!(app.gql(&key_b, list, json!({})).await["invitations"]["totalCount"], 0);
        revoke_refused(key_b.clone(), y_id.clone()).await;
        // A collaborator cannot invite, list or revoke.
        let (_, collab) = app.collaborator_key("carol@example.com").await;
        for (q, v) in
            [(INVITE, json!({ "i": { "email": "z@example.com" } })), (list, json!({})), (revoke, json!({ "id": y_id }))]
        {
            let err = app.gql_err(Some(&collab), q, v, "FORBIDDEN").await;
            assert_eq!(err["message"], "Only the workspace owner may do this");
        }
        assert_eq!(app.gql(&app.owner_key, list, json!({})).await["invitations"]["totalCount"], 2);
        // Nor does a key without the admin permission.
        let (_, writer) = app.create_key(&app.owner_key, "writer", &["READ", "WRITE"]).await;
        app.gql_err(Some(&writer), INVITE, json!({ "i": { "email": "z@example.com" } }), "FORBIDDEN").await;

        let out = app.gql(&app.owner_key, revoke, json!({ "id": y_id })).await;
        assert_eq!(out["revokeInvitation"]["deletedId"], y_id);
        assert_eq!(status(y.clone()).await, 400);
        let (s, _, _) = app.auth_post("/auth/invite/accept", json!({ "token": y, "password": PASSWORD }), None).await;
        assert_eq!(s, 400);
        revoke_refused(app.owner_key.clone(), y_id.clone()).await;
        revoke_refused(app.owner_key.clone(), "inv_nope".into()).await;
        assert_eq!(app.gql(&app.owner_key, list, json!({})).await["invitations"]["totalCount"], 1);

        // An accepted invitation leaves the list and cannot be revoked.
        let (s, _, _) = app.auth_post("/auth/invite/accept", json!({ "token": x, "password": PASSWORD }), None).await;
        assert_eq!(s, 200);
        let out = app.gql(&app.owner_key, list, json!({})).await;
        assert_eq!(out["invitations"]["totalCount"], 0);
        let x_row = entity::invitation::Entity::find()
            .filter(entity::invitation::Column::Email.eq("x@example.com"))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(x_row.accepted_at.is_some());
        revoke_refused(app.owner_key.clone(), x_row.id.clone()).await;
        let pending = entity::invitation::Entity::find()
            .filter(entity::invitation::Column::AcceptedAt.is_null())
            .count(&app.state.db)
            .await
            .unwrap();
        assert_eq!(pending, 0);
    })
    .await;
}

#[tokio::test]
async fn the_prune_job_drops_accepted_and_long_expired_invitations_only() {
    use switchyard::jobs::Handler;
    for_each_backend(&[], |app: TestApp| async move {
        let accepted = app.invite(&app.owner_key, "done@example.com", "COLLABORATOR").await;
        let (s, _, _) =
            app.auth_post("/auth/invite/accept", json!({ "token": accepted, "password": PASSWORD }), None).await;
        assert_eq!(s, 200);
        app.invite(&app.owner_key, "pending@example.com", "COLLABORATOR").await;
        app.invite(&app.owner_key, "lapsed@example.com", "COLLABORATOR").await;
        app.invite(&app.owner_key, "stale@example.com", "COLLABORATOR").await;
        for (email, days) in [("lapsed@example.com", 1), ("stale@example.com", 31)] {
            let row = entity::invitation::Entity::find()
                .filter(entity::invitation::Column::Email.eq(email))
                .one(&app.state.db)
                .await
                .unwrap()
                .unwrap();
            let mut am = row.into_active_model();
            am.expires_at = Set(chrono::Utc::now() - chrono::Duration::days(days));
            am.update(&app.state.writer).await.unwrap();
        }
        // Any job row will do as the handler's argument.
        let job = loop {
            if let Some(j) = entity::job::Entity::find().one(&app.state.db).await.unwrap() {
                break j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        switchyard::services::maintenance::Prune.run(&app.state, &job).await.unwrap();
        let mut left: Vec<String> =
            entity::invitation::Entity::find().all(&app.state.db).await.unwrap().into_iter().map(|i| i.email).collect();
        left.sort();
        assert_eq!(left, ["lapsed@example.com", "pending@example.com"], "[{}]", app.backend);
    })
    .await;
}

#[tokio::test]
async fn invitations_of_an_owner_who_is_demoted_or_removed_stop_working() {
    for_each_backend(&[], |app: TestApp| async move {
        let (o2_id, o2) = app.invite_and_accept(&app.owner_key, "o2@example.com", "OWNER").await;
        let sent = |email: &'static str| {
            let (app, o2) = (app.clone(), o2.clone());
            async move {
                let out = app.gql_session(&o2, INVITE, json!({ "i": { "email": email, "role": "OWNER" } })).await;
                let url = out["data"]["inviteMember"]["acceptUrl"].as_str().unwrap_or_else(|| panic!("{out}"));
                url.split("token=").nth(1).unwrap().to_string()
            }
        };
        let info = |t: String| {
            let app = app.clone();
            async move { app.client.get(format!("{}/auth/invite?token={t}", app.url)).send().await.unwrap().status() }
        };
        let list = "{ invitations { totalCount } }";

        // Whatever the path that made them no owner, their links are dead.
        let first = sent("sneaky@example.com").await;
        assert_eq!(info(first.clone()).await, 200);
        let m = entity::membership::Entity::find()
            .filter(entity::membership::Column::UserId.eq(o2_id.as_str()))
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        let mut am = m.clone().into_active_model();
        am.role = Set("collaborator".into());
        am.update(&app.state.writer).await.unwrap();
        assert_eq!(info(first.clone()).await, 400);
        let (s, _, _) =
            app.auth_post("/auth/invite/accept", json!({ "token": first, "password": PASSWORD }), None).await;
        assert_eq!(s, 400);
        assert!(user_by_email(&app, "sneaky@example.com").await.is_none());
        let mut am = m.into_active_model();
        am.role = Set("owner".into());
        am.update(&app.state.writer).await.unwrap();

        // Demoting or removing them deletes what they sent.
        let second = sent("sneaky2@example.com").await;
        assert_eq!(app.gql(&app.owner_key, list, json!({})).await["invitations"]["totalCount"], 2);
        let o2_member = app.member_id(&app.owner_key, &o2_id).await;
        let set_role = |role: &str| {
            app.mutate(&app.owner_key, "updateMemberRole", json!({ "id": o2_member, "role": role }), "member { role }")
        };
        set_role("COLLABORATOR").await;
        assert_eq!(info(second).await, 400);
        assert_eq!(app.gql(&app.owner_key, list, json!({})).await["invitations"]["totalCount"], 0);

        set_role("OWNER").await;
        let third = sent("sneaky3@example.com").await;
        app.mutate(&app.owner_key, "removeMember", json!({ "id": o2_member }), "deletedId").await;
        assert_eq!(info(third).await, 400);
        assert_eq!(app.gql(&app.owner_key, list, json!({})).await["invitations"]["totalCount"], 0);
    })
    .await;
}
