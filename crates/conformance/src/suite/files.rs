//! Generic tests of `put_files` and `get_files`.

use std::collections::BTreeMap;
use std::io::Read;

use bytes::Bytes;
use bytesbox_sandbox::{beneath, Backend, FileEntry, PutMode, SandboxError, WorkspaceSnapshot};

use super::util::{ensure, expect_stdout, TestBox, TestResult};

const MIB: u64 = 1024 * 1024;

fn by_path(snapshot: &WorkspaceSnapshot) -> BTreeMap<&str, &FileEntry> {
    snapshot.files.iter().map(|f| (f.path.as_str(), f)).collect()
}

fn exec(path: &str, content: &'static [u8]) -> FileEntry {
    FileEntry { path: path.into(), content: Bytes::from_static(content), executable: true }
}

/// Nested directories, binary content, unicode names and the executable bit
/// survive a round trip, and files made in the box come back.
pub async fn files_round_trip(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "files_round_trip").await?;
    let result = async {
        let binary: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        let files = vec![
            FileEntry::new("top.txt", "top\n"),
            FileEntry::new("nested/dir/deep/file.txt", "deep\n"),
            FileEntry::new("bin/data.bin", binary.clone()),
            FileEntry::new("unicode/żółw 🐢.txt", "ünï\n"),
            FileEntry::new("empty.txt", ""),
            exec("scripts/run.sh", b"#!/bin/sh\necho script-ran\n"),
        ];
        bx.backend
            .put_files(&bx.id, files.clone(), PutMode::Merge)
            .await
            .map_err(|e| format!("put_files failed: {e}"))?;
        let snapshot = bx
            .backend
            .get_files(&bx.id, Vec::new(), 16 * MIB)
            .await
            .map_err(|e| format!("get_files failed: {e}"))?;
        let got = by_path(&snapshot);
        for want in &files {
            let Some(file) = got.get(want.path.as_str()) else {
                return Err(format!(
                    "{:?} missing from get_files; got {:?}",
                    want.path,
                    got.keys().collect::<Vec<_>>()
                ));
            };
            ensure(file.content == want.content, || {
                format!(
                    "{:?}: content changed in the round trip ({} bytes put, {} bytes got)",
                    want.path,
                    want.content.len(),
                    file.content.len()
                )
            })?;
            ensure(file.executable == want.executable, || {
                format!("{:?}: executable should be {}, got {}", want.path, want.executable, file.executable)
            })?;
        }
        ensure(snapshot.files.len() == files.len(), || {
            format!(
                "a fresh workspace should hold exactly the files put, got {:?}",
                got.keys().collect::<Vec<_>>()
            )
        })?;

        let run = bx.run(super::util::command(&["./scripts/run.sh"])).await?;
        expect_stdout("running the executable file put", &run, "script-ran")?;
        let run = bx
            .sh_ok("test -x scripts/run.sh && ! test -x top.txt && wc -c < bin/data.bin && cat nested/dir/deep/file.txt 'unicode/żółw 🐢.txt'")
            .await?;
        expect_stdout("files seen in the box", &run, "65536")?;
        expect_stdout("files seen in the box", &run, "deep\nünï")?;

        bx.sh_ok("printf made-in-box > produced.txt && mkdir -p out/sub && printf x > out/sub/y && chmod +x out/sub/y")
            .await?;
        let picked = bx
            .backend
            .get_files(&bx.id, vec!["produced.txt".into(), "out/sub/y".into()], MIB)
            .await
            .map_err(|e| format!("get_files of two paths failed: {e}"))?;
        let got = by_path(&picked);
        ensure(got.len() == 2, || format!("get_files of two paths returned {:?}", got.keys().collect::<Vec<_>>()))?;
        ensure(
            got.get("produced.txt").is_some_and(|f| f.content.as_ref() == b"made-in-box"),
            || format!("produced.txt should hold \"made-in-box\", got {:?}", got.get("produced.txt")),
        )?;
        ensure(got.get("out/sub/y").is_some_and(|f| f.executable), || {
            format!("out/sub/y was made executable in the box, got {:?}", got.get("out/sub/y"))
        })
    }
    .await;
    bx.finish(result).await
}

