//! Files in and out of a box's workspace, as tar archives through the
//! engine's archive API. No host path is ever used.
//!
//! The archive API resolves an archive's entries inside the container and
//! follows symlinks a program planted there (into the container's own
//! filesystem, never the host's). So before writing, a short check runs in
//! the container as the sandbox user: it refuses a batch whose parent
//! directories are symlinks or files, removes final-component symlinks
//! (they are replaced, never written through) and, for `Replace`, empties
//! the workspace except the kept paths. Reads download the whole
//! workspace as one archive, in which symlinks are entries that are never
//! followed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Duration;

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use bollard::Docker;
use bytes::Bytes;
use bytesbox_sandbox::paths::{validate_relative, validate_unique, MAX_DEPTH};
use bytesbox_sandbox::{FileEntry, PutMode, SandboxError, SkippedEntry, WorkspaceSnapshot};
use futures_util::StreamExt;

use crate::daemon::api_error;

/// How long the in-container check may take.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(20);

/// The in-container check (perl-base is in every Debian minbase). Args:
/// workspace, mode (`merge`/`replace`), number of kept paths, the kept
/// paths, then the paths about to be written. Exit 3 with `reason:path` on
/// stderr refuses the batch.
const PREPARE_PERL: &str = r#"
use strict;
my ($ws, $mode, $nkeep, @rest) = @ARGV;
my @keep = splice(@rest, 0, $nkeep);
chdir $ws or do { print STDERR "workspace:$ws\n"; exit 4 };
sub kept { my $p = shift; for my $k (@keep) { return 1 if $p eq $k || index($p, "$k/") == 0 } 0 }
sub holds_kept { my $p = shift; for my $k (@keep) { return 1 if index($k, "$p/") == 0 } 0 }
sub wipe {
    my $dir = shift;
    opendir(my $dh, $dir eq '' ? '.' : $dir) or return;
    my @names = grep { $_ ne '.' && $_ ne '..' } readdir $dh;
    closedir $dh;
    for my $n (@names) {
        my $rel = $dir eq '' ? $n : "$dir/$n";
        next if kept($rel);
        lstat $rel or next;
        if (-d _) { chmod 0700, $rel; wipe($rel); rmdir $rel unless holds_kept($rel) } else { unlink $rel }
    }
}
wipe('') if $mode eq 'replace';
for my $w (@rest) {
    my @parts = split m{/}, $w;
    my $prefix = '';
    for my $i (0 .. $#parts - 1) {
        $prefix = $prefix eq '' ? $parts[$i] : "$prefix/$parts[$i]";
        last unless lstat $prefix;
        if (-l _) { print STDERR "symlink:$prefix\n"; exit 3 }
        if (!-d _) { print STDERR "notdir:$prefix\n"; exit 3 }
    }
    if (lstat $w) {
        if (-d _ && !-l _) { print STDERR "isdir:$w\n"; exit 3 }
        unlink $w;
    }
}
exit 0;
"#;

/// Validates a batch; returns the keep list of `Replace`.
pub fn validate_batch(files: &[FileEntry], mode: &PutMode) -> Result<Vec<String>, SandboxError> {
    for file in files {
        validate_relative(&file.path)?;
    }
    validate_unique(files.iter().map(|f| f.path.as_str()))?;
    let keep = match mode {
        PutMode::Merge => Vec::new(),
        PutMode::Replace { keep } => keep.clone(),
    };
    for path in &keep {
        validate_relative(path)?;
    }
    Ok(keep)
}

/// Builds the archive: every parent directory (owned by the sandbox user,
/// so programs can write into it) before the files.
pub fn build_tar(files: &[FileEntry], uid: u32, gid: u32) -> Result<Vec<u8>, SandboxError> {
    let mtime = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut prefix = String::new();
        let parts: Vec<&str> = file.path.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            dirs.insert(prefix.clone());
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(mtime);
        header.set_size(size);
        header
    };
    let tar_error = |path: &str, e: std::io::Error| SandboxError::Workspace { path: path.to_string(), source: e };
    for dir in &dirs {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        builder.append_data(&mut h, dir, std::io::empty()).map_err(|e| tar_error(dir, e))?;
    }
    for file in files {
        let mode = if file.executable { 0o755 } else { 0o644 };
        let mut h = header(tar::EntryType::Regular, mode, file.content.len() as u64);
        builder.append_data(&mut h, &file.path, file.content.as_ref()).map_err(|e| tar_error(&file.path, e))?;
    }
    builder.into_inner().map_err(|e| tar_error("", e))
}

