//! Members: invite, roles, owner-only operations, removal, profile.

use serde_json::json;

use crate::helpers::{for_each_backend, make_key, TestApp, PASSWORD};

const MEMBERS: &str = "{ members { totalCount edges { node { role user { email hasPassword } } } } }";

#[tokio::test]
async fn an_invited_collaborator_becomes_a_member_only_by_accepting() {
    for_each_backend(&[], |app: TestApp| async move {
        let token = app.invite(&app.owner_key, " Bob@Example.com ", "COLLABORATOR").await;
        // An invitation is not a membership.
        assert_eq!(app.gql(&app.owner_key, MEMBERS, json!({})).await["members"]["totalCount"], 1);
        let (status, _, body) = app
            .auth_post("/auth/invite/accept", json!({ "token": token, "password": PASSWORD, "name": "Bob" }), None)
            .await;
        assert_eq!(status, 200, "{body}");

        let list = app.gql(&app.owner_key, MEMBERS, json!({})).await;
        assert_eq!(list["members"]["totalCount"], 2);
        assert_eq!(
            list["members"]["edges"][0]["node"],
            json!({ "role": "COLLABORATOR", "user": { "email": "bob@example.com", "hasPassword": true } })
        );

        let invite = "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { acceptUrl } }";
        let again = app
            .gql_err(Some(&app.owner_key), invite, json!({ "i": { "email": "bob@example.com" } }), "INVALID_REQUEST")
            .await;
        assert_eq!(
            again["extensions"]["details"][0],
            json!({ "field": "email", "error": "This person is already a member of the workspace" })
        );
        let bad = app
            .gql_err(Some(&app.owner_key), invite, json!({ "i": { "email": "not-an-email" } }), "INVALID_REQUEST")
            .await;
        assert_eq!(bad["extensions"]["details"][0], json!({ "field": "email", "error": "Not a valid email address" }));
        assert_eq!(app.gql(&app.owner_key, MEMBERS, json!({})).await["members"]["totalCount"], 2);

        let events = app
            .gql(
                &app.owner_key,
                "{ events(filter: { types: [\"user.created\", \"member.*\"] }) { edges { node { type } } } }",
                json!({}),
            )
            .await;
        let types: Vec<&str> =
            events["events"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["type"].as_str().unwrap()).collect();
        assert_eq!(&types[..3], ["member.added", "user.created", "member.invited"]);
    })
    .await;
}

#[tokio::test]
async fn collaborators_are_refused_owner_operations_and_nothing_changes() {
    for_each_backend(&[], |app: TestApp| async move {
        let (collab_id, collab) = app.collaborator_key("carol@example.com").await;
        let me = app.gql(&collab, "{ viewer { role } members { totalCount } }", json!({})).await;
        assert_eq!(me["viewer"]["role"], "COLLABORATOR");
        assert_eq!(me["members"]["totalCount"], 2);

        let owner_only = [
            "mutation { inviteMember(input: { email: \"dave@example.com\" }) { acceptUrl } }".to_string(),
            "mutation { createApiKey(input: { name: \"x\", permissions: [READ] }) { key } }".to_string(),
            "mutation { updateWorkspace(input: { name: \"Mine now\" }) { name } }".to_string(),
            format!("mutation {{ updateMemberRole(userId: \"{collab_id}\", role: OWNER) {{ role }} }}"),
            format!("mutation {{ removeMember(userId: \"{}\") {{ removedUserId }} }}", app.owner_id),
            "{ apiKeys { totalCount } }".to_string(),
        ];
        for q in &owner_only {
            let err = app.gql_err(Some(&collab), q, json!({}), "FORBIDDEN").await;
            assert_eq!(err["message"], "Only the workspace owner may do this", "{q}");
        }
        let after = app
            .gql(
                &app.owner_key,
                "{ members { totalCount } apiKeys { totalCount } workspace { name } viewer { role } }",
                json!({}),
            )
            .await;
        assert_eq!(after["members"]["totalCount"], 2);
        assert_eq!(after["apiKeys"]["totalCount"], 2);
        assert_eq!(after["workspace"]["name"], "My workspace");
        // A collaborator may still edit their own profile.
        let p = app.gql(&collab, "mutation { updateProfile(input: { name: \"Carol\" }) { name } }", json!({})).await;
        assert_eq!(p["updateProfile"]["name"], "Carol");
    })
    .await;
}

#[tokio::test]
async fn roles_change_but_the_last_owner_stays_and_removal_revokes_access() {
    for_each_backend(&[], |app: TestApp| async move {
        let (collab_id, collab) = app.collaborator_key("erin@example.com").await;
        let demote =
            format!("mutation {{ updateMemberRole(userId: \"{}\", role: COLLABORATOR) {{ role }} }}", app.owner_id);
        let err = app.gql_err(Some(&app.owner_key), &demote, json!({}), "INVALID_REQUEST").await;
        assert_eq!(err["extensions"]["details"][0]["field"], "role");
        let remove_self = format!("mutation {{ removeMember(userId: \"{}\") {{ removedUserId }} }}", app.owner_id);
        app.gql_err(Some(&app.owner_key), &remove_self, json!({}), "INVALID_REQUEST").await;

        let promote = format!("mutation {{ updateMemberRole(userId: \"{collab_id}\", role: OWNER) {{ role }} }}");
        assert_eq!(app.gql(&app.owner_key, &promote, json!({})).await["updateMemberRole"]["role"], "OWNER");
        assert_eq!(app.gql(&collab, "{ viewer { role } }", json!({})).await["viewer"]["role"], "OWNER");

        let remove = format!("mutation {{ removeMember(userId: \"{collab_id}\") {{ removedUserId }} }}");
        app.gql(&app.owner_key, &remove, json!({})).await;
        let (status, _, body) = app.gql_raw(Some(&collab), "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 401, "{body}");
        let evts =
            app.gql(&app.owner_key, "{ events(first: 2) { edges { node { type subjectId } } } }", json!({})).await;
        assert_eq!(evts["events"]["edges"][0]["node"], json!({ "type": "user.deleted", "subjectId": collab_id }));
        assert_eq!(evts["events"]["edges"][1]["node"], json!({ "type": "member.removed", "subjectId": collab_id }));
        app.gql_err(Some(&app.owner_key), &remove, json!({}), "NOT_FOUND").await;
    })
    .await;
}

#[tokio::test]
async fn a_key_acts_with_its_creators_current_role() {
    for_each_backend(&[], |app: TestApp| async move {
        let (collab_id, _) = app.collaborator_key("frank@example.com").await;
        let (_, key) = make_key(&app.state, &app.workspace_id, &collab_id, &switchyard::auth::Scope::ALL).await;
        app.gql_err(Some(&key), "{ apiKeys { totalCount } }", json!({}), "FORBIDDEN").await;
        let promote = format!("mutation {{ updateMemberRole(userId: \"{collab_id}\", role: OWNER) {{ role }} }}");
        app.gql(&app.owner_key, &promote, json!({})).await;
        assert_eq!(app.gql(&key, "{ apiKeys { totalCount } }", json!({})).await["apiKeys"]["totalCount"], 3);
    })
    .await;
}
