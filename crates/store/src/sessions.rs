//! Sign-in sessions: a random secret in the browser's cookie, its hash here.

use std::time::Duration;

use crate::error::StoreResult;
use crate::model::{NewSession, User, UserId};
use crate::users::{user_from_row, USER_COLUMNS};
use crate::{now_ms, secrets, Store};

impl Store {
    /// Starts a session for `user` that works for `ttl`.
    pub async fn create_session(&self, user: &UserId, ttl: Duration) -> StoreResult<NewSession> {
        let token = secrets::random_secret();
        let now = now_ms();
        let expires_at_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        sqlx::query("INSERT INTO auth_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(secrets::secret_hash(&token))
            .bind(&user.0)
            .bind(now)
            .bind(expires_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(NewSession { token, expires_at_ms })
    }

    /// The user a session token belongs to; `None` when the token is
    /// unknown, revoked or expired, or its user is disabled.
    pub async fn session_user(&self, token: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM auth_sessions JOIN users ON users.id = auth_sessions.user_id \
             WHERE auth_sessions.token_hash = $1 AND auth_sessions.expires_at > $2 AND users.disabled = 0"
        );
        let row = sqlx::query(&sql).bind(secrets::secret_hash(token)).bind(now_ms()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Ends a session (sign-out). Unknown tokens are not an error: signing
    /// out twice is harmless.
    pub async fn revoke_session(&self, token: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
            .bind(secrets::secret_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of a user; returns how many there were.
    pub async fn revoke_user_sessions(&self, user: &UserId) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM auth_sessions WHERE user_id = $1").bind(&user.0).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Deletes expired sessions (they already stopped working); returns how
    /// many.
    pub async fn purge_expired_sessions(&self) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1").bind(now_ms()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
