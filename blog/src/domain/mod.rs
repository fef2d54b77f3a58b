//! The blog's vocabulary, free of HTTP and storage: posts, their keys and timestamps, and the
//! validated input types the handlers build from forms.

pub mod excerpts;
pub mod input;
pub mod markdown;
pub mod post;
pub mod timestamp;

pub use excerpts::Excerpts;
pub use input::{Author, Content, Edit, FieldErrors, FieldLimits, NewPost, Title};
pub use post::{Format, Post, PostId, PostKey, PostSummary};
pub use timestamp::Timestamp;