/// `PutMode::Replace` removes stale files but honours `keep`.
pub async fn put_files_replace(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "put_files_replace").await?;
    let result = async {
        let first = vec![
            FileEntry::new("keep.db", "state-v1"),
            FileEntry::new("stale/old.txt", "old"),
            FileEntry::new("top.txt", "top"),
        ];
        bx.backend
            .put_files(&bx.id, first, PutMode::Merge)
            .await
            .map_err(|e| format!("put_files (merge) failed: {e}"))?;
        bx.sh_ok("echo made > made-in-box.txt").await?;
        let second = vec![FileEntry::new("fresh.txt", "new"), FileEntry::new("nested/n.txt", "n")];
        bx.backend
            .put_files(&bx.id, second, PutMode::Replace { keep: vec!["keep.db".into()] })
            .await
            .map_err(|e| format!("put_files (replace) failed: {e}"))?;
        let snapshot = bx
            .backend
            .get_files(&bx.id, Vec::new(), MIB)
            .await
            .map_err(|e| format!("get_files failed: {e}"))?;
        let got = by_path(&snapshot);
        let paths: Vec<&str> = got.keys().copied().collect();
        ensure(paths == ["fresh.txt", "keep.db", "nested/n.txt"], || {
            format!("after Replace {{ keep: [keep.db] }} the workspace should hold exactly fresh.txt, keep.db, nested/n.txt; got {paths:?}")
        })?;
        ensure(
            got.get("keep.db").is_some_and(|f| f.content.as_ref() == b"state-v1"),
            || format!("keep.db must keep its content, got {:?}", got.get("keep.db")),
        )?;
        let run = bx
            .sh_ok("test ! -e stale/old.txt && test ! -e top.txt && test ! -e made-in-box.txt && cat fresh.txt keep.db")
            .await?;
        expect_stdout("the box's view after Replace", &run, "newstate-v1")
    }
    .await;
    bx.finish(result).await
}

/// `get_files` honours `max_total_bytes` and says what it left out.
pub async fn get_files_budget(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "get_files_budget").await?;
    let result = async {
        let files = vec![FileEntry::new("a.bin", vec![b'a'; 10_000]), FileEntry::new("b.bin", vec![b'b'; 10_000])];
        bx.backend
            .put_files(&bx.id, files, PutMode::Merge)
            .await
            .map_err(|e| format!("put_files failed: {e}"))?;
        let snapshot = bx
            .backend
            .get_files(&bx.id, Vec::new(), 15_000)
            .await
            .map_err(|e| format!("get_files failed: {e}"))?;
        let total: usize = snapshot.files.iter().map(|f| f.content.len()).sum();
        ensure(total <= 15_000, || format!("get_files returned {total} bytes, over max_total_bytes=15000"))?;
        let left_out: Vec<&str> = snapshot
            .skipped
            .iter()
            .filter(|s| s.reason == "too_large" || s.reason == "limit_reached")
            .map(|s| s.path.as_str())
            .collect();
        ensure(snapshot.files.len() + left_out.len() == 2 && !left_out.is_empty(), || {
            format!(
                "one file should be returned and the other skipped as too_large/limit_reached; files {:?}, skipped {:?}",
                snapshot.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
                snapshot.skipped
            )
        })?;
        ensure(snapshot.files.iter().all(|f| f.content.len() == 10_000), || {
            "a returned file must be whole, never truncated".into()
        })
    }
    .await;
    bx.finish(result).await
}

