//! The workspace watch over the WebSocket protocol (`files_watch`,
//! `files_changed`), on the host double: files that runs create, change
//! and delete reach the client, bytes intact; `.git`, `.bytesbox/` and
//! what `.bytesboxignore` excludes never do; a flood of files comes in
//! bounded frames with the cap said, and the server answers meanwhile.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::test_server::TestServer;
use crate::{connect, next, send, until_done, Socket};

const PATIENCE: Duration = Duration::from_secs(30);

/// A file as the client knows it from the frames: its bytes, or its size
/// when they were left out.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Bytes(Vec<u8>),
    TooLarge(u64),
}

/// Applies a `files_changed` frame to the client's view.
fn apply(view: &mut BTreeMap<String, Seen>, frame: &Value) {
    for change in frame["changes"].as_array().unwrap() {
        let path = change["path"].as_str().unwrap().to_string();
        match change["op"].as_str().unwrap() {
            "delete" => {
                view.remove(&path);
            }
            "write" => {
                let seen = match (change["data"].as_str(), change["encoding"].as_str()) {
                    (Some(data), Some("base64")) => {
                        Seen::Bytes(base64::engine::general_purpose::STANDARD.decode(data).unwrap())
                    }
                    (Some(data), _) => Seen::Bytes(data.as_bytes().to_vec()),
                    (None, _) => {
                        assert_eq!(change["omitted"], "too_large", "a write without bytes says why: {change}");
                        Seen::TooLarge(change["size"].as_u64().unwrap())
                    }
                };
                view.insert(path, seen);
            }
            other => panic!("unknown op {other:?}"),
        }
    }
}

/// Reads frames, applying `files_changed` ones, until `done(view)`; every
/// frame goes to `frames` too.
async fn until_seen(
    socket: &mut Socket,
    view: &mut BTreeMap<String, Seen>,
    frames: &mut Vec<Value>,
    what: &str,
    done: impl Fn(&BTreeMap<String, Seen>) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !done(view) {
        assert!(Instant::now() < deadline, "never saw {what}; the view is {view:?}");
        let frame = next(socket).await;
        if frame["type"] == "files_changed" {
            apply(view, &frame);
        }
        frames.push(frame);
    }
}

fn bytes(text: &[u8]) -> Seen {
    Seen::Bytes(text.to_vec())
}

/// Waits a beat for frames that should not come, then reads until the
/// answer to a ping, applying what came meanwhile.
async fn settle(socket: &mut Socket, view: &mut BTreeMap<String, Seen>, frames: &mut Vec<Value>) {
    tokio::time::sleep(Duration::from_millis(800)).await;
    send(socket, json!({"type": "ping", "nonce": "settle"})).await;
    loop {
        let frame = next(socket).await;
        if frame["type"] == "files_changed" {
            apply(view, &frame);
        }
        let pong = frame["type"] == "pong";
        frames.push(frame);
        if pong {
            return;
        }
    }
}

/// A server on the host double and a connection watching its workspace;
/// the `files_watching` answer.
async fn watching() -> (crate::test_server::Server, Socket, Value) {
    let server = TestServer::new().start().await;
    let (mut socket, _) = connect(&server.url).await;
    send(&mut socket, json!({"type": "files_watch"})).await;
    let watching = next(&mut socket).await;
    assert_eq!(watching["type"], "files_watching", "{watching}");
    (server, socket, watching)
}

