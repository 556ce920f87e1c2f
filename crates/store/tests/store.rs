//! The store's suite. Every case runs against SQLite (a fresh file per
//! test) and, when `BYTESBOX_TEST_POSTGRES_URL` is set, against PostgreSQL
//! (`scripts/test` starts one as root). The project-files cases also run
//! with their contents in S3 (metadata on SQLite) when
//! `BYTESBOX_TEST_S3_URL` is set (`scripts/test` starts a local moto
//! server as root). In CI a missing PostgreSQL or S3 URL is a failure;
//! elsewhere those cases say SKIPPED. Cases on a shared PostgreSQL
//! database stay apart by using fresh usernames: everything is per user.
// Tests may panic on a broken set-up; that is how they fail (the cases are
// plain functions that the generated tests call).
#![allow(clippy::unwrap_used)]

mod store {
    pub mod accounts;
    pub mod crash;
    pub mod files;
    pub mod keys;
    pub mod monitoring;
    pub mod nodes;
    pub mod projects;
    pub mod runs;
    pub mod storage;
}

use bytesbox_store::{Role, Store, User};
use bytesbox_testkit::stores::unique_suffix;

/// A store on a fresh SQLite file; keep the directory alive with it.
async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_data_dir(dir.path()).await.unwrap();
    (store, dir)
}

/// A store on the test PostgreSQL database, or `None` (SKIPPED) without one.
async fn postgres_store(test: &str) -> Option<Store> {
    let url = bytesbox_testkit::stores::postgres_url(test)?;
    Some(Store::connect(&url).await.unwrap())
}

/// A user with a name no other test (or earlier run on the same database) has.
async fn fresh_user(store: &Store) -> User {
    let name = format!("u{}", unique_suffix());
    store.create_user(&name, "a long password", Role::User).await.unwrap()
}

/// Where a `files` case keeps file contents.
#[derive(Debug)]
pub enum ObjectsUnderTest {
    /// A fresh local directory (`<dir>/objects`), removed with the value.
    Local(tempfile::TempDir),
    /// The test S3 bucket, under a key prefix of this test's own.
    S3(bytesbox_store::Objects),
}

impl ObjectsUnderTest {
    fn local() -> ObjectsUnderTest {
        ObjectsUnderTest::Local(tempfile::tempdir().unwrap())
    }

    /// The object store itself.
    pub fn open(&self) -> bytesbox_store::Objects {
        match self {
            ObjectsUnderTest::Local(dir) => {
                bytesbox_store::Objects::open(&bytesbox_store::ObjectsConfig::local_in_data_dir(dir.path())).unwrap()
            }
            ObjectsUnderTest::S3(objects) => objects.clone(),
        }
    }

    /// The data directory of a local store (its objects are in `objects/`).
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        match self {
            ObjectsUnderTest::Local(dir) => Some(dir.path()),
            ObjectsUnderTest::S3(_) => None,
        }
    }
}

/// The test S3 bucket under a prefix of this test's own
/// (`bytesbox_testkit::stores`), or `None` (SKIPPED) without one, a
/// failure in CI.
#[cfg(feature = "s3")]
fn s3_objects(test: &str) -> Option<ObjectsUnderTest> {
    let s3 = bytesbox_testkit::stores::S3Settings::for_test(test)?;
    let objects = bytesbox_store::Objects::open_s3_with(s3.builder(), &s3.bucket, &s3.prefix).unwrap();
    Some(ObjectsUnderTest::S3(objects))
}

#[cfg(not(feature = "s3"))]
fn s3_objects(test: &str) -> Option<ObjectsUnderTest> {
    let problem = Some("this build has no S3 support (the `s3` feature of bytesbox-store)".to_owned());
    bytesbox_testkit::require_prerequisite(test, "an S3 endpoint", problem);
    None
}

/// Makes, for each case `store::<module>::<name>(&Store)`, one test on
/// SQLite and one on PostgreSQL; and for each `files` case
/// `store::files::<name>(&Store, &ObjectsUnderTest)`, one on SQLite and one
/// on PostgreSQL with local objects, and one on SQLite with S3 objects.
macro_rules! on_both_databases {
    (
        store: [$($module:ident :: $case:ident),* $(,)?],
        files: [$($files_case:ident),* $(,)?] $(,)?
    ) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    crate::store::$module::$case(&store).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $files_case() {
                    let (store, _dir) = super::sqlite_store().await;
                    crate::store::files::$files_case(&store, &super::ObjectsUnderTest::local()).await;
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
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $files_case() {
                    let Some(store) = super::postgres_store(concat!("postgres::", stringify!($files_case))).await
                    else {
                        return;
                    };
                    crate::store::files::$files_case(&store, &super::ObjectsUnderTest::local()).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $files_case() {
                    let Some(objects) = super::s3_objects(concat!("s3::", stringify!($files_case))) else {
                        return;
                    };
                    let (store, _dir) = super::sqlite_store().await;
                    crate::store::files::$files_case(&store, &objects).await;
                }
            )*
        }
    };
}

on_both_databases!(
    store: [
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
        nodes::nodes_register_heartbeat_drain_and_leave_the_fleet,
        nodes::run_places_count_a_users_runs_on_live_nodes_only,
        monitoring::minutes_add_up_per_step_over_the_fleet_or_one_node,
        monitoring::errors_are_capped_per_node_and_minute_and_the_rest_counted,
        monitoring::users_days_and_storage_are_kept_per_user,
        monitoring::old_rows_are_pruned_and_recent_ones_kept,
    ],
    files: [
        writes_replace_objects_and_stale_ones_leave_nothing_behind,
        concurrent_writers_of_one_version_let_exactly_one_win,
        paths_follow_the_run_rules_and_never_clash,
        another_users_project_files_are_not_found,
        quotas_refuse_growth_say_which_and_allow_shrinking,
        projects_are_created_duplicated_and_deleted_with_their_objects,
        zips_round_trip_and_hostile_ones_are_refused,
        the_sweep_removes_orphans_and_only_orphans,
        the_sweep_goes_through_listings_longer_than_one_page,
        readers_during_saves_always_get_one_complete_version,
        concurrent_saves_and_creations_never_overshoot_a_quota,
        zip_bombs_are_refused_as_they_expand_without_holding_them,
        exports_stream_and_duplicates_copy_without_reading,
        reads_for_a_run_check_the_caps_before_reading,
        a_saved_repository_counts_in_the_quota_and_goes_with_its_project,
    ],
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
