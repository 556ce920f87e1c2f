//! A signed-in user's repository saved with the project (`docs/git.md`,
//! "Saved with the project"): a commit comes back in a new session; a
//! guest's repository is not saved and nobody attaches to another user's
//! project; a repository over the quota is refused with a clear frame
//! while the saved copy stays; and a hostile `.git` (links, a FIFO, a
//! huge file, too many entries) is read without following anything and
//! within bounds. On the host double (the host's git, no root), each
//! case on both stores.

use std::collections::BTreeMap;

use bytesbox_server::accounts::{AccountsConfig, PlanConfig};
use bytesbox_server::git_save::MAX_ENTRIES;
use bytesbox_store::{ProjectSettings, Role, UserId};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use super::*;

/// A server with accounts whose `small` plan stores at most 64 KiB.
fn server_with_accounts(stores: &Stores) -> TestServer {
    let small = PlanConfig { max_bytes: Some(64 * 1024), ..PlanConfig::default() };
    TestServer::new().grace(Duration::from_millis(300)).accounts_with_plans(
        AccountsConfig::default(),
        BTreeMap::from([("small".to_owned(), small)]),
        stores.clone(),
    )
}

/// A user on `plan` with a project: its id, and the user's bearer header.
async fn user_with_project(server: &Server, plan: &str) -> (UserId, String, String) {
    let name = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let user = server.store().create_user(&name, "a long password", Role::User).await.unwrap();
    server.store().set_user_plan(&user.id, plan).await.unwrap();
    let token = server.store().create_api_token(&user.id, "tests").await.unwrap();
    let settings = ProjectSettings { name: "repo".into(), language: Some("sh".into()), entry_file: None };
    let project = server.store().create_project(&user.id, &settings).await.unwrap();
    (user.id, project.id.0, format!("Bearer {}", token.secret))
}

/// A new session of the bearer (`None`: a guest).
async fn session(server: &Server, auth: Option<&str>) -> Socket {
    let mut request = server.url.as_str().into_client_request().unwrap();
    if let Some(auth) = auth {
        request.headers_mut().insert("authorization", auth.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "hello");
    socket
}

/// A new session of the bearer that holds `project`.
async fn session_on(server: &Server, auth: &str, project: &str) -> Socket {
    let mut socket = session(server, Some(auth)).await;
    assert_eq!(attach(&mut socket, project).await, json!({"type": "project_attached", "id": project}));
    socket
}

/// Sends `project` and returns the answer.
async fn attach(socket: &mut Socket, project: &str) -> Value {
    send(socket, json!({"type": "project", "id": project})).await;
    next(socket).await
}

/// Runs a git command and expects git's success; returns its stdout and
/// the `project_git` frames that came before its answer, and, when
/// `wait_for_save` (a command that changes the repository), the first one
/// after it.
async fn git_ok(socket: &mut Socket, id: &str, args: &[&str], wait_for_save: bool) -> (String, Vec<Value>) {
    send(socket, json!({"type": "git", "id": id, "args": args})).await;
    let mut saves = Vec::new();
    let stdout = loop {
        let frame = next(socket).await;
        if frame["type"] == "project_git" {
            saves.push(frame);
        } else if frame["id"] == id {
            assert_eq!((frame["type"].as_str(), frame["status"].as_str()), (Some("git_result"), Some("ok")), "{frame}");
            break frame["stdout"].as_str().unwrap().to_string();
        }
    };
    if wait_for_save {
        loop {
            let frame = next(socket).await;
            if frame["type"] == "project_git" {
                saves.push(frame);
                break;
            }
        }
    }
    (stdout, saves)
}

/// The next `project_git` frame that says a save was refused (a save the
/// 10 s check made of what a program was writing may come first).
async fn refusal(socket: &mut Socket) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["type"] == "project_git" && frame["event"] == "not_saved" {
            return frame;
        }
    }
}

/// Runs a shell script in the session's box (a program's own changes).
async fn sh(socket: &mut Socket, id: &str, script: &str) -> String {
    send(socket, run(id, script)).await;
    let frames = until_done(socket, id).await;
    assert_eq!(frames.last().unwrap()["type"], "done", "{frames:#?}");
    stdout(&frames)
}

/// Ends a session as a closed tab does: the grace period passes.
async fn end(server: &Server, socket: Socket) {
    drop(socket);
    all_sessions_end(server).await;
}