fn run(id: &str, files: Value) -> Value {
    json!({"type": "run", "id": id, "language": "sh", "files": files})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_runs_create_change_and_delete_reach_a_watching_client() {
    let (server, mut socket, watching) = watching().await;
    assert!(watching["max_file_bytes"].as_u64().unwrap() > 0);

    let ignore = "build/\n*.log\n";
    let first = "mkdir -p out build/deep .git sub/.git .bytesbox\n\
                 printf 'hello' > out/hello.txt\n\
                 printf '\\000\\377\\001\\200binary' > out/data.bin\n\
                 printf 'x' > build/deep/obj.o; printf 'x' > run.log\n\
                 printf 'ref' > .git/HEAD; printf 'c' > sub/.git/config; printf 's' > .bytesbox/state\n\
                 printf 'v1' > notes.txt\n";
    let files = json!([{"path": "main.sh", "content": first}, {"path": ".bytesboxignore", "content": ignore}]);
    send(&mut socket, run("r1", files)).await;
    let mut view = BTreeMap::new();
    let mut frames = Vec::new();
    until_seen(&mut socket, &mut view, &mut frames, "the first run's files", |view| view.len() >= 3).await;
    settle(&mut socket, &mut view, &mut frames).await;
    let expected = BTreeMap::from([
        ("notes.txt".to_string(), bytes(b"v1")),
        ("out/data.bin".to_string(), bytes(b"\x00\xff\x01\x80binary")),
        ("out/hello.txt".to_string(), bytes(b"hello")),
    ]);
    assert_eq!(
        view, expected,
        "only the program's files, bytes intact: not the run's own, .git, .bytesbox or ignored ones"
    );
    let ignored = frames.iter().rev().find(|f| f["type"] == "files_changed").unwrap();
    assert_eq!(ignored["left_out"]["ignored"], 2, "build/ and run.log: {ignored}");
    assert!(frames.iter().any(|f| f["type"] == "done" && f["id"] == "r1"));

    // The next run sends what the client now has, as the IDE does; its
    // program changes one file and deletes another.
    let second = "printf 'v2' > notes.txt; rm out/hello.txt\n";
    let files = json!([
        {"path": "main.sh", "content": second},
        {"path": ".bytesboxignore", "content": ignore},
        {"path": "notes.txt", "content": "v1"},
        {"path": "out/hello.txt", "content": "hello"},
        {"path": "out/data.bin", "content": "AP8BgGJpbmFyeQ==", "encoding": "base64"},
    ]);
    send(&mut socket, run("r2", files)).await;
    until_seen(&mut socket, &mut view, &mut frames, "the change and the deletion", |view| {
        view.get("notes.txt") == Some(&bytes(b"v2")) && !view.contains_key("out/hello.txt")
    })
    .await;
    if !frames.iter().any(|f| f["type"] == "done" && f["id"] == "r2") {
        until_done(&mut socket, "r2").await;
    }
    settle(&mut socket, &mut view, &mut frames).await;
    assert_eq!(view.keys().collect::<Vec<_>>(), ["notes.txt", "out/data.bin"]);
    assert_eq!(view["out/data.bin"], bytes(b"\x00\xff\x01\x80binary"), "the binary file came back intact");

    // The client writes its saved files into the box (binary too) for a
    // program already running there: it reads them, and they are not
    // reported back.
    let waiting = "while [ ! -s pic.bin ]; do sleep 0.05; done; sleep 0.3; cat edited.txt; echo; od -An -tx1 pic.bin | tr -d ' \\n'";
    send(&mut socket, run("r-wait", json!([{"path": "main.sh", "content": waiting}]))).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "files_changed" {
            apply(&mut view, &frame);
        }
        if frame["type"] == "stage" && frame["id"] == "r-wait" {
            break;
        }
    }
    let written = json!({"type": "files_write", "id": "w1", "files": [
        {"path": "edited.txt", "content": "from the editor"},
        {"path": "pic.bin", "content": "iVBORw0KGgo=", "encoding": "base64"},
    ]});
    send(&mut socket, written).await;
    let mut answered = None;
    let mut output = String::new();
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "files_changed" {
            apply(&mut view, &frame);
        } else if frame["id"] == "w1" {
            answered = Some(frame);
        } else if frame["id"] == "r-wait" && frame["type"] == "output" {
            output.push_str(frame["data"].as_str().unwrap());
        } else if frame["id"] == "r-wait" && frame["type"] == "done" {
            break;
        }
    }
    assert_eq!(answered, Some(json!({"type": "files_written", "id": "w1", "count": 2})));
    assert_eq!(output, "from the editor\n89504e470d0a1a0a", "the running program read the written files, bytes intact");
    settle(&mut socket, &mut view, &mut frames).await;
    assert!(
        !view.contains_key("edited.txt") && !view.contains_key("pic.bin"),
        "the client's own files are not echoed: {view:?}"
    );
    let refused = json!({"type": "files_write", "id": "w2", "files": [{"path": "../escape", "content": "x"}]});
    send(&mut socket, refused).await;
    let answer = loop {
        let frame = next(&mut socket).await;
        if frame["id"] == "w2" {
            break frame;
        }
    };
    assert_eq!((answer["type"].as_str(), answer["code"].as_str()), (Some("error"), Some("invalid_path")), "{answer}");

    // Unwatched, nothing more comes.
    send(&mut socket, json!({"type": "files_unwatch"})).await;
    send(&mut socket, run("r3", json!([{"path": "main.sh", "content": "printf x > after.txt"}]))).await;
    until_done(&mut socket, "r3").await;
    let mut after = BTreeMap::new();
    let mut rest = Vec::new();
    settle(&mut socket, &mut after, &mut rest).await;
    assert!(rest.iter().all(|f| f["type"] != "files_changed"), "no frame after files_unwatch: {rest:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_files_and_a_huge_file_come_bounded_and_the_server_answers_meanwhile() {
    let (server, mut socket, watching) = watching().await;
    let max_entries = watching["max_entries"].as_u64().unwrap();
    // Past the scan's cap, and a 1 GiB file that takes no disk (sparse).
    let flood = format!(
        "truncate -s 1G huge.bin && mkdir flood && cd flood && seq 1 {} | xargs touch && echo made",
        max_entries + 5_000
    );
    send(&mut socket, run("flood", json!([{"path": "main.sh", "content": flood}]))).await;
    let started = Instant::now();
    let mut view = BTreeMap::new();
    let mut frames = Vec::new();
    let mut truncated = false;
    let mut largest_frame = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    // Until the watch has reported everything it will.
    let mut pings = 0;
    loop {
        assert!(Instant::now() < deadline, "the flood never settled: {} files seen", view.len());
        let frame = next(&mut socket).await;
        if frame["type"] == "files_changed" {
            let changes = frame["changes"].as_array().unwrap().len();
            largest_frame = largest_frame.max(changes);
            truncated |= frame["left_out"]["truncated"] == true;
            apply(&mut view, &frame);
            // The server answers a ping in the middle of the flood.
            if pings == 0 {
                pings += 1;
                let asked = Instant::now();
                send(&mut socket, json!({"type": "ping", "nonce": "flood"})).await;
                let mut between = Vec::new();
                loop {
                    let frame = next(&mut socket).await;
                    if frame["type"] == "pong" {
                        break;
                    }
                    between.push(frame);
                }
                println!("a ping during the flood was answered in {:?}", asked.elapsed());
                for frame in &between {
                    if frame["type"] == "files_changed" {
                        apply(&mut view, frame);
                    }
                }
                frames.extend(between);
            }
            if frame["left_out"]["pending"] == 0 && truncated && view.contains_key("huge.bin") {
                break;
            }
        }
        frames.push(frame);
    }
    println!("{} files seen of the flood in {:?}", view.len(), started.elapsed());
    assert!(truncated, "the cap is said");
    assert!(largest_frame <= 1000, "frames are bounded: one had {largest_frame} changes");
    assert!(view.len() as u64 <= max_entries, "at most the cap of files: {}", view.len());
    assert!(view.len() as u64 > max_entries / 2, "the files within the cap come: {}", view.len());
    assert_eq!(view.get("huge.bin"), Some(&Seen::TooLarge(1 << 30)), "the huge file comes with its size alone");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_project_leaves_out_stays_in_the_box_across_runs() {
    let server = TestServer::new().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let ignore = json!({"path": ".bytesboxignore", "content": "build/\n*.log\n"});
    let make = "mkdir -p build/deep .git && printf obj > build/deep/x.o && printf ref > .git/HEAD \
                && printf log > run.log && printf stray > stray.txt";
    send(&mut socket, run("make", json!([{"path": "main.sh", "content": make}, ignore]))).await;
    until_done(&mut socket, "make").await;
    let check = "cat build/deep/x.o .git/HEAD run.log; test -e stray.txt && echo stray-still-here; true";
    send(&mut socket, run("check", json!([{"path": "main.sh", "content": check}, ignore]))).await;
    let frames = until_done(&mut socket, "check").await;
    assert_eq!(
        crate::stdout(&frames),
        "objreflog",
        "ignored files and .git stay for the next run; a file the project does not have goes"
    );
    // Without the rules, the next run's workspace is the project alone.
    send(&mut socket, run("plain", json!([{"path": "main.sh", "content": "find . -type f | sort"}]))).await;
    let frames = until_done(&mut socket, "plain").await;
    assert_eq!(crate::stdout(&frames), "./.git/HEAD\n./main.sh\n", ".git stays whatever the rules");
    server.stop().await;
}

/// What a language server is given (`lsp_start`'s and `lsp_files`'s
/// files: the editor's text, unsaved edits included) is the client's own
/// and never comes back as the box's: an echo passed unsaved edits off as
/// saved, and brought a file the client had moved since back to its old
/// place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_given_to_a_language_server_are_not_reported_back() {
    let test = "files_given_to_a_language_server_are_not_reported_back";
    if !crate::language_servers::pylsp_installed(test) {
        return;
    }
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    send(&mut socket, json!({"type": "files_watch"})).await;
    assert_eq!(next(&mut socket).await["type"], "files_watching");
    let mut view = BTreeMap::new();
    let mut frames = Vec::new();
    let files = json!([
        {"path": "main.py", "content": "print('unsaved edits')\n"},
        {"path": "lib/util.py", "content": "X = 1\n"},
    ]);
    send(&mut socket, json!({"type": "lsp_start", "id": "py", "language": "python", "files": files})).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "files_changed" {
            apply(&mut view, &frame);
        }
        assert_ne!(frame["type"], "lsp_error", "{frame}");
        let ready = frame["type"] == "lsp_ready";
        frames.push(frame);
        if ready {
            break;
        }
    }
    let later = json!([{"path": "later.py", "content": "print('left for another tab')\n"}]);
    send(&mut socket, json!({"type": "lsp_files", "id": "py", "files": later})).await;
    settle(&mut socket, &mut view, &mut frames).await;
    assert!(view.is_empty(), "the client's own text came back as the box's: {view:?}");
    server.stop().await;
}

