//! Every AWS API operation the adapter calls, with the IAM action it needs. The operator's IAM
//! policy in `terraform/` is tested against this list, so keep it exact: add an entry with
//! every new call, remove it with the last use.

/// `(service, SDK operation, IAM action)`.
pub const OPERATIONS: &[(&str, &str, &str)] = &[];
