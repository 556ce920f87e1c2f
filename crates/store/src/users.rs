//! Accounts: sign-up and password checks.

use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::model::{Role, User, UserId};
use crate::{column, new_id, now_ms, secrets, Store};

/// Longer passwords are refused before hashing, so a huge body cannot keep
/// a core busy.
const MAX_PASSWORD_BYTES: usize = 1024;
const MIN_PASSWORD_CHARS: usize = 8;

pub(crate) const USER_COLUMNS: &str =
    "users.id, users.username, users.role, users.plan, users.disabled, users.created_at";

impl Store {
    /// Creates an account. The username is folded to lower case; it must be
    /// 3 to 32 of `a-z 0-9 _ . -`, starting with a letter or digit.
    pub async fn create_user(&self, username: &str, password: &str, role: Role) -> StoreResult<User> {
        let username = normalize_username(username)?;
        check_password(password)?;
        let hash = hash_blocking(password.to_owned()).await?;
        let user = User {
            id: UserId(new_id()),
            username,
            role,
            plan: "default".to_owned(),
            disabled: false,
            created_at_ms: now_ms(),
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, plan, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(&user.id.0)
        .bind(&user.username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(&user.plan)
        .bind(user.created_at_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::unique_as(error, StoreError::UsernameTaken))?;
        Ok(user)
    }

    /// Checks a username and password. An unknown username and a wrong
    /// password give the same error after the same work (one argon2
    /// verification), so neither the answer nor its timing tells whether
    /// the name exists. A disabled account is reported only to someone who
    /// knows its password.
    pub async fn verify_password(&self, username: &str, password: &str) -> StoreResult<User> {
        let found = match normalize_username(username) {
            Ok(username) if password.len() <= MAX_PASSWORD_BYTES => {
                let sql = format!("SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE users.username = $1");
                match sqlx::query(&sql).bind(&username).fetch_optional(&self.pool).await? {
                    Some(row) => Some((user_from_row(&row)?, column::<String>(&row, "password_hash")?)),
                    None => None,
                }
            }
            _ => None,
        };
        let password = password.to_owned();
        let hash = found.as_ref().map(|(_, hash)| hash.clone());
        let matches = tokio::task::spawn_blocking(move || secrets::verify_password(&password, hash.as_deref()))
            .await
            .map_err(|error| StoreError::Hashing(error.to_string()))?;
        match found {
            Some((user, _)) if matches => {
                if user.disabled {
                    Err(StoreError::AccountDisabled)
                } else {
                    Ok(user)
                }
            }
            _ => Err(StoreError::InvalidCredentials),
        }
    }

    /// Looks up an account by id.
    pub async fn user(&self, id: &UserId) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE users.id = $1");
        let row = sqlx::query(&sql).bind(&id.0).fetch_optional(&self.pool).await?.ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// Disables or re-enables an account.
    pub async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(&id.0)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

impl Store {
    /// Every account, by username (the admin page).
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY users.username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Moves an account to another resource plan. The caller checks the
    /// plan exists; the store keeps only its name.
    pub async fn set_user_plan(&self, id: &UserId, plan: &str) -> StoreResult<()> {
        if plan.is_empty() || plan.len() > 64 || plan.chars().any(char::is_control) {
            return Err(StoreError::InvalidInput("a plan name is 1 to 64 printable characters"));
        }
        let done =
            sqlx::query("UPDATE users SET plan = $1 WHERE id = $2").bind(plan).bind(&id.0).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Makes an account an administrator or a plain user.
    pub async fn set_user_role(&self, id: &UserId, role: Role) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(&id.0)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// How many accounts exist (`bytesbox admin create-user` reports it).
    pub async fn count_users(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?;
        column(&row, "n")
    }
}

pub(crate) fn user_from_row(row: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: UserId(column(row, "id")?),
        username: column(row, "username")?,
        role: Role::parse(&column::<String>(row, "role")?),
        plan: column(row, "plan")?,
        disabled: column::<i64>(row, "disabled")? != 0,
        created_at_ms: column(row, "created_at")?,
    })
}

fn normalize_username(username: &str) -> StoreResult<String> {
    let username = username.trim().to_ascii_lowercase();
    if !(3..=32).contains(&username.len()) {
        return Err(StoreError::InvalidUsername("it must be 3 to 32 characters long"));
    }
    if !username.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_.-".contains(&byte)) {
        return Err(StoreError::InvalidUsername("use only letters, digits, '_', '.' and '-'"));
    }
    if !username.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(StoreError::InvalidUsername("it must start with a letter or a digit"));
    }
    Ok(username)
}

fn check_password(password: &str) -> StoreResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::InvalidPassword("use at least 8 characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(StoreError::InvalidPassword("use at most 1024 bytes"));
    }
    Ok(())
}

async fn hash_blocking(password: String) -> StoreResult<String> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|error| StoreError::Hashing(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_folded_and_checked() {
        assert_eq!(normalize_username(" Alice ").unwrap(), "alice");
        assert!(matches!(normalize_username("ab"), Err(StoreError::InvalidUsername(_))));
        assert!(matches!(normalize_username("al ice"), Err(StoreError::InvalidUsername(_))));
        assert!(matches!(normalize_username("-alice"), Err(StoreError::InvalidUsername(_))));
        assert!(matches!(normalize_username(&"a".repeat(33)), Err(StoreError::InvalidUsername(_))));
        assert!(matches!(normalize_username("élodie"), Err(StoreError::InvalidUsername(_))));
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }
}