/// The answer to the files frame `id` (`files_deleted`, `files_written`
/// or an `error`); `files_changed` frames meanwhile go to `view`.
async fn files_answer(socket: &mut Socket, id: &str, view: &mut BTreeMap<String, Seen>) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["type"] == "files_changed" {
            apply(view, &frame);
        } else if frame["id"] == id {
            return frame;
        }
    }
}

fn delete(id: &str, paths: &[&str]) -> Value {
    json!({"type": "files_delete", "id": id, "paths": paths})
}

/// The workspace's files as git sees them (`git status`, every untracked
/// file named), in the box, without a run that would replace them.
async fn box_files(socket: &mut Socket, id: &str) -> Vec<String> {
    let status = crate::git::git_ok(socket, id, &["status", "--porcelain=v1", "-uall"]).await;
    let mut files: Vec<String> =
        status.lines().filter_map(|line| line.strip_prefix("?? ")).map(str::to_string).collect();
    files.sort();
    files
}

/// A file or folder deleted in the IDE, and one moved (deleted at its old
/// path, written at its new one), are gone from the box at once, as git
/// sees it; the watch does not report the client's own deletions back;
/// a folder's `.git` stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_deleted_and_moved_in_the_ide_leave_the_box_and_are_not_reported_back() {
    let (server, mut socket, _) = watching().await;
    let mut view = BTreeMap::new();
    let mut frames = Vec::new();
    let make = "mkdir -p nested/.git && printf ref > nested/.git/HEAD && printf n > nested/notes.txt";
    let project = json!([
        {"path": "main.sh", "content": make},
        {"path": "a.txt", "content": "a"},
        {"path": "dir/b.txt", "content": "b"},
        {"path": "dir/deep/c.txt", "content": "c"},
        {"path": "keep.txt", "content": "k"},
    ]);
    send(&mut socket, run("make", project)).await;
    until_done(&mut socket, "make").await;
    crate::git::git_ok(&mut socket, "init", &["init", "-q"]).await;
    assert_eq!(
        box_files(&mut socket, "before").await,
        ["a.txt", "dir/b.txt", "dir/deep/c.txt", "keep.txt", "main.sh", "nested/notes.txt"]
    );
    settle(&mut socket, &mut view, &mut frames).await;
    let reported = view.keys().cloned().collect::<Vec<_>>();
    assert_eq!(reported, ["nested/notes.txt"], "only the program's file comes");

    send(&mut socket, delete("d1", &["a.txt", "never-there.txt"])).await;
    let answer = files_answer(&mut socket, "d1", &mut view).await;
    assert_eq!((&answer["type"], &answer["count"]), (&json!("files_deleted"), &json!(1)), "{answer}");
    // The IDE moves `dir` to `moved`: the old folder goes, the files come
    // at their new paths.
    send(&mut socket, delete("d2", &["dir"])).await;
    assert_eq!(files_answer(&mut socket, "d2", &mut view).await["count"], 1);
    let moved = json!([{"path": "moved/b.txt", "content": "b"}, {"path": "moved/deep/c.txt", "content": "c"}]);
    send(&mut socket, json!({"type": "files_write", "id": "w1", "files": moved})).await;
    assert_eq!(files_answer(&mut socket, "w1", &mut view).await["count"], 2);
    // A folder holding a repository: its files go, its `.git` stays.
    send(&mut socket, delete("d3", &["nested"])).await;
    assert_eq!(files_answer(&mut socket, "d3", &mut view).await["count"], 1);
    assert_eq!(box_files(&mut socket, "after").await, ["keep.txt", "main.sh", "moved/b.txt", "moved/deep/c.txt"]);

    settle(&mut socket, &mut view, &mut frames).await;
    let changes: Vec<&Value> =
        frames.iter().filter(|f| f["type"] == "files_changed").flat_map(|f| f["changes"].as_array().unwrap()).collect();
    assert_eq!(changes.len(), 1, "the client's own deletions and writes never come back: {changes:#?}");
    // The next run keeps the nested `.git` as every `.git`.
    let check = "cat nested/.git/HEAD; test -e nested/notes.txt && echo notes-still-here; true";
    send(&mut socket, run("check", json!([{"path": "main.sh", "content": check}]))).await;
    assert_eq!(crate::stdout(&until_done(&mut socket, "check").await), "ref");
    server.stop().await;
}

