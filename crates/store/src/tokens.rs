//! API tokens: bearer secrets for programs, made and revoked by their user.

use crate::error::{StoreError, StoreResult};
use crate::model::{ApiToken, NewApiToken, User, UserId};
use crate::users::{user_from_row, USER_COLUMNS};
use crate::{column, new_id, now_ms, secrets, Store};

/// Every API token starts with this, so secret scanners can spot leaked ones.
pub const API_TOKEN_PREFIX: &str = "bbx_";

/// How precisely a token's last use is recorded.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

impl Store {
    /// Creates an API token named `name` (1 to 100 characters).
    pub async fn create_api_token(&self, user: &UserId, name: &str) -> StoreResult<NewApiToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(StoreError::InvalidInput("a token name is 1 to 100 printable characters"));
        }
        let secret = format!("{API_TOKEN_PREFIX}{}", secrets::random_secret());
        let token = ApiToken { id: new_id(), name: name.to_owned(), created_at_ms: now_ms(), last_used_at_ms: None };
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&token.id)
            .bind(&user.0)
            .bind(&token.name)
            .bind(secrets::secret_hash(&secret))
            .bind(token.created_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(NewApiToken { secret, token })
    }

    /// A user's API tokens, oldest first.
    pub async fn list_api_tokens(&self, user: &UserId) -> StoreResult<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(&user.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ApiToken {
                    id: column(row, "id")?,
                    name: column(row, "name")?,
                    created_at_ms: column(row, "created_at")?,
                    last_used_at_ms: column(row, "last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes one of the user's tokens; another user's token is `NotFound`.
    pub async fn revoke_api_token(&self, user: &UserId, token_id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(token_id)
            .bind(&user.0)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The user an API token belongs to (recording its use, to the
    /// minute); `None` when it is unknown or revoked, or its user is
    /// disabled.
    pub async fn api_token_user(&self, secret: &str) -> StoreResult<Option<User>> {
        if !secret.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secrets::secret_hash(secret);
        let sql = format!(
            "SELECT {USER_COLUMNS}, api_tokens.last_used_at FROM api_tokens JOIN users ON users.id = api_tokens.user_id \
             WHERE api_tokens.token_hash = $1 AND users.disabled = 0"
        );
        let Some(row) = sqlx::query(&sql).bind(&hash).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        // A program may call many times a second: write the time of use
        // only when the stored one is a minute old, not on every request.
        let now = now_ms();
        let last_used: Option<i64> = column(&row, "last_used_at")?;
        if last_used.is_none_or(|last| now - last >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(&self.pool)
                .await?;
        }
        user_from_row(&row).map(Some)
    }
}
