//! A post's HTML, made off the async workers when the post is long: the Markdown pipeline is
//! linear in a post the blog accepts (nesting is bounded, `domain::markdown`), but a 100 KB
//! post still takes milliseconds, and the workers also answer `/health` and every other
//! request. Long posts render on the blocking pool, a few at a time, so readers of long posts
//! wait for each other and nobody else waits for them (issue 27, item 2).

use std::sync::{Arc, LazyLock};

use tokio::sync::Semaphore;

use crate::domain::Format;
use crate::web::AppError;

/// Posts up to this long render on the worker that asked (well under a millisecond).
pub const INLINE_BYTES: usize = 16 * 1024;
/// Long posts rendered at once, on the blocking pool (SQLite's writes use it too).
pub const AT_ONCE: usize = 2;

static RENDERS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(AT_ONCE));

/// `work()`, on the blocking pool when it is about `bytes` of text over [`INLINE_BYTES`] (a
/// post's validation parses its Markdown once), a few at a time like renders.
pub async fn off_workers<T: Send + 'static>(
    bytes: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    if bytes <= INLINE_BYTES {
        return Ok(work());
    }
    let _permit = RENDERS.acquire().await;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Failed(e.to_string()))
}

/// `format.to_html(content)`, on the blocking pool when `content` is long.
pub async fn body_html(format: Format, content: &str) -> String {
    if content.len() <= INLINE_BYTES {
        return format.to_html(content);
    }
    // The semaphore is never closed, so the permit always comes.
    let _permit = RENDERS.acquire().await;
    let text: Arc<str> = content.into();
    let owned = Arc::clone(&text);
    match tokio::task::spawn_blocking(move || format.to_html(&owned)).await {
        Ok(html) => html,
        Err(e) => {
            // A render that panicked shows the text as plain text rather than failing the page.
            tracing::error!(error = %e, "rendering a post failed; showing it as plain text");
            Format::Plain.to_html(&text)
        }
    }
}
