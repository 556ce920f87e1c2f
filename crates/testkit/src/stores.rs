//! The test PostgreSQL database and S3 bucket (`scripts/test` starts both
//! as root and exports `BYTESBOX_TEST_POSTGRES_URL` and
//! `BYTESBOX_TEST_S3_*`; see `scripts/lib.sh`), each handed out as a part
//! of its own to every test, so that tests running in parallel, and runs
//! on the same database or bucket, never see each other's rows or objects.
//! Without them a test is skipped through [`crate::require_prerequisite`]
//! (a failure in CI).

use sqlx::Connection as _;

/// The variable naming the test PostgreSQL database.
pub const POSTGRES_URL_VARIABLE: &str = "BYTESBOX_TEST_POSTGRES_URL";

fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// 80 random bits in hex: names no earlier run on the same database or
/// bucket has used.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..20].to_owned()
}

/// The test PostgreSQL database's URL, or `None` (skipped) without one.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = variable(POSTGRES_URL_VARIABLE);
    let problem = url.is_none().then(|| format!("{POSTGRES_URL_VARIABLE} is not set (scripts/test sets it as root)"));
    if !crate::require_prerequisite(test, "PostgreSQL", problem) {
        return None;
    }
    url
}

/// A fresh schema in the test database and a URL whose connections use it
/// (`search_path`): a database of this test's own, as far as migrations
/// and queries can tell, without the right to create databases.
///
/// # Panics
///
/// When the database refuses the connection or the schema.
pub async fn fresh_postgres_schema(url: &str) -> String {
    let schema = format!("t{}", unique_suffix());
    let mut connection = sqlx::PgConnection::connect(url).await.expect("the test PostgreSQL database answers");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut connection)
        .await
        .expect("the test role may create schemas in its database");
    let _ = connection.close().await;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// The test S3 bucket, under a key prefix of one test's own.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The key prefix no other test uses.
    pub prefix: String,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

impl S3Settings {
    /// The settings from `BYTESBOX_TEST_S3_*` (`BYTESBOX_TEST_S3_URL` is
    /// `s3://bucket/prefix`) with a fresh prefix below the run's, or `None`
    /// (skipped) without them.
    ///
    /// # Panics
    ///
    /// When `BYTESBOX_TEST_S3_URL` is no `s3://` URL.
    pub fn for_test(test: &str) -> Option<S3Settings> {
        let url = variable("BYTESBOX_TEST_S3_URL");
        let endpoint = variable("BYTESBOX_TEST_S3_ENDPOINT");
        let problem = (url.is_none() || endpoint.is_none()).then(|| {
            "BYTESBOX_TEST_S3_URL and BYTESBOX_TEST_S3_ENDPOINT are not set (scripts/test starts an S3 mock as root)"
                .to_owned()
        });
        if !crate::require_prerequisite(test, "an S3 endpoint", problem) {
            return None;
        }
        let (url, endpoint) = (url?, endpoint?);
        let rest = url
            .strip_prefix("s3://")
            .unwrap_or_else(|| panic!("BYTESBOX_TEST_S3_URL must be s3://bucket/prefix, not {url:?}"));
        let (bucket, run_prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let own = format!("t{}", unique_suffix());
        let run_prefix = run_prefix.trim_matches('/');
        let prefix = if run_prefix.is_empty() { own } else { format!("{run_prefix}/{own}") };
        Some(S3Settings {
            bucket: bucket.to_owned(),
            prefix,
            endpoint,
            access_key_id: variable("BYTESBOX_TEST_S3_ACCESS_KEY_ID").unwrap_or_default(),
            secret_access_key: variable("BYTESBOX_TEST_S3_SECRET_ACCESS_KEY").unwrap_or_default(),
            region: variable("BYTESBOX_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        })
    }

    /// An S3 client for the endpoint, configured from these settings only,
    /// never from the process's `AWS_*` variables.
    pub fn builder(&self) -> object_store::aws::AmazonS3Builder {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(self.endpoint.starts_with("http://"))
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .with_region(&self.region)
    }
}
