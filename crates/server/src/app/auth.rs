//! Authentication: password hashing, log-in and sessions, API keys and the signed-request check,
//! and the offline admin password reset.

use base64::Engine;
use pbkdf2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use trellis_model::entity::{Principal, Session, User};
use trellis_model::{time::now_millis, Error, Result};

use super::identity::normalize_domain_path;
use super::{setting, App, Caller};

/// Name of the session-key cookie.
pub const SESSION_COOKIE: &str = "sessionkey";

const PBKDF2_ROUNDS: u32 = 100_000;

/// How long a verified API key's user stays cached.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn random_b64url(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Hash a password for storage (PBKDF2-SHA256, PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::internal(format!("salt encoding failed: {e}")))?;
    let params = pbkdf2::Params {
        rounds: PBKDF2_ROUNDS,
        output_length: 32,
    };
    pbkdf2::Pbkdf2
        .hash_password_customized(password.as_bytes(), None, None, params, &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

pub(super) fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => pbkdf2::Pbkdf2
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Why `trellis admin reset-password` could not reset a password.
#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    #[error("cannot open the database")]
    Store(#[source] trellis_store::StoreError),
    #[error("no user {username} in the ROOT domain")]
    NoSuchUser { username: String },
    #[error("cannot store the password")]
    Update(#[source] Error),
}

impl From<trellis_store::StoreError> for ResetPasswordError {
    fn from(source: trellis_store::StoreError) -> Self {
        ResetPasswordError::Store(source)
    }
}

/// What a successful login returns.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub principal: Principal,
    pub session: Session,
    pub timeout_seconds: i64,
}

impl App {
    /// Offline password reset of a ROOT-domain user (`trellis admin reset-password`): opens the
    /// database itself (a SQLite database a running server holds is refused by the store's lock
    /// on it), sets `password` or a generated one, enables the user (a lock-out ends), and
    /// returns the generated one.
    pub async fn admin_password_reset_offline(
        database_url: &str,
        username: &str,
        password: Option<&str>,
    ) -> std::result::Result<Option<String>, ResetPasswordError> {
        let store = trellis_store::Store::open(database_url).await?;
        let no_such_user = || ResetPasswordError::NoSuchUser {
            username: username.to_string(),
        };
        let root = store.domain_by_path("/").await?.ok_or_else(no_such_user)?;
        let user = store
            .user_by_username(root.id, username)
            .await?
            .ok_or_else(no_such_user)?;
        let (password, generated) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p.to_string(), None),
            None => {
                let p = random_b64url(15);
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password(&password).map_err(ResetPasswordError::Update)?;
        store.user_set_password(user.id, &hash).await?;
        // A user locked by failed log-ins (the only admin, say) is unlocked: this is the way
        // back in when no administrator can log in to run enableUser.
        store
            .user_set_state(user.id, trellis_model::account::AccountState::Enabled)
            .await?;
        store.close().await;
        Ok(generated)
    }

    /// Check a username and password; on success create a session.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        domain_path: Option<&str>,
        domain_uuid: Option<&str>,
    ) -> Result<LoginOutcome> {
        let failed = || {
            Error::denied(format!(
                "Failed to authenticate user {username}; please provide valid credentials"
            ))
        };
        let domain = match domain_uuid {
            Some(u) => self.store.domain_by_uuid(u).await?,
            None => {
                self.store
                    .domain_by_path(&normalize_domain_path(domain_path.unwrap_or("/")))
                    .await?
            }
        };
        let Some(domain) = domain else {
            return Err(failed());
        };
        let Some(user) = self.store.user_by_username(domain.id, username).await? else {
            return Err(failed());
        };
        if !verify_password(password, &user.password_hash) {
            self.login_failed(&user).await;
            return Err(failed());
        }
        if !user.state.is_enabled() {
            return Err(failed());
        }
        if user.failed_logins > 0 {
            self.store.user_login_succeeded(user.id).await?;
        }
        let Some(principal) = self.store.principal_get(user.id).await? else {
            return Err(failed());
        };
        if !principal.account.state.is_enabled() {
            return Err(failed());
        }
        let now = now_millis();
        let timeout = self.setting_i64(setting::SESSION_TIMEOUT);
        let session = Session {
            session_key: random_b64url(20),
            jsession_id: random_b64url(18),
            user_id: user.id,
            created: now,
            expires: now + timeout * 1000,
        };
        self.store.session_create(&session).await?;
        self.event(
            Some(&principal),
            "USER.LOGIN",
            &format!("user {username} has logged in"),
            None,
        )
        .await;
        Ok(LoginOutcome {
            principal,
            session,
            timeout_seconds: timeout,
        })
    }

    /// Count a wrong password; at `incorrect.login.attempts.allowed` in a row the user is
    /// locked, with an event and a warning. The caller's answer does not change: a locked user
    /// and a wrong password read the same.
    async fn login_failed(&self, user: &User) {
        if !user.state.is_enabled() {
            return;
        }
        let allowed = self.setting_i64(setting::LOGIN_ATTEMPTS);
        let now = match self.store.user_login_failed(user.id, allowed).await {
            Ok(Some(u)) => u,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(user = %user.uuid, error = %trellis_model::ErrorChain(&e), "could not count a failed log-in");
                return;
            }
        };
        if now.state == trellis_model::account::AccountState::Locked {
            // Cached keys and sessions of the user end with the lock.
            self.auth_cache_clear();
            tracing::warn!(user = %user.uuid, username = %user.username, attempts = now.failed_logins, "user locked after repeated failed log-ins");
            let principal = self.store.principal_get(user.id).await.ok().flatten();
            self.event(
                principal.as_ref(),
                "USER.LOCK",
                &format!(
                    "User {} locked after {} failed log-in attempts in a row",
                    user.username, now.failed_logins
                ),
                Some(("User", &user.uuid)),
            )
            .await;
        }
    }

    pub async fn logout(&self, session_key: &str) -> Result<()> {
        if let Ok(mut c) = self.session_cache.lock() {
            c.remove(session_key);
        }
        self.store.session_delete(session_key).await?;
        Ok(())
    }

    /// Resolve a session key (already checked for presence rules by the caller).
    pub async fn session_principal(
        &self,
        session_key: &str,
        jsession_id: Option<&str>,
    ) -> Result<Option<Principal>> {
        let now = now_millis();
        // Where this server is the database's sole writer, a session and its user are cached
        // for AUTH_CACHE_TTL: every change to users, accounts or roles, and every log-out,
        // clears them here, and a cached session still ends at its own expiry. With several
        // servers every request reads them, so a log-out or disable elsewhere holds at once.
        let cache = self.store.is_sole_writer();
        let hit = cache
            .then(|| self.session_cache.lock().ok())
            .flatten()
            .and_then(|c| {
                c.get(session_key)
                    .filter(|(s, _, at)| at.elapsed() < AUTH_CACHE_TTL && s.expires > now)
                    .map(|(s, p, _)| (s.clone(), p.clone()))
            });
        let (mut s, p) = match hit {
            Some(hit) => hit,
            None => {
                let Some(s) = self.store.session_get(session_key, now).await? else {
                    if let Ok(mut c) = self.session_cache.lock() {
                        c.remove(session_key);
                    }
                    return Ok(None);
                };
                let Some(p) = self.store.principal_get(s.user_id).await? else {
                    return Ok(None);
                };
                if let Some(mut c) = cache.then(|| self.session_cache.lock().ok()).flatten() {
                    if c.len() > 10_000 {
                        c.clear();
                    }
                    c.insert(
                        session_key.to_string(),
                        (s.clone(), p.clone(), std::time::Instant::now()),
                    );
                }
                (s, p)
            }
        };
        if let Some(j) = jsession_id {
            let j = j.split('.').next().unwrap_or(j);
            if j != s.jsession_id {
                return Ok(None);
            }
        }
        // Slide the expiry, at most once a minute.
        let timeout = self.setting_i64(setting::SESSION_TIMEOUT) * 1000;
        if s.expires - now < timeout - 60_000 {
            self.store.session_touch(session_key, now + timeout).await?;
            s.expires = now + timeout;
            if let Some(entry) = cache
                .then(|| self.session_cache.lock().ok())
                .flatten()
                .as_mut()
                .and_then(|c| c.get_mut(session_key))
            {
                entry.0.expires = s.expires;
            }
        }
        Ok(Some(p).filter(|p| p.user.state.is_enabled() && p.account.state.is_enabled()))
    }

    /// Verify a signed request; `None` when the key is unknown or the signature is wrong.
    /// Where this server is the database's sole writer, key lookups are cached for
    /// [`AUTH_CACHE_TTL`] and every change to users, accounts or keys clears the cache; with
    /// several servers every request looks its key up, so a disable or delete on any server
    /// holds on all of them at the next request.
    pub async fn apikey_principal(&self, pairs: &[(String, String)]) -> Result<Option<Principal>> {
        let Some(key) = trellis_api::signature::api_key(pairs) else {
            return Ok(None);
        };
        // With other servers writing the same database, a cached key could outlive a
        // disable or delete made there: look it up every time.
        let cache = self.store.is_sole_writer();
        let cached = cache
            .then(|| self.auth_cache.lock().ok())
            .flatten()
            .and_then(|c| {
                c.get(key)
                    .filter(|(_, _, at)| at.elapsed() < AUTH_CACHE_TTL)
                    .map(|(p, s, _)| (p.clone(), s.clone()))
            });
        let (principal, secret) = match cached {
            Some(hit) => hit,
            None => {
                let Some(user) = self.store.user_by_api_key(key).await? else {
                    return Ok(None);
                };
                let Some(secret) = user.secret_key.clone() else {
                    return Ok(None);
                };
                let Some(p) = self.store.principal_get(user.id).await? else {
                    return Ok(None);
                };
                if let Some(mut c) = cache.then(|| self.auth_cache.lock().ok()).flatten() {
                    if c.len() > 10_000 {
                        c.clear();
                    }
                    c.insert(
                        key.to_string(),
                        (p.clone(), secret.clone(), std::time::Instant::now()),
                    );
                }
                (p, secret)
            }
        };
        if !principal.user.state.is_enabled() || !principal.account.state.is_enabled() {
            return Ok(None);
        }
        if self.setting_bool(setting::ENFORCE_POST) {
            let v3 = pairs
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("signatureversion") && v == "3");
            if !v3 {
                return Ok(None);
            }
        }
        let lenient = self.setting_bool(setting::SIGNATURE_LENIENT_TILDE);
        if let Err(e) = trellis_api::signature::verify_with(pairs, &secret, now_millis(), lenient) {
            tracing::debug!(reason = %e, "signature rejected");
            return Ok(None);
        }
        Ok(Some(principal))
    }

    /// Generate fresh API keys for a user.
    pub async fn user_register_keys(
        &self,
        caller: &Caller,
        user_uuid: &str,
    ) -> Result<(String, String)> {
        let user =
            self.store.user_by_uuid(user_uuid).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find user by id {user_uuid}"))
            })?;
        self.may_manage_user(caller, &user).await?;
        let api_key = random_b64url(64);
        let secret = random_b64url(64);
        self.store.user_set_keys(user.id, &api_key, &secret).await?;
        self.auth_cache_clear();
        self.event(
            Some(caller),
            "REGISTER.USER.KEY",
            &format!("registered user keys for {}", user.username),
            Some(("User", &user.uuid)),
        )
        .await;
        Ok((api_key, secret))
    }

    pub async fn user_get_keys(
        &self,
        caller: &Caller,
        user_uuid: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let user =
            self.store.user_by_uuid(user_uuid).await?.ok_or_else(|| {
                Error::not_found(format!("Unable to find user by id {user_uuid}"))
            })?;
        self.may_manage_user(caller, &user).await?;
        Ok((user.api_key, user.secret_key))
    }

    /// `getUser`: the user owning `api_key`, if the caller may manage that user. An unknown key
    /// and another tenant's key get the same answer, so the call cannot probe for keys.
    pub async fn user_by_api_key(&self, caller: &Caller, api_key: &str) -> Result<User> {
        let unknown = || Error::invalid_param("User with specified API key does not exist");
        let user = self
            .store
            .user_by_api_key(api_key)
            .await?
            .ok_or_else(unknown)?;
        if self.may_manage_user(caller, &user).await.is_err() {
            return Err(unknown());
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$pbkdf2-sha256$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("other", &h));
    }
}
