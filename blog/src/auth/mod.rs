//! Who is asking: accounts' passwords ([`password`]), signed session cookies ([`session`]),
//! cookie names per scheme ([`cookies`]), the sign-in throttle ([`throttle`]), and the
//! [`Viewer`] every request is tagged with.

pub mod cookies;
pub mod password;
pub mod session;
pub mod throttle;

use std::sync::Arc;

use crate::accounts::{Account, AccountStore};
use crate::store::StoreError;
pub use cookies::Scheme;
pub use password::Passwords;
pub use session::Sessions;
pub use throttle::Throttle;

/// The session cookie's name on plain HTTP (`__Host-blog_session` on HTTPS).
pub const SESSION_COOKIE: &str = "blog_session";

/// Everything sign-in needs, shared by the handlers.
#[derive(Clone)]
pub struct Auth {
    pub accounts: Arc<dyn AccountStore>,
    pub sessions: Arc<Sessions>,
    pub passwords: Passwords,
    pub throttle: Arc<Throttle>,
}

impl Auth {
    pub fn new(accounts: Arc<dyn AccountStore>, sessions: Sessions, passwords: Passwords) -> Self {
        Self {
            accounts,
            sessions: Arc::new(sessions),
            passwords,
            throttle: Arc::new(Throttle::new()),
        }
    }

    /// Who the request's session cookie says is asking, at `now` (Unix seconds). A session is
    /// valid only while its account exists with the epoch it was issued at.
    pub async fn viewer(
        &self,
        headers: &http::HeaderMap,
        scheme: Scheme,
        now: u64,
    ) -> Result<Viewer, StoreError> {
        let Some(value) = cookies::read(headers, &scheme.cookie_name(SESSION_COOKIE)) else {
            return Ok(Viewer::Anonymous { ended: false });
        };
        let session = match self.sessions.check(value, now) {
            session::Check::Valid(session) => session,
            session::Check::Expired => return Ok(Viewer::Anonymous { ended: true }),
            session::Check::Invalid => return Ok(Viewer::Anonymous { ended: false }),
        };
        Ok(match self.accounts.account(&session.name).await? {
            Some(account) if account.session_epoch == session.epoch => Viewer::Author(SignedIn {
                csrf: self.sessions.csrf_token(&session.sid),
                name: account.name,
                admin: account.admin,
                sid: session.sid,
            }),
            _ => Viewer::Anonymous { ended: true },
        })
    }

    /// A new session for `account`: who is now signed in, and the `Set-Cookie` value.
    pub fn start(&self, account: &Account, scheme: Scheme, now: u64) -> (SignedIn, String) {
        let (session, value) = self
            .sessions
            .issue(&account.name, account.session_epoch, now);
        let me = SignedIn {
            csrf: self.sessions.csrf_token(&session.sid),
            name: account.name.clone(),
            admin: account.admin,
            sid: session.sid,
        };
        let cookie = scheme.set_cookie(SESSION_COOKIE, &value, Some(self.sessions.ttl().as_secs()));
        (me, cookie)
    }

    /// The `Set-Cookie` value that ends the session in this browser.
    pub fn end(scheme: Scheme) -> String {
        scheme.set_cookie(SESSION_COOKIE, "", Some(0))
    }
}

/// Who is reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// Not signed in; `ended` when the request carried a session that expired or was ended.
    Anonymous {
        ended: bool,
    },
    Author(SignedIn),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub name: String,
    pub admin: bool,
    pub sid: String,
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

impl Viewer {
    pub fn signed_in(&self) -> Option<&SignedIn> {
        match self {
            Viewer::Author(me) => Some(me),
            Viewer::Anonymous { .. } => None,
        }
    }

    /// Whether this viewer may edit or delete a post by `author`: its author, or an admin.
    /// A post whose author has no account matches no signed-in name, so only admins pass.
    pub fn may_change(&self, author: &str) -> bool {
        self.signed_in()
            .is_some_and(|me| me.admin || me.name == author)
    }
}
