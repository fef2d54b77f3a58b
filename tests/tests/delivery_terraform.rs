//! Offline checks of the Terraform stack (`terraform/`): nothing here can be applied on a test
//! machine, so these tests parse the HCL and assert the invariants a release depends on. Each one
//! fails if someone removes what it guards (the listener's `ignore_changes`, the `/health` check,
//! the task role's scope, ...). They also stand in for `terraform validate`, which needs the
//! providers: every `var.`/`local.` reference must be declared, every module argument must exist.
//!
//! The checks are grouped by concern: [`traffic`], [`iam`], [`kms`], [`resources`] and
//! [`wiring`]; the HCL loader and expression helpers are in [`support`].

#[path = "delivery_terraform/support.rs"]
mod support;

#[path = "delivery_terraform/traffic.rs"]
mod traffic;

#[path = "delivery_terraform/iam.rs"]
mod iam;

#[path = "delivery_terraform/resources.rs"]
mod resources;

#[path = "delivery_terraform/wiring.rs"]
mod wiring;

#[path = "delivery_terraform/kms.rs"]
mod kms;
