//! Sessions as signed, expiring cookies: no server-side session table, so a reader signed in
//! on blue stays signed in when the next request lands on green, as long as every process has
//! the same signing key (docs/blog.md, "Sessions across processes").
//!
//! The cookie holds `v1.NAME_HEX.EPOCH.EXPIRES.SID.MAC`: the account, the account's session
//! epoch when it was issued, the expiry (Unix seconds), a random session id, and an HMAC-SHA256
//! of all that. A valid MAC and expiry are not enough: the account must still exist with the
//! same epoch, and changing the password or signing out everywhere bumps the epoch, which
//! ends every older session at once in every process.
//!
//! CSRF tokens of signed-in forms are bound to the session: an HMAC of the session id under
//! the same key, so a token is worthless with any other session, and no cookie a client can
//! plant yields one.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A session lasts this long from sign-in unless `BLOG_SESSION_TTL` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
pub const MIN_SECRET_BYTES: usize = 16;
const SID_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
#[error("BLOG_SESSION_SECRET is {0} bytes long; use at least {MIN_SECRET_BYTES} random bytes")]
pub struct WeakSessionSecret(usize);

/// Where the signing key came from, for the start-up log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `BLOG_SESSION_SECRET`.
    Session,
    /// Derived from `BLOG_CSRF_SECRET`, which the local platform gives every task.
    Csrf,
    /// Random for this process: sessions do not survive a switch to another process.
    Random,
}

pub struct Sessions {
    key: Vec<u8>,
    ttl: Duration,
    source: KeySource,
}

/// A session cookie whose signature and expiry hold (the account is checked by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub name: String,
    pub epoch: u64,
    pub expires: u64,
    pub sid: String,
}

/// What a session cookie turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Valid(Session),
    /// Well signed but past its expiry: the reader was signed in and is no longer.
    Expired,
    /// Not ours (tampered, another key, malformed).
    Invalid,
}

impl Sessions {
    /// The key from `BLOG_SESSION_SECRET`, else derived from `BLOG_CSRF_SECRET`, else random.
    pub fn new(
        session_secret: Option<&str>,
        csrf_secret: Option<&str>,
        ttl: Duration,
    ) -> Result<Self, WeakSessionSecret> {
        let (key, source) = match (given(session_secret), given(csrf_secret)) {
            (Some(s), _) if s.len() < MIN_SECRET_BYTES => return Err(WeakSessionSecret(s.len())),
            (Some(s), _) => (s.to_vec(), KeySource::Session),
            (None, Some(csrf)) => (
                mac(csrf, b"blog session key")
                    .finalize()
                    .into_bytes()
                    .to_vec(),
                KeySource::Csrf,
            ),
            (None, None) => (rand::random::<[u8; 32]>().to_vec(), KeySource::Random),
        };
        Ok(Self { key, ttl, source })
    }

