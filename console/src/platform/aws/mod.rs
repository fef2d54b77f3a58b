//! The AWS adapter: aws-sdk-rust clients for CodeBuild, ECR, ECS, ELBv2, CloudWatch Logs and
//! CloudWatch metrics.

pub mod iam;