/// Hostile paths are rejected with `InvalidPath` and nothing of the batch is
/// written, neither in the workspace nor outside it.
pub async fn put_files_hostile_paths(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "put_files_hostile_paths").await?;
    let result = async {
        for hostile in ["../x", "/etc/x", "a/../../b", "..", "a/./b", "a//b", ""] {
            let batch = vec![FileEntry::new("fine.txt", "fine"), FileEntry::new(hostile, "pwned")];
            let put = bx.backend.put_files(&bx.id, batch, PutMode::Merge).await;
            ensure(matches!(put, Err(SandboxError::InvalidPath { .. })), || {
                format!("put_files with path {hostile:?} must fail with InvalidPath, got {put:?}")
            })?;
            let got = bx.backend.get_files(&bx.id, vec![hostile.into()], MIB).await;
            ensure(matches!(got, Err(SandboxError::InvalidPath { .. })), || {
                format!("get_files with path {hostile:?} must fail with InvalidPath, got {got:?}")
            })?;
        }
        let replace = bx
            .backend
            .put_files(&bx.id, vec![FileEntry::new("ok.txt", "x")], PutMode::Replace { keep: vec!["../keep".into()] })
            .await;
        ensure(matches!(replace, Err(SandboxError::InvalidPath { .. })), || {
            format!("Replace with keep [\"../keep\"] must fail with InvalidPath, got {replace:?}")
        })?;
        let snapshot = bx
            .backend
            .get_files(&bx.id, Vec::new(), MIB)
            .await
            .map_err(|e| format!("get_files failed: {e}"))?;
        ensure(snapshot.files.is_empty(), || {
            format!(
                "a rejected batch must write nothing, but the workspace holds {:?}",
                snapshot.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })?;
        let run = bx
            .sh_ok("for p in /x /etc/x /b /workspace/x /workspace/b fine.txt ok.txt; do if [ -e \"$p\" ]; then echo \"EXISTS $p\"; fi; done; echo checked")
            .await?;
        ensure(!run.stdout_text().contains("EXISTS"), || {
            format!("hostile put_files wrote files: {:?}", run.stdout_text())
        })
    }
    .await;
    bx.finish(result).await
}