    pub fn source(&self) -> KeySource {
        self.source
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for `name` at `epoch`, issued at `now` (Unix seconds).
    pub fn issue(&self, name: &str, epoch: u64, now: u64) -> (Session, String) {
        let session = Session {
            name: name.to_string(),
            epoch,
            expires: now.saturating_add(self.ttl.as_secs()),
            sid: hex::encode(rand::random::<[u8; SID_BYTES]>()),
        };
        let body = format!(
            "v1.{}.{}.{}.{}",
            hex::encode(name.as_bytes()),
            session.epoch,
            session.expires,
            session.sid
        );
        let tag = hex::encode(mac(&self.key, body.as_bytes()).finalize().into_bytes());
        (session, format!("{body}.{tag}"))
    }

    /// Reads a cookie value at `now`.
    pub fn check(&self, value: &str, now: u64) -> Check {
        let Some((body, tag)) = value.rsplit_once('.') else {
            return Check::Invalid;
        };
        let Ok(tag) = hex::decode(tag) else {
            return Check::Invalid;
        };
        if mac(&self.key, body.as_bytes()).verify_slice(&tag).is_err() {
            return Check::Invalid;
        }
        let parts: Vec<&str> = body.split('.').collect();
        let [version, name, epoch, expires, sid] = parts[..] else {
            return Check::Invalid;
        };
        let parsed = (
            version == "v1",
            hex::decode(name)
                .ok()
                .and_then(|n| String::from_utf8(n).ok()),
            epoch.parse::<u64>().ok(),
            expires.parse::<u64>().ok(),
        );
        let (true, Some(name), Some(epoch), Some(expires)) = parsed else {
            return Check::Invalid;
        };
        if expires <= now {
            return Check::Expired;
        }
        Check::Valid(Session {
            name,
            epoch,
            expires,
            sid: sid.to_string(),
        })
    }

    /// The CSRF token for forms shown in session `sid`.
    pub fn csrf_token(&self, sid: &str) -> String {
        let mut m = mac(&self.key, b"csrf\0");
        m.update(sid.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// Whether `submitted` is the CSRF token of session `sid`.
    pub fn verify_csrf(&self, sid: &str, submitted: &str) -> bool {
        let Ok(tag) = hex::decode(submitted) else {
            return false;
        };
        let mut m = mac(&self.key, b"csrf\0");
        m.update(sid.as_bytes());
        m.verify_slice(&tag).is_ok()
    }
}

fn given(secret: Option<&str>) -> Option<&[u8]> {
    secret.map(str::as_bytes).filter(|s| !s.is_empty())
}

/// HMAC-SHA256 of `data` under `key`, to finish or verify.
pub(crate) fn mac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(data);
    m
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(secret: &str) -> Sessions {
        Sessions::new(Some(secret), None, Duration::from_secs(60)).expect("secret")
    }

    #[test]
    fn a_cookie_from_one_process_is_valid_in_another_with_the_same_key() {
        let blue = sessions("a shared session secret");
        let green = sessions("a shared session secret");
        let (session, cookie) = blue.issue("Ann B.", 3, 1000);
        assert_eq!(green.check(&cookie, 1001), Check::Valid(session.clone()));
        assert_eq!(green.check(&cookie, 1060), Check::Expired);
        assert_eq!(
            sessions("another secret, long enough").check(&cookie, 1001),
            Check::Invalid
        );
        assert!(green.verify_csrf(&session.sid, &blue.csrf_token(&session.sid)));
        assert!(!green.verify_csrf("other", &blue.csrf_token(&session.sid)));
    }

    #[test]
    fn tampering_is_detected() {
        let s = sessions("a shared session secret");
        let (_, cookie) = s.issue("ann", 0, 1000);
        // Claim another account, another epoch, or a later expiry: the MAC no longer fits.
        let forged = cookie.replacen(&hex::encode("ann"), &hex::encode("admin"), 1);
        assert_eq!(s.check(&forged, 1001), Check::Invalid);
        let later = cookie.replacen(".1060.", ".9999999999.", 1);
        assert_eq!(s.check(&later, 1001), Check::Invalid);
        assert_eq!(s.check("garbage", 1001), Check::Invalid);
        assert_eq!(s.check("", 1001), Check::Invalid);
    }

    #[test]
    fn keys_come_from_the_session_secret_then_the_csrf_secret() {
        let ttl = DEFAULT_TTL;
        assert!(Sessions::new(Some("short"), None, ttl).is_err());
        let a = Sessions::new(None, Some("csrf secret of 16+ bytes"), ttl).expect("derived");
        let b = Sessions::new(None, Some("csrf secret of 16+ bytes"), ttl).expect("derived");
        assert_eq!(a.source(), KeySource::Csrf);
        let (session, cookie) = a.issue("ann", 0, 1000);
        assert_eq!(b.check(&cookie, 1001), Check::Valid(session));
        let random = Sessions::new(None, None, ttl).expect("random");
        assert_eq!(random.source(), KeySource::Random);
        assert_eq!(random.check(&cookie, 1001), Check::Invalid);
    }
}
