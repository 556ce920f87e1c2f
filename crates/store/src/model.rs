//! What the store hands out.

use std::fmt;

/// A user's id: a random UUID, never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

/// A project's id: a random UUID, never reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ProjectId {
    /// A fresh id, for a project about to be created.
    pub fn random() -> ProjectId {
        ProjectId(crate::new_id())
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do beyond their own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns projects, runs code.
    User,
    /// Also manages users, plans and sessions.
    Admin,
}

impl Role {
    /// The name stored and shown: `user` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// The role a name gives, if it is one.
    pub fn from_name(text: &str) -> Option<Role> {
        match text {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Unknown strings read as the least privileged role.
    pub(crate) fn parse(text: &str) -> Role {
        if text == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// An account, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The stable id.
    pub id: UserId,
    /// The login name, lower case.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// The name of the user's resource plan.
    pub plan: String,
    /// Disabled accounts cannot sign in and their sessions and tokens stop working.
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// A freshly created sign-in session: the secret goes into the cookie once
/// and is never stored.
#[derive(Debug)]
pub struct NewSession {
    /// The bearer secret for the cookie.
    pub token: String,
    /// Unix milliseconds after which the session no longer works.
    pub expires_at_ms: i64,
}

/// An API token as listed: everything except the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The id to revoke it by.
    pub id: String,
    /// The user's label for it.
    pub name: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds of the last request that used it, to the minute.
    pub last_used_at_ms: Option<i64>,
}

/// A freshly created API token: the secret is shown once and never stored.
#[derive(Debug)]
pub struct NewApiToken {
    /// The bearer secret (`bbx_…`).
    pub secret: String,
    /// The token as it will be listed.
    pub token: ApiToken,
}

/// A project's settings (its files are in the file index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The stable id.
    pub id: ProjectId,
    /// The owner.
    pub owner: UserId,
    /// Unique among the owner's projects.
    pub name: String,
    /// A catalog language id, when set.
    pub language: Option<String>,
    /// The file that runs, when set.
    pub entry_file: Option<String>,
    /// Bumped by every change; writes name the version they are based on.
    pub version: i64,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

/// The settings a create or update writes (an update replaces all of them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectSettings {
    /// 1 to 100 characters, no control characters.
    pub name: String,
    /// A catalog language id.
    pub language: Option<String>,
    /// A workspace-relative path.
    pub entry_file: Option<String>,
}

/// One entry of a project's file index; the contents are in the object
/// store under `object_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Workspace-relative path (validated by the caller).
    pub path: String,
    /// Size of the contents.
    pub size_bytes: i64,
    /// Where the contents are.
    pub object_key: String,
    /// Bumped by every write of this file.
    pub version: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

/// One run of a project, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// The catalog language id.
    pub language: String,
    /// The run's status code (`ok`, `timeout`, …).
    pub status: String,
    /// Wall time.
    pub duration_ms: i64,
}

/// What a user has stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Projects.
    pub projects: i64,
    /// Files over all projects.
    pub files: i64,
    /// Bytes over all projects.
    pub bytes: i64,
}

/// A file of a project being created: its contents are already in the
/// object store under `object_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFileEntry {
    /// Workspace-relative path (validated by the caller).
    pub path: String,
    /// Size of the contents.
    pub size_bytes: i64,
    /// Where the contents are.
    pub object_key: String,
}