/// Runs the in-container check for a batch (and the `Replace` wipe).
pub async fn prepare(
    docker: &Docker,
    container: &str,
    workspace: &str,
    user: &str,
    files: &[FileEntry],
    keep: &[String],
    replace: bool,
) -> Result<(), SandboxError> {
    let mut cmd = vec![
        "perl".to_string(),
        "-e".to_string(),
        PREPARE_PERL.to_string(),
        workspace.to_string(),
        if replace { "replace" } else { "merge" }.to_string(),
        keep.len().to_string(),
    ];
    cmd.extend(keep.iter().cloned());
    cmd.extend(files.iter().map(|f| f.path.clone()));
    let (code, stderr) = tokio::time::timeout(PREPARE_TIMEOUT, exec_collect(docker, container, cmd, user))
        .await
        .map_err(|_| SandboxError::Internal("the workspace check did not finish in time".into()))??;
    match code {
        0 => Ok(()),
        3 => {
            let text = String::from_utf8_lossy(&stderr).trim().to_string();
            let (why, path) = text.split_once(':').unwrap_or(("", text.as_str()));
            let reason = match why {
                "symlink" => "the path goes through a symlink",
                "notdir" => "a parent of the path is not a directory",
                _ => "the path is a directory",
            };
            Err(SandboxError::InvalidPath { path: path.to_string(), reason })
        }
        other => Err(SandboxError::Internal(format!(
            "the workspace check failed (exit {other}): {}",
            String::from_utf8_lossy(&stderr).trim()
        ))),
    }
}

/// Uploads an archive into the workspace.
pub async fn upload(docker: &Docker, container: &str, workspace: &str, archive: Vec<u8>) -> Result<(), SandboxError> {
    let options = UploadToContainerOptions { path: workspace.to_string(), ..UploadToContainerOptions::default() };
    let body = bollard::body_full(Bytes::from(archive));
    docker.upload_to_container(container, Some(options), body).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("no space left") || text.contains("file too large") {
            SandboxError::WorkspaceFull(format!("the workspace is full: {text}"))
        } else {
            api_error("writing files into the workspace", e)
        }
    })
}

/// Runs a short command in the container and returns its exit code and
/// stderr (stdout is discarded).
pub async fn exec_collect(
    docker: &Docker,
    container: &str,
    cmd: Vec<String>,
    user: &str,
) -> Result<(i64, Vec<u8>), SandboxError> {
    let config = ExecConfig {
        cmd: Some(cmd),
        user: Some(user.to_string()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        env: Some(vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()]),
        ..ExecConfig::default()
    };
    let exec = docker.create_exec(container, config).await.map_err(|e| api_error("starting a workspace check", e))?;
    let started = docker
        .start_exec(&exec.id, Some(StartExecOptions { detach: false, tty: false, output_capacity: None }))
        .await
        .map_err(|e| api_error("starting a workspace check", e))?;
    let mut stderr = Vec::new();
    if let StartExecResults::Attached { mut output, .. } = started {
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(bollard::container::LogOutput::StdErr { message }) if stderr.len() < 64 * 1024 => {
                    stderr.extend_from_slice(&message)
                }
                Ok(_) => {}
                Err(e) => return Err(api_error("reading a workspace check", e)),
            }
        }
    }
    for _ in 0..200 {
        let inspect = docker.inspect_exec(&exec.id).await.map_err(|e| api_error("inspecting a workspace check", e))?;
        if inspect.running != Some(true) {
            return Ok((inspect.exit_code.unwrap_or(-1), stderr));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Err(SandboxError::Internal("a workspace check did not end".into()))
}

/// Downloads the whole workspace as an archive, at most `max_bytes`.
pub async fn download(
    docker: &Docker,
    container: &str,
    workspace: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, SandboxError> {
    let options = DownloadFromContainerOptions { path: workspace.to_string() };
    let mut stream = docker.download_from_container(container, Some(options));
    let mut archive = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| api_error("reading the workspace", e))?;
        archive.extend_from_slice(&chunk);
        if archive.len() as u64 > max_bytes {
            return Err(SandboxError::Internal("the workspace archive is larger than the workspace".into()));
        }
    }
    Ok(archive)
}

