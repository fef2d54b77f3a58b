//! Password hashing: argon2id (RFC 9106) through the RustCrypto `argon2` crate, stored as PHC
//! strings, so a hash carries its own parameters and a later cost change keeps old hashes
//! valid.
//!
//! Hashing is deliberately slow and memory-hungry, so it never runs on the async workers: every
//! hash runs on one thread of its own, at most [`Passwords::concurrency`] at a time, and that
//! thread runs at a lower scheduling priority ([`HASH_NICE`]). A burst of sign-ins therefore
//! queues for one core, and yields even that core to the readers whenever they need it: under
//! load a sign-in takes longer, reading does not.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// The cost: OWASP's first argon2id choice (19 MiB, 2 passes, 1 lane). Measured on this
/// project's 2-core machines at about 25 ms per hash in a release build (docs/blog.md,
/// "Authors and sign-in").
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// Passwords shorter than this are refused when set.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longer input is refused before hashing, so a huge body cannot buy extra hashing time.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// How long a sign-in waits for a hashing slot before the blog says it is busy.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// How much lower the hashing thread's priority is than the server's (a nice value, per thread
/// on Linux; at most 19). At 10 the scheduler gives it about a tenth of a core the readers also
/// want, and all of an idle one.
pub const HASH_NICE: i32 = 10;

/// One hash (or verification) for the hashing thread.
type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("too many sign-ins are being checked at once; try again in a moment")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The hasher with its cost and its queue.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    slots: Arc<Semaphore>,
    /// A hash of a random password, checked when the name is unknown, so an unknown name
    /// takes as long as a wrong password.
    decoy: Arc<String>,
    /// The hashing thread's queue: the thread ends when the last clone is dropped.
    jobs: std::sync::mpsc::Sender<Job>,
}

/// Starts the hashing thread, at [`HASH_NICE`]. A priority that cannot be lowered is logged;
/// hashing still works.
fn hashing_thread() -> Result<std::sync::mpsc::Sender<Job>, PasswordError> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("argon2".into())
        .spawn(move || {
            let me = rustix::thread::gettid();
            let base = rustix::process::getpriority_process(Some(me)).unwrap_or(0);
            let lower = base.saturating_add(HASH_NICE).min(19);
            if let Err(e) = rustix::process::setpriority_process(Some(me), lower) {
                tracing::warn!("cannot lower the password hashing thread's priority: {e}");
            }
            for job in queue {
                job();
            }
        })
        .map_err(|e| PasswordError::Hash(format!("cannot start the hashing thread: {e}")))?;
    Ok(jobs)
}

impl Passwords {
    /// The production cost.
    pub fn new() -> Result<Self, PasswordError> {
        Self::with_cost(MEMORY_KIB, PASSES)
    }

    /// Another cost (tests use the minimum to stay fast; a hash records its cost, so both
    /// verify anywhere).
    pub fn with_cost(memory_kib: u32, passes: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, passes, LANES, None)
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let decoy = hash_with(&params, &hex::encode(rand::random::<[u8; 16]>()))?;
        Ok(Self {
            params,
            slots: Arc::new(Semaphore::new(Self::concurrency())),
            decoy: Arc::new(decoy),
            jobs: hashing_thread()?,
        })
    }

    /// Hashes run at once at most: one, so a burst of sign-ins uses one core of two.
    pub fn concurrency() -> usize {
        1
    }

    /// The password's rules, checked before it is set.
    pub fn check_new(password: &str) -> Result<(), PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(())
    }

    /// A PHC string for `password`, computed on the blocking pool.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        Self::check_new(&password)?;
        let params = self.params.clone();
        self.blocking(move || hash_with(&params, &password)).await?
    }

    /// Whether `password` matches `stored` (a PHC string), or, with no account, the decoy
    /// (always false, after the same work).
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.decoy.as_ref().clone());
        let matched = self
            .blocking(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return false;
                };
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .await?;
        Ok(known && matched)
    }

    async fn blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, PasswordError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
            drop(permit);
        });
        self.jobs
            .send(job)
            .map_err(|_| PasswordError::Hash("the hashing thread has stopped".into()))?;
        rx.await
            .map_err(|_| PasswordError::Hash("the hashing thread dropped a hash".into()))
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_record_their_cost() {
        let passwords = Passwords::new().expect("params");
        let started = std::time::Instant::now();
        let hash = passwords
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        eprintln!(
            "one argon2id hash at the production cost: {:?}",
            started.elapsed()
        );
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("correct horse battery".into(), None)
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn hashes_run_on_one_thread_of_lower_priority() {
        let passwords = Passwords::with_cost(8, 1).expect("params");
        let (name, nice) = passwords
            .blocking(|| {
                let me = rustix::thread::gettid();
                (
                    std::thread::current().name().map(str::to_string),
                    rustix::process::getpriority_process(Some(me)).ok(),
                )
            })
            .await
            .expect("ran");
        assert_eq!(name.as_deref(), Some("argon2"));
        let here = rustix::process::getpriority_process(None).expect("own priority");
        assert_eq!(
            nice,
            Some((here + HASH_NICE).min(19)),
            "lowered from {here}"
        );
    }

    #[test]
    fn new_passwords_have_rules() {
        assert!(matches!(
            Passwords::check_new("short"),
            Err(PasswordError::TooShort)
        ));
        assert!(matches!(
            Passwords::check_new(&"x".repeat(2000)),
            Err(PasswordError::TooLong)
        ));
        assert!(Passwords::check_new("long enough now").is_ok());
    }
}
