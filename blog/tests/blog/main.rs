//! The blog's tests, one binary (each test binary links the whole blog and its dependencies
//! again): the router and sign-in through `app(state).oneshot(..)`, keyset paging on a real
//! SQLite store, and the server over real loopback TCP.

mod auth;
mod paging;
mod router;
mod server;
mod smoke;
mod support;
