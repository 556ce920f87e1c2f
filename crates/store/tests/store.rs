//! The store's suite. Every case runs against SQLite (a fresh file per
//! test) and, when `BYTESBOX_TEST_POSTGRES_URL` is set, against PostgreSQL
//! (`scripts/test` starts one as root). In CI a missing PostgreSQL URL is a
//! failure; elsewhere those cases say SKIPPED. Cases on a shared PostgreSQL
//! database stay apart by using fresh usernames: everything is per user.
// Tests may panic on a broken set-up; that is how they fail (the cases are
// plain functions that the generated tests call).
#![allow(clippy::unwrap_used)]

mod store {
    pub mod accounts;
    pub mod crash;
    pub mod files;
    pub mod keys;
    pub mod projects;
    pub mod runs;
}

use bytesbox_store::{Role, Store, User};

/// A store on a fresh SQLite file; keep the directory alive with it.
async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_data_dir(dir.path()).await.unwrap();
    (store, dir)
}

/// A store on the test PostgreSQL database, or `None` (SKIPPED) without one.
async fn postgres_store(test: &str) -> Option<Store> {
    let url = std::env::var("BYTESBOX_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty());
    let problem =
        url.is_none().then(|| "BYTESBOX_TEST_POSTGRES_URL is not set (scripts/test sets it as root)".to_owned());
    if !bytesbox_testkit::require_prerequisite(test, "PostgreSQL", problem) {
        return None;
    }
    Some(Store::connect(&url?).await.unwrap())
}

/// A user with a name no other test (or earlier run on the same database) has.
async fn fresh_user(store: &Store) -> User {
    let name = format!("u{}", unique_suffix());
    store.create_user(&name, "a long password", Role::User).await.unwrap()
}

/// 80 random bits in hex: fresh names on a database that outlives test runs.
fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..20].to_owned()
}

/// Makes, for each case `store::<module>::<name>(&Store)`, one test on
/// SQLite and one on PostgreSQL.
macro_rules! on_both_databases {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    crate::store::$module::$case(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::postgres_store(concat!("postgres::", stringify!($case))).await else {
                        return;
                    };
                    crate::store::$module::$case(&store).await;
                }
            )*
        }
    };
}

on_both_databases!(
    accounts::login_checks_the_password_and_never_says_whether_the_user_exists,
    accounts::usernames_are_unique_whatever_their_case,
    accounts::bad_usernames_and_passwords_are_refused,
    accounts::a_disabled_account_cannot_sign_in_or_use_its_sessions,
    accounts::sessions_work_until_revoked_or_expired,
    accounts::api_tokens_are_listed_without_secrets_and_revoked_only_by_their_owner,
    projects::projects_are_created_listed_and_read_by_their_owner_only,
    projects::a_stale_version_is_a_conflict_and_never_overwrites,
    projects::concurrent_updates_of_one_version_let_exactly_one_win,
    projects::deleting_a_project_takes_its_files_and_runs_with_it,
    projects::file_writes_are_versioned_per_file,
    runs::a_project_keeps_its_last_fifty_runs_newest_first,
    files::writes_replace_objects_and_stale_ones_leave_nothing_behind,
    files::concurrent_writers_of_one_version_let_exactly_one_win,
    files::paths_follow_the_run_rules_and_never_clash,
    files::another_users_project_files_are_not_found,
    files::quotas_refuse_growth_say_which_and_allow_shrinking,
    files::projects_are_created_duplicated_and_deleted_with_their_objects,
    files::zips_round_trip_and_hostile_ones_are_refused,
    files::the_sweep_removes_orphans_and_only_orphans,
    files::readers_during_saves_always_get_one_complete_version,
    files::concurrent_saves_and_creations_never_overshoot_a_quota,
);

#[tokio::test]
async fn an_unknown_database_url_is_a_clear_error() {
    let error = Store::connect("mysql://localhost/db").await.unwrap_err();
    assert!(matches!(error, bytesbox_store::StoreError::UnsupportedUrl), "{error}");
}

#[tokio::test]
async fn the_sqlite_file_keeps_its_data_across_reopening_even_in_an_odd_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data ?#% dir");
    std::fs::create_dir(&dir).unwrap();
    let store = Store::open_in_data_dir(&dir).await.unwrap();
    let user = fresh_user(&store).await;
    store.close().await;
    assert!(dir.join("bytesbox.db").is_file());

    let reopened = Store::open_in_data_dir(&dir).await.unwrap();
    let verified = reopened.verify_password(&user.username, "a long password").await.unwrap();
    assert_eq!(verified, user);
}