/// Waits until every session (whose tab closed) has ended, and its box
/// has gone.
async fn all_sessions_end(server: &Server) {
    let sessions = server.sessions.clone();
    bytesbox_testkit::wait_until("the session to end", Duration::from_secs(20), || {
        let sessions = sessions.clone();
        async move { sessions.count() == 0 }
    })
    .await;
    // The session is forgotten before its box goes (and its repository
    // is saved).
    server.wait_for_boxes(0, "the session's box to go").await;
}

/// A server, a user on `plan` with a project, and a session on it whose
/// repository has one commit (`message`), saved.
async fn a_saved_commit(stores: &Stores, plan: &str, message: &str) -> (Server, String, String, Socket) {
    let server = server_with_accounts(stores).start().await;
    let (_, project, auth) = user_with_project(&server, plan).await;
    let mut socket = session_on(&server, &auth, &project).await;
    git_ok(&mut socket, "init", &["init", "-b", "main"], true).await;
    let (_, saves) = git_ok(&mut socket, "c1", &["commit", "--allow-empty", "-m", message], true).await;
    assert_eq!(saves.last().unwrap()["event"], "saved", "{saves:?}");
    (server, project, auth, socket)
}

pub(super) async fn a_signed_in_users_commit_comes_back_in_a_new_session(stores: Stores) {
    let server = server_with_accounts(&stores).start().await;
    let (owner, project, auth) = user_with_project(&server, "default").await;
    let mut socket = session_on(&server, &auth, &project).await;
    let init = json!({"type": "git", "id": "init", "args": ["init", "-b", "main"],
        "files": [{"path": "notes.txt", "content": "v1\n"}]});
    send(&mut socket, init).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "project_git" {
            assert_eq!(frame["event"], "saved", "{frame}");
            break;
        }
    }
    git_ok(&mut socket, "add", &["add", "--all"], true).await;
    let (_, saves) = git_ok(&mut socket, "commit", &["commit", "-m", "first"], true).await;
    assert_eq!(saves.last().unwrap()["event"], "saved", "{saves:?}");
    let saved = server.store().saved_git(&owner, &bytesbox_store::ProjectId(project.clone())).await.unwrap();
    let saved = saved.expect("the repository is saved");
    assert_eq!(saves.last().unwrap()["bytes"], saved.size_bytes);
    // A reading command saves nothing; an unchanged repository is not
    // saved again.
    git_ok(&mut socket, "log", &["log", "--format=%s"], false).await;
    send(&mut socket, json!({"type": "git", "id": "noop", "args": ["branch", "--list"]})).await;
    send(&mut socket, json!({"type": "ping", "nonce": "after"})).await;
    loop {
        let frame = next(&mut socket).await;
        assert_ne!(frame["type"], "project_git", "nothing changed: {frame}");
        if frame["type"] == "pong" {
            break;
        }
    }
    // A terminal's commit (here a program's) is saved as the box goes.
    sh(&mut socket, "r1", "git -c user.name=T -c user.email=t@x commit -q --allow-empty -m second").await;
    end(&server, socket).await;
    let after_end = server.store().saved_git(&owner, &bytesbox_store::ProjectId(project.clone())).await.unwrap();
    assert_ne!(after_end.unwrap().object_key, saved.object_key, "saved again before the box went");

    let mut socket = session_on(&server, &auth, &project).await;
    let (log, saves) = git_ok(&mut socket, "log", &["log", "--format=%an %s"], false).await;
    let name = server.store().user(&owner).await.unwrap().username;
    assert_eq!(log, format!("T second\n{name} first\n"), "the new session's box has the history");
    assert_eq!(saves.len(), 1, "{saves:?}");
    assert_eq!(saves[0]["event"], "restored");
    // The branches and the index came back too; the restored repository is
    // not saved again as it is.
    let (branches, _) = git_ok(&mut socket, "b", &["branch", "--format=%(refname:short)"], false).await;
    assert_eq!(branches, "main\n");
    let (staged, _) = git_ok(&mut socket, "ls", &["ls-files", "--stage"], false).await;
    assert!(staged.contains("notes.txt"), "{staged}");
    git_ok(&mut socket, "tag", &["tag", "v1"], true).await;
    let (tags, _) = git_ok(&mut socket, "tags", &["tag", "--list"], false).await;
    assert_eq!(tags, "v1\n");
    drop(socket);
    server.stop().await;
}