fn random_tag() -> String {
    let mut buf = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return format!("{nanos:x}");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Symlinks a program planted in the workspace never redirect `put_files`
/// or `get_files`, in the box or on the host.
pub async fn put_files_planted_symlink(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "put_files_planted_symlink").await?;
    let result = async {
        let probe = format!("bytesbox-conformance-probe-{}", random_tag());
        let probe2 = format!("bytesbox-conformance-probe-{}", random_tag());
        bx.sh_ok(&format!(
            "ln -s /etc evil && ln -s /tmp evil_tmp && ln -s /tmp/{probe2} link_file && ln -s /etc/passwd passwd_link && echo planted"
        ))
        .await?;
        let host_passwd = std::fs::read("/etc/passwd").ok();
        let box_passwd = bx.sh_ok("cat /etc/passwd").await?.stdout;

        // A writable target first, with a fresh name, so a backend that
        // follows symlinks is caught before anything valuable is touched.
        for (path, target) in [
            (format!("evil_tmp/{probe}"), format!("/tmp/{probe}")),
            (format!("evil/{probe}"), format!("/etc/{probe}")),
        ] {
            let put = bx
                .backend
                .put_files(&bx.id, vec![FileEntry::new(path.clone(), "pwned")], PutMode::Merge)
                .await;
            let on_host = std::path::Path::new(&target).exists();
            let in_box = bx.sh(&format!("test -e {target} && echo EXISTS")).await?;
            ensure(!on_host, || format!("put_files {path:?} wrote {target} ON THE HOST through a planted symlink"))?;
            ensure(!in_box.stdout_text().contains("EXISTS"), || {
                format!("put_files {path:?} wrote {target} in the box through a planted symlink")
            })?;
            ensure(put.is_err(), || format!("put_files {path:?} through a planted symlink must fail, got Ok"))?;
        }

        let put = bx
            .backend
            .put_files(&bx.id, vec![FileEntry::new("evil/passwd", "pwned::0:0::/:/bin/sh\n")], PutMode::Merge)
            .await;
        ensure(put.is_err(), || "put_files \"evil/passwd\" through a planted symlink must fail, got Ok".into())?;
        ensure(std::fs::read("/etc/passwd").ok() == host_passwd, || {
            "put_files \"evil/passwd\" CHANGED THE HOST'S /etc/passwd".into()
        })?;
        let after = bx.sh_ok("cat /etc/passwd").await?.stdout;
        ensure(after == box_passwd, || "put_files \"evil/passwd\" changed the box's /etc/passwd".into())?;

        // A symlink as the final component: replacing it is fine, writing
        // through it is not.
        let put = bx
            .backend
            .put_files(&bx.id, vec![FileEntry::new("link_file", "pwned")], PutMode::Merge)
            .await;
        let on_host = std::path::Path::new("/tmp").join(&probe2).exists();
        ensure(!on_host, || format!("put_files \"link_file\" wrote /tmp/{probe2} ON THE HOST through a symlink"))?;
        let in_box = bx.sh(&format!("test -e /tmp/{probe2} && echo EXISTS")).await?;
        ensure(!in_box.stdout_text().contains("EXISTS"), || {
            format!("put_files \"link_file\" wrote /tmp/{probe2} in the box through a symlink (put returned {put:?})")
        })?;

        // Reads never follow planted symlinks either.
        for path in ["passwd_link", "evil/passwd", "evil_tmp"] {
            match bx.backend.get_files(&bx.id, vec![path.into()], MIB).await {
                Err(_) => {}
                Ok(snapshot) => ensure(snapshot.files.is_empty(), || {
                    format!(
                        "get_files {path:?} followed a planted symlink and returned {:?}",
                        snapshot.files.iter().map(|f| &f.path).collect::<Vec<_>>()
                    )
                })?,
            }
        }
        let all = bx
            .backend
            .get_files(&bx.id, Vec::new(), 16 * MIB)
            .await
            .map_err(|e| format!("get_files of a workspace with symlinks failed: {e}"))?;
        let followed: Vec<&String> = all
            .files
            .iter()
            .map(|f| &f.path)
            .filter(|p| p.starts_with("evil") || p.as_str() == "passwd_link")
            .collect();
        ensure(followed.is_empty(), || format!("get_files followed planted symlinks: {followed:?}"))?;
        for link in ["evil", "evil_tmp", "passwd_link"] {
            ensure(all.skipped.iter().any(|s| s.path == link && s.reason == "symlink"), || {
                format!("get_files should list {link:?} as skipped \"symlink\", skipped: {:?}", all.skipped)
            })?;
        }
        Ok(())
    }
    .await;
    bx.finish(result).await
}