/// `files_delete` checks its paths as every path is checked, refuses the
/// repository and the server's folder, never goes through a link a program
/// planted (a link itself is deleted, never what it points at), deletes
/// nothing when one path is refused, and names at most
/// `MAX_DELETE_PATHS` paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_delete_refuses_bad_paths_and_never_follows_a_planted_link() {
    let server = TestServer::new().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let mut view = BTreeMap::new();
    // Before the session has a box: nothing to delete, and still checked.
    send(&mut socket, delete("early", &["x.txt"])).await;
    assert_eq!(
        files_answer(&mut socket, "early", &mut view).await,
        json!({"type": "files_deleted", "id": "early", "count": 0})
    );
    send(&mut socket, delete("early-bad", &["../x"])).await;
    assert_eq!(files_answer(&mut socket, "early-bad", &mut view).await["code"], "invalid_path");

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim.txt"), "keep me").unwrap();
    let plant = format!(
        "ln -s '{}' link && mkdir -p d/.git && printf x > d/f && ln -s ../.. d/up && printf r > d/.git/HEAD",
        outside.path().display()
    );
    send(&mut socket, crate::run("plant", &plant)).await;
    until_done(&mut socket, "plant").await;

    let refused = [
        ("../x", "invalid_path"),
        ("/etc/passwd", "invalid_path"),
        ("d/../../x", "invalid_path"),
        ("", "invalid_path"),
        (".git", "invalid_path"),
        ("d/.git", "invalid_path"),
        ("d/.git/HEAD", "invalid_path"),
        (".bytesbox", "invalid_path"),
        (".bytesbox/session.sqlite3", "invalid_path"),
        ("link/victim.txt", "invalid_path"),
        ("d/up/x", "invalid_path"),
    ];
    for (n, (path, code)) in refused.iter().enumerate() {
        let id = format!("bad{n}");
        // With a good path first: a refused frame deletes nothing.
        send(&mut socket, json!({"type": "files_delete", "id": id, "paths": ["d/f", path]})).await;
        let answer = files_answer(&mut socket, &id, &mut view).await;
        assert_eq!((&answer["type"], &answer["code"]), (&json!("error"), &json!(code)), "{path:?}: {answer}");
    }
    let too_many: Vec<String> =
        (0..=bytesbox_server::workspace_watch::MAX_DELETE_PATHS).map(|n| format!("f{n}")).collect();
    send(&mut socket, json!({"type": "files_delete", "id": "many", "paths": too_many})).await;
    assert_eq!(files_answer(&mut socket, "many", &mut view).await["code"], "invalid_spec");
    assert_eq!(std::fs::read_to_string(outside.path().join("victim.txt")).unwrap(), "keep me");

    // The links themselves may go; what they point at stays.
    send(&mut socket, delete("links", &["link", "d/up", "d/f"])).await;
    assert_eq!(files_answer(&mut socket, "links", &mut view).await["count"], 3, "d/f was still there");
    assert_eq!(std::fs::read_to_string(outside.path().join("victim.txt")).unwrap(), "keep me");
    let check = "ls -A; ls -A d";
    send(&mut socket, crate::run("check", check)).await;
    // The run's own main.sh, and `d` with its `.git` (runs keep every `.git`).
    assert_eq!(crate::stdout(&until_done(&mut socket, "check").await), "d\nmain.sh\n.git\n");
    server.stop().await;
}
