//! The admin commands, each run as the real binary against a fresh
//! database: `create-user` (new workspace, or joining one with a role),
//! `create-api-key` (workspace, scopes, environment) and `setup-link`.
//! (`create-user --new-workspace` followed by `create-api-key` is also
//! covered end to end in `server.rs`.)

use sea_orm::{ColumnTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use switchyard::Config;

use crate::helpers::{backends, fresh_database, Backend, DbGuard};
use crate::server::{stdout, switchyard};

/// A fresh database and key file, and the flags naming them.
struct Shell {
    db_url: String,
    key_file: String,
    guard: DbGuard,
    _dir: tempfile::TempDir,
}

impl Shell {
    async fn new(backend: &Backend) -> Shell {
        let (db_url, guard) = fresh_database(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("k").display().to_string();
        Shell { db_url, key_file, guard, _dir: dir }
    }

    /// Runs `switchyard admin <args>`; returns stdout, failing on an error exit.
    fn admin(&self, args: &[&str]) -> String {
        let mut all = vec!["admin"];
        all.extend(args);
        all.extend(["--database-url", &self.db_url, "--secret-key-file", &self.key_file]);
        let out = switchyard(&all);
        assert!(out.status.success(), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
        stdout(&out)
    }

    fn config(&self) -> Config {
        Config::from_args([
            "--database-url",
            &self.db_url,
            "--secret-key-file",
            &self.key_file,
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap()
    }
}

/// `user usr_… (email) is <role> of ws_…` → (role, workspace id).
fn role_and_workspace(text: &str) -> (String, String) {
    let line = text.lines().find(|l| l.starts_with("user ")).unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[3], "is", "{line}");
    (words[4].to_string(), words[6].to_string())
}

fn setup_token(text: &str) -> String {
    let link = text.split_whitespace().find(|w| w.contains("/setup?token=")).unwrap_or_else(|| panic!("{text}"));
    link.split("token=").nth(1).unwrap().to_string()
}

#[tokio::test]
async fn admin_create_user_joins_an_existing_workspace_with_the_role_given() {
    for backend in backends() {
        let sh = Shell::new(&backend).await;
        let (role, ws) = role_and_workspace(&sh.admin(&["create-user", "--email", "a@b.c", "--new-workspace", "W"]));
        assert_eq!(role, "owner", "[{backend:?}]");
        assert!(ws.starts_with("ws_"), "{ws}");

        // issue 18: this used to create a workspace named after the global
        // `--workspace-name` default instead of joining `ws`.
        let out = sh.admin(&["create-user", "--email", "c@b.c", "--workspace", &ws, "--member-role", "collaborator"]);
        assert_eq!(role_and_workspace(&out), ("collaborator".to_string(), ws.clone()), "[{backend:?}] {out}");
        assert!(out.contains("/setup?token="), "{out}");
        let out = sh.admin(&["create-user", "--email", "d@b.c", "--workspace", &ws, "--member-role", "owner"]);
        assert_eq!(role_and_workspace(&out), ("owner".to_string(), ws.clone()), "[{backend:?}] {out}");

        let db = Database::connect(sh.db_url.as_str()).await.unwrap();
        let workspaces = entity::workspace::Entity::find().all(&db).await.unwrap();
        assert_eq!(workspaces.len(), 1, "[{backend:?}] no workspace was created: {workspaces:?}");
        assert_eq!(workspaces[0].name, "W");
        for (email, role) in [("c@b.c", "collaborator"), ("d@b.c", "owner")] {
            let user = entity::user::Entity::find()
                .filter(entity::user::Column::Email.eq(email))
                .one(&db)
                .await
                .unwrap()
                .expect("user");
            let m = entity::membership::Entity::find()
                .filter(entity::membership::Column::UserId.eq(&user.id))
                .all(&db)
                .await
                .unwrap();
            assert_eq!(m.len(), 1, "[{backend:?}] {email}");
            assert_eq!((m[0].workspace_id.as_str(), m[0].role.as_str()), (ws.as_str(), role), "[{backend:?}] {email}");
        }

        // Joining a workspace that does not exist fails, and creates nothing.
        let mut args = vec!["admin", "create-user", "--email", "e@b.c", "--workspace", "ws_nope"];
        args.extend(["--database-url", &sh.db_url, "--secret-key-file", &sh.key_file]);
        let out = switchyard(&args);
        assert!(!out.status.success(), "[{backend:?}] joined a missing workspace: {}", stdout(&out));
        assert_eq!(entity::workspace::Entity::find().count(&db).await.unwrap(), 1);
        // Neither --workspace nor --new-workspace: a usage error.
        let out = switchyard(&["admin", "create-user", "--email", "f@b.c"]);
        assert!(!out.status.success());
        db.close().await.unwrap();
        sh.guard.cleanup().await;
    }
}

#[tokio::test]
async fn admin_setup_link_issues_a_link_that_sets_the_password_and_revokes_the_old_one() {
    for backend in backends() {
        let sh = Shell::new(&backend).await;
        let first = setup_token(&sh.admin(&["create-user", "--email", "a@b.c", "--new-workspace", "W"]));
        let out = sh.admin(&["setup-link", "--email", "a@b.c"]);
        let link = out.trim();
        assert!(link.starts_with("http://") && !link.contains(char::is_whitespace), "[{backend:?}] {out:?}");
        let second = setup_token(link);
        assert_ne!(first, second);

        let server = switchyard::start(sh.config()).await.expect("server starts");
        let setup = |token: String| {
            reqwest::Client::new()
                .post(format!("http://{}/auth/setup", server.addr))
                .header("x-switchyard-csrf", "1")
                .json(&json!({ "token": token, "password": "a long enough password" }))
                .send()
        };
        assert_eq!(setup(first).await.unwrap().status(), 400, "[{backend:?}] the earlier link is revoked");
        assert_eq!(setup(second.clone()).await.unwrap().status(), 200, "[{backend:?}]");
        assert_eq!(setup(second).await.unwrap().status(), 400, "[{backend:?}] a link works once");
        let resp = reqwest::Client::new()
            .post(format!("http://{}/auth/login", server.addr))
            .header("x-switchyard-csrf", "1")
            .json(&json!({ "email": "a@b.c", "password": "a long enough password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "[{backend:?}] the password set through the link signs in");
        server.stop().await;

        // An unknown user: an error, nothing on stdout.
        let mut args = vec!["admin", "setup-link", "--email", "nobody@b.c"];
        args.extend(["--database-url", &sh.db_url, "--secret-key-file", &sh.key_file]);
        let out = switchyard(&args);
        assert!(!out.status.success());
        assert_eq!(stdout(&out), "");
        sh.guard.cleanup().await;
    }
}

#[tokio::test]
async fn admin_create_api_key_acts_in_the_workspace_with_the_scopes_and_environment_given() {
    for backend in backends() {
        let sh = Shell::new(&backend).await;
        sh.admin(&["create-user", "--email", "a@b.c", "--new-workspace", "First"]);
        let (_, second) =
            role_and_workspace(&sh.admin(&["create-user", "--email", "b@b.c", "--new-workspace", "Second"]));
        sh.admin(&["create-user", "--email", "a@b.c", "--workspace", &second, "--member-role", "collaborator"]);

        let live = sh.admin(&[
            "create-api-key",
            "--email",
            "a@b.c",
            "--workspace",
            &second,
            "--scopes",
            "read",
            "--environment",
            "live",
            "--name",
            "ci",
        ]);
        let live = live.trim().to_string();
        assert!(live.starts_with("sk_live_"), "[{backend:?}] {live:?}");
        let default = sh.admin(&["create-api-key", "--email", "a@b.c"]).trim().to_string();
        assert!(default.starts_with("sk_test_"), "[{backend:?}] {default:?}");

        let server = switchyard::start(sh.config()).await.expect("server starts");
        let viewer = |key: String| {
            let url = format!("http://{}/graphql", server.addr);
            async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(key)
                    .json(&json!({ "query": "{ viewer { user { email } workspace { name } role scopes } }" }))
                    .send()
                    .await
                    .unwrap();
                resp.json::<Value>().await.unwrap()["data"]["viewer"].clone()
            }
        };
        assert_eq!(
            viewer(live).await,
            json!({ "user": { "email": "a@b.c" }, "workspace": { "name": "Second" }, "role": "COLLABORATOR",
                    "scopes": ["READ"] }),
            "[{backend:?}]"
        );
        // Without --workspace: the user's first workspace, every scope.
        assert_eq!(
            viewer(default).await,
            json!({ "user": { "email": "a@b.c" }, "workspace": { "name": "First" }, "role": "OWNER",
                    "scopes": ["READ", "WRITE", "ADMIN"] }),
            "[{backend:?}]"
        );
        server.stop().await;

        // An unknown scope is refused.
        let mut args = vec!["admin", "create-api-key", "--email", "a@b.c", "--scopes", "read,root"];
        args.extend(["--database-url", &sh.db_url, "--secret-key-file", &sh.key_file]);
        let out = switchyard(&args);
        assert!(!out.status.success());
        assert_eq!(stdout(&out), "");
        sh.guard.cleanup().await;
    }
}

#[test]
fn admin_help_lists_a_commands_own_options_apart_from_the_server_options() {
    let out = switchyard(&["admin", "create-user", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    let (own, server) = help.split_once("Server options").unwrap_or_else(|| panic!("{help}"));
    for flag in ["--email", "--workspace <WORKSPACE>", "--new-workspace <NAME>", "--member-role"] {
        assert!(own.contains(flag), "`{flag}` not among create-user's own options:\n{help}");
    }
    assert!(!own.contains("--listen") && !own.contains("--workspace-name"), "{help}");
    assert!(server.contains("--database-url") && server.contains("--workspace-name"), "{help}");
}