/// The workspace's descriptor (for the server's watch of the workspace)
/// lists what runs and programs made there, reads its bytes intact, and
/// never lists or follows a link or a special file planted in it.
pub async fn workspace_root_lists_beneath(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "workspace_root_lists_beneath").await?;
    let result = async {
        let binary: Vec<u8> = (0..=255u8).collect();
        let put = vec![FileEntry::new("put.txt", "put\n"), FileEntry::new("sub/data.bin", binary.clone())];
        bx.backend.put_files(&bx.id, put, PutMode::Merge).await.map_err(|e| format!("put_files failed: {e}"))?;
        bx.sh_ok("printf made > sub/made.txt && ln -s /etc etc_link && mkfifo pipe && echo planted").await?;
        let root = match bx.backend.workspace_root(&bx.id).await {
            Ok(root) => root,
            Err(SandboxError::Unsupported(what)) => return Err(format!("{what}: unsupported by this backend")),
            Err(e) => return Err(format!("workspace_root failed: {e}")),
        };
        let (listing, read, through_link) = tokio::task::spawn_blocking(move || {
            use std::os::fd::AsFd;
            let listing = beneath::list_tree(root.as_fd(), 1000, &|_, _| false);
            let read = beneath::get_files(root.as_fd(), &["sub/data.bin".to_string()], MIB);
            let through_link = beneath::get_files(root.as_fd(), &["etc_link/passwd".to_string()], MIB);
            (listing, read, through_link)
        })
        .await
        .map_err(|e| format!("the listing task failed: {e}"))?;
        let listing = listing.map_err(|e| format!("list_tree failed: {e}"))?;
        let paths: Vec<&str> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        ensure(paths == ["put.txt", "sub", "sub/data.bin", "sub/made.txt"], || {
            format!("the listing should hold the files and folder made, and no link or FIFO; got {paths:?}")
        })?;
        ensure(listing.unlisted == 2 && !listing.truncated, || {
            format!(
                "the link and the FIFO count as unlisted: {} unlisted, truncated {}",
                listing.unlisted, listing.truncated
            )
        })?;
        let read = read.map_err(|e| format!("reading sub/data.bin beneath the root failed: {e}"))?;
        ensure(read.files.first().is_some_and(|f| f.content.as_ref() == binary.as_slice()), || {
            "sub/data.bin's bytes changed on the way out".to_string()
        })?;
        ensure(through_link.is_err(), || "a read through a planted link to /etc must fail".to_string())
    }
    .await;
    bx.finish(result).await
}

/// Deleting beneath the workspace's descriptor (the server's
/// `files_delete`): a folder a program made goes with what it holds, but
/// a `.git` in it stays; a planted link is deleted itself, never what it
/// points at, and a path through it is refused before anything is
/// deleted; the box's programs see the result.
pub async fn workspace_root_deletes_beneath(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "workspace_root_deletes_beneath").await?;
    let result = async {
        let put = vec![FileEntry::new("keep.txt", "keep\n"), FileEntry::new("gone.txt", "gone\n")];
        bx.backend.put_files(&bx.id, put, PutMode::Merge).await.map_err(|e| format!("put_files failed: {e}"))?;
        bx.sh_ok(
            "mkdir -p sub/deep sub/.git && printf x > sub/deep/f && printf r > sub/.git/HEAD && ln -s /etc etc_link",
        )
        .await?;
        let root = match bx.backend.workspace_root(&bx.id).await {
            Ok(root) => root,
            Err(SandboxError::Unsupported(what)) => return Err(format!("{what}: unsupported by this backend")),
            Err(e) => return Err(format!("workspace_root failed: {e}")),
        };
        let (through_link, deleted) = tokio::task::spawn_blocking(move || {
            use std::os::fd::AsFd;
            let spare = |path: &str| path.ends_with("/.git");
            let paths = |names: &[&str]| names.iter().map(|name| name.to_string()).collect::<Vec<_>>();
            let through_link =
                beneath::delete_paths(root.as_fd(), &paths(&["gone.txt", "etc_link/passwd"]), 1000, &spare);
            let deleted =
                beneath::delete_paths(root.as_fd(), &paths(&["gone.txt", "sub", "etc_link", "absent"]), 1000, &spare);
            (through_link, deleted)
        })
        .await
        .map_err(|e| format!("the deleting task failed: {e}"))?;
        ensure(through_link.is_err(), || "a path through a planted link to /etc must be refused".to_string())?;
        let deleted = deleted.map_err(|e| format!("delete_paths failed: {e}"))?;
        ensure(deleted == 3, || format!("three of the four paths were there; {deleted} counted"))?;
        let seen = bx.sh_ok("find . | sort; test -e /etc/passwd && echo etc-intact").await?.stdout_text();
        ensure(seen == ".\n./keep.txt\n./sub\n./sub/.git\n./sub/.git/HEAD\netc-intact\n", || {
            format!("after the deletion the box should hold keep.txt and sub/.git alone; it holds:\n{seen}")
        })
    }
    .await;
    bx.finish(result).await
}
