//! Offline checks of the Terraform stack (`terraform/`): nothing here can be applied on a test
//! machine, so these tests parse the HCL and assert the invariants a release depends on. Each one
//! fails if someone removes what it guards (the listener's `ignore_changes`, the `/health` check,
//! the task role's scope, ...). They also stand in for `terraform validate`, which needs the
//! providers: every `var.`/`local.` reference must be declared, every module argument must exist.
//!
//! The checks are grouped by concern: [`traffic`], [`iam`], [`kms`], [`resources`] and
//! [`wiring`]; the HCL loader and expression helpers are in the library,
//! [`bluegreen_tests::terraform`].

mod iam;
mod kms;
mod resources;
mod traffic;
mod wiring;
