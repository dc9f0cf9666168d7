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

        let again =
            app.mutate_refused(&app.owner_key, "inviteMember", json!({ "email": "bob@example.com" }), "acceptUrl").await;
        assert_eq!(
            again["userErrors"][0],
            json!({ "field": ["input", "email"], "message": "This person is already a member of the workspace", "code": "TAKEN" })
        );
        let bad = app.mutate_refused(&app.owner_key, "inviteMember", json!({ "email": "not-an-email" }), "acceptUrl").await;
        assert_eq!(
            bad["userErrors"][0],
            json!({ "field": ["input", "email"], "message": "Not a valid email address", "code": "INVALID" })
        );
        assert_eq!(app.gql(&app.owner_key, MEMBERS, json!({})).await["members"]["totalCount"], 2);

        let events = app
            .gql(
                &app.owner_key,
                "{ events(filter: { eventTypes: [\"user.created\", \"member.*\"] }) { edges { node { type } } } }",
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

        let collab_member = app.member_id(&app.owner_key, &collab_id).await;
        let owner_member = app.member_id(&app.owner_key, &app.owner_id).await;
        let owner_only = [
            "mutation { inviteMember(input: { email: \"dave@example.com\" }) { acceptUrl } }".to_string(),
            "mutation { createApiKey(input: { name: \"x\", scopes: [READ] }) { secret } }".to_string(),
            "mutation { updateWorkspace(input: { name: \"Mine now\" }) { workspace { name } } }".to_string(),
            format!("mutation {{ updateMemberRole(input: {{ id: \"{collab_member}\", role: OWNER }}) {{ member {{ role }} }} }}"),
            format!("mutation {{ removeMember(input: {{ id: \"{owner_member}\" }}) {{ deletedId }} }}"),
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
        let p = app.mutate(&collab, "updateProfile", json!({ "name": "Carol" }), "user { name }").await;
        assert_eq!(p["user"]["name"], "Carol");
    })
    .await;
}

#[tokio::test]
async fn roles_change_but_the_last_owner_stays_and_removal_revokes_access() {
    for_each_backend(&[], |app: TestApp| async move {
        let (collab_id, collab) = app.collaborator_key("erin@example.com").await;
        let owner_member = app.member_id(&app.owner_key, &app.owner_id).await;
        let collab_member = app.member_id(&app.owner_key, &collab_id).await;
        // The id the `members` list gives is the one these mutations take.
        assert!(owner_member.starts_with("mem_") && collab_member.starts_with("mem_"));
        let demote = json!({ "id": owner_member, "role": "COLLABORATOR" });
        let err = app.user_error(&app.owner_key, "updateMemberRole", demote).await;
        assert_eq!(err, ("input.role".into(), "LAST_OWNER".into()));
        let err = app.user_error(&app.owner_key, "removeMember", json!({ "id": owner_member })).await;
        assert_eq!(err, ("input.id".into(), "LAST_OWNER".into()));
        // A user id is not a membership id.
        let err = app.user_error(&app.owner_key, "removeMember", json!({ "id": collab_id })).await;
        assert_eq!(err, ("input.id".into(), "NOT_FOUND".into()));

        let promote = json!({ "id": collab_member, "role": "OWNER" });
        let out = app.mutate(&app.owner_key, "updateMemberRole", promote, "member { id role user { id } }").await;
        assert_eq!(out["member"], json!({ "id": collab_member, "role": "OWNER", "user": { "id": collab_id } }));
        assert_eq!(app.gql(&collab, "{ viewer { role } }", json!({})).await["viewer"]["role"], "OWNER");

        let removed = app.mutate(&app.owner_key, "removeMember", json!({ "id": collab_member }), "deletedId").await;
        assert_eq!(removed["deletedId"], collab_member);
        let (status, _, body) = app.gql_raw(Some(&collab), "{ viewer { role } }", json!({})).await;
        assert_eq!(status, 401, "{body}");
        let evts =
            app.gql(&app.owner_key, "{ events(first: 2) { edges { node { type subjectId } } } }", json!({})).await;
        assert_eq!(evts["events"]["edges"][0]["node"], json!({ "type": "user.deleted", "subjectId": collab_id }));
        assert_eq!(evts["events"]["edges"][1]["node"], json!({ "type": "member.removed", "subjectId": collab_id }));
        let again = app.user_error(&app.owner_key, "removeMember", json!({ "id": collab_member })).await;
        assert_eq!(again, ("input.id".into(), "NOT_FOUND".into()));
    })
    .await;
}

#[tokio::test]
async fn a_key_acts_with_its_creators_current_role() {
    for_each_backend(&[], |app: TestApp| async move {
        let (collab_id, _) = app.collaborator_key("frank@example.com").await;
        let (_, key) = make_key(&app.state, &app.workspace_id, &collab_id, &switchyard::auth::Scope::ALL).await;
        app.gql_err(Some(&key), "{ apiKeys { totalCount } }", json!({}), "FORBIDDEN").await;
        let collab_member = app.member_id(&app.owner_key, &collab_id).await;
        app.mutate(&app.owner_key, "updateMemberRole", json!({ "id": collab_member, "role": "OWNER" }), "").await;
        assert_eq!(app.gql(&key, "{ apiKeys { totalCount } }", json!({})).await["apiKeys"]["totalCount"], 3);
    })
    .await;
}