/// One workspace entry from the archive.
#[derive(Debug)]
enum Entry {
    File { content: Vec<u8>, executable: bool },
    Dir,
    Symlink,
    Special,
}

/// Reads files out of a workspace archive: `paths`, or every file when
/// empty, up to `max_total_bytes`, with the same rules as the native
/// backend (symlinks and special files are skipped, never followed).
pub fn snapshot_from_tar(
    archive: &[u8],
    paths: &[String],
    max_total_bytes: u64,
) -> Result<WorkspaceSnapshot, SandboxError> {
    let mut entries: BTreeMap<Vec<u8>, Entry> = BTreeMap::new();
    let mut reader = tar::Archive::new(archive);
    let bad = |e: std::io::Error| SandboxError::Workspace { path: String::new(), source: e };
    for entry in reader.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        // The archive's entries start with the workspace directory's name.
        let Some(slash) = raw.iter().position(|b| *b == b'/') else { continue };
        let relative = raw[slash + 1..].strip_suffix(b"/").unwrap_or(&raw[slash + 1..]).to_vec();
        if relative.is_empty() {
            continue;
        }
        let kind = entry.header().entry_type();
        let value = if kind.is_file() {
            let executable = entry.header().mode().unwrap_or(0) & 0o100 != 0;
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(bad)?;
            Entry::File { content, executable }
        } else if kind.is_dir() {
            Entry::Dir
        } else if kind.is_symlink() || kind.is_hard_link() {
            Entry::Symlink
        } else {
            Entry::Special
        };
        entries.insert(relative, value);
    }
    let mut snapshot = WorkspaceSnapshot::default();
    let mut remaining = max_total_bytes;
    let mut take = |path: String, entry: &Entry, snapshot: &mut WorkspaceSnapshot| {
        let skip = |reason: &str| SkippedEntry { path: path.clone(), reason: reason.into() };
        match entry {
            Entry::File { content, executable } => {
                if content.len() as u64 > remaining {
                    snapshot.skipped.push(skip("too_large"));
                } else {
                    remaining -= content.len() as u64;
                    snapshot.files.push(FileEntry {
                        path: path.clone(),
                        content: Bytes::from(content.clone()),
                        executable: *executable,
                    });
                }
            }
            Entry::Symlink => snapshot.skipped.push(skip("symlink")),
            Entry::Special => snapshot.skipped.push(skip("special_file")),
            Entry::Dir => {}
        }
    };
    if paths.is_empty() {
        for (raw, entry) in &entries {
            let depth = raw.iter().filter(|b| **b == b'/').count() + 1;
            let Ok(path) = String::from_utf8(raw.clone()) else {
                snapshot.skipped.push(SkippedEntry {
                    path: String::from_utf8_lossy(raw).into_owned(),
                    reason: "non_utf8_name".into(),
                });
                continue;
            };
            if depth > MAX_DEPTH {
                snapshot.skipped.push(SkippedEntry { path, reason: "too_deep".into() });
                continue;
            }
            take(path, entry, &mut snapshot);
        }
        return Ok(snapshot);
    }
    for path in paths {
        let components = validate_relative(path)?;
        match entries.get(path.as_bytes()) {
            Some(Entry::Dir) => {
                return Err(SandboxError::InvalidPath { path: path.clone(), reason: "the path is a directory" })
            }
            Some(entry) => take(path.clone(), entry, &mut snapshot),
            None => {
                let mut prefix = String::new();
                for component in &components[..components.len().saturating_sub(1)] {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(component);
                    match entries.get(prefix.as_bytes()) {
                        Some(Entry::Symlink) => {
                            return Err(SandboxError::InvalidPath {
                                path: path.clone(),
                                reason: "the path goes through a symlink or mount point",
                            })
                        }
                        Some(Entry::Dir) => {}
                        Some(_) => {
                            return Err(SandboxError::InvalidPath {
                                path: path.clone(),
                                reason: "a parent of the path is not a directory",
                            })
                        }
                        None => break,
                    }
                }
                return Err(SandboxError::Workspace {
                    path: path.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
        }
    }
    Ok(snapshot)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Wraps `build_tar`'s entries under `workspace/`, as the engine does.
    fn as_downloaded(files: &[FileEntry], extra: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let inner = build_tar(files, 10001, 10001).unwrap();
        let mut out = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o700);
        dir.set_size(0);
        out.append_data(&mut dir, "workspace", std::io::empty()).unwrap();
        for entry in tar::Archive::new(inner.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = format!("workspace/{}", entry.path().unwrap().display());
            let mut header = entry.header().clone();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            out.append_data(&mut header, path, data.as_slice()).unwrap();
        }
        extra(&mut out);
        out.into_inner().unwrap()
    }

    #[test]
    fn archives_round_trip_with_modes_and_parents() {
        let files = vec![
            FileEntry::new("a/b/c.txt", "deep"),
            FileEntry { path: "run.sh".into(), content: Bytes::from_static(b"#!/bin/sh\n"), executable: true },
            FileEntry::new("unicode/żółw.txt", "ü"),
        ];
        let archive = as_downloaded(&files, |_| {});
        let snapshot = snapshot_from_tar(&archive, &[], 1 << 20).unwrap();
        let paths: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/b/c.txt", "run.sh", "unicode/żółw.txt"]);
        assert!(snapshot.files[1].executable && !snapshot.files[0].executable);
        let picked = snapshot_from_tar(&archive, &["a/b/c.txt".into()], 1 << 20).unwrap();
        assert_eq!(picked.files[0].content.as_ref(), b"deep");
        assert!(snapshot_from_tar(&archive, &["missing".into()], 1 << 20).is_err());
        assert!(matches!(snapshot_from_tar(&archive, &["a/b".into()], 1 << 20), Err(SandboxError::InvalidPath { .. })));
    }

    #[test]
    fn symlinks_are_listed_never_followed_and_the_budget_holds() {
        let files = vec![FileEntry::new("a.bin", vec![b'a'; 100]), FileEntry::new("b.bin", vec![b'b'; 100])];
        let archive = as_downloaded(&files, |builder| {
            let mut link = tar::Header::new_gnu();
            link.set_entry_type(tar::EntryType::Symlink);
            link.set_size(0);
            builder.append_link(&mut link, "workspace/evil", "/etc").unwrap();
        });
        let snapshot = snapshot_from_tar(&archive, &[], 150).unwrap();
        assert_eq!(snapshot.files.len(), 1);
        let reasons: Vec<(&str, &str)> =
            snapshot.skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
        assert_eq!(reasons, [("b.bin", "too_large"), ("evil", "symlink")]);
        let through = snapshot_from_tar(&archive, &["evil/passwd".into()], 150);
        assert!(matches!(through, Err(SandboxError::InvalidPath { .. })), "{through:?}");
    }

    #[test]
    fn hostile_batches_are_refused_before_anything_is_written() {
        let bad = [FileEntry::new("ok", "x"), FileEntry::new("../x", "y")];
        assert!(matches!(validate_batch(&bad, &PutMode::Merge), Err(SandboxError::InvalidPath { .. })));
        let keep = PutMode::Replace { keep: vec!["../keep".into()] };
        assert!(validate_batch(&[FileEntry::new("ok", "x")], &keep).is_err());
        let dup = [FileEntry::new("a", "x"), FileEntry::new("a", "y")];
        assert!(validate_batch(&dup, &PutMode::Merge).is_err());
    }
}