pub(super) async fn guests_save_nothing_and_nobody_attaches_to_anothers_project(stores: Stores) {
    let server = server_with_accounts(&stores).start().await;
    let (alice, project, _) = user_with_project(&server, "default").await;
    let (_, _, bob) = user_with_project(&server, "default").await;

    let mut guest = session(&server, None).await;
    let refused = attach(&mut guest, &project).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("project_error"), Some("sign_in_required")));
    git_ok(&mut guest, "init", &["init"], false).await;
    git_ok(&mut guest, "c", &["commit", "--allow-empty", "-m", "guest's"], false).await;

    let mut bobs = session(&server, Some(&bob)).await;
    let refused = attach(&mut bobs, &project).await;
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("project_error"), Some("not_found")));
    let refused = attach(&mut bobs, "not-a-project").await;
    assert_eq!(refused["code"], "not_found");
    git_ok(&mut bobs, "init", &["init"], false).await;
    git_ok(&mut bobs, "c", &["commit", "--allow-empty", "-m", "bob's"], false).await;
    drop((guest, bobs));
    all_sessions_end(&server).await;
    let saved = server.store().saved_git(&alice, &bytesbox_store::ProjectId(project)).await.unwrap();
    assert_eq!(saved, None, "neither the guest's nor bob's repository went into alice's project");
    server.stop().await;
}

pub(super) async fn a_repository_over_the_quota_is_refused_and_the_saved_copy_stays(stores: Stores) {
    let (server, project, auth, mut socket) = a_saved_commit(&stores, "small", "small").await;
    // 100 KiB that do not compress, committed: over the plan's 64 KiB.
    sh(&mut socket, "r1", "head -c 102400 /dev/urandom > noise.bin").await;
    git_ok(&mut socket, "add", &["add", "noise.bin"], false).await;
    assert_eq!(refusal(&mut socket).await["code"], "quota_exceeded");
    git_ok(&mut socket, "c2", &["commit", "-m", "big"], false).await;
    let refused = refusal(&mut socket).await;
    assert_eq!(refused["code"], "quota_exceeded", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("quota") && message.contains("copy saved before stays"), "{message}");
    assert!(refused.get("error_id").is_none(), "a quota is no server failure: {refused}");
    end(&server, socket).await;

    let mut socket = session_on(&server, &auth, &project).await;
    let (log, _) = git_ok(&mut socket, "log", &["log", "--format=%s"], false).await;
    assert_eq!(log, "small\n", "the copy saved before the refused one");
    drop(socket);
    server.stop().await;
}

pub(super) async fn a_hostile_git_folder_is_read_within_bounds_following_nothing(stores: Stores) {
    let (server, project, auth, mut socket) = a_saved_commit(&stores, "default", "kept").await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "outside the box\n").unwrap();
    let plant = format!(
        "ln -s {dir} .git/linked-dir && ln -s {dir}/secret .git/refs/tags/linked && mkfifo .git/fifo",
        dir = outside.path().display()
    );
    sh(&mut socket, "plant", &plant).await;
    let (_, saves) = git_ok(&mut socket, "c2", &["commit", "--allow-empty", "-m", "with links"], true).await;
    assert_eq!(saves.last().unwrap()["event"], "saved", "links and a FIFO are left out: {saves:?}");

    // A huge file, then too many entries: refused, said once, nothing
    // read past the bounds.
    sh(&mut socket, "huge", "head -c 70000000 /dev/zero > .git/huge").await;
    let many = format!("rm .git/huge && mkdir .git/many && cd .git/many && seq 1 {} | xargs touch", MAX_ENTRIES + 1);
    for (tag, then, words) in [("huge", many.as_str(), "bytes"), ("many", "true", "files and folders")] {
        git_ok(&mut socket, tag, &["tag", tag], false).await;
        let refused = refusal(&mut socket).await;
        assert_eq!(refused["code"], "too_large", "{refused}");
        assert!(refused["message"].as_str().unwrap().contains(words), "{refused}");
        sh(&mut socket, &format!("after-{tag}"), then).await;
    }
    sh(&mut socket, "clean", "rm -r .git/many").await;
    end(&server, socket).await;

    let mut socket = session_on(&server, &auth, &project).await;
    let (log, _) = git_ok(&mut socket, "log", &["log", "--format=%s"], false).await;
    assert_eq!(log, "with links\nkept\n");
    let seen = sh(&mut socket, "look", "ls -A .git; ls -A .git/refs/tags").await;
    assert!(!seen.contains("linked") && !seen.contains("fifo"), "nothing planted came back: {seen}");
    drop(socket);
    server.stop().await;
}
