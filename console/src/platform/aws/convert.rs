//! Small conversions from SDK shapes to domain values.

use aws_smithy_types::DateTime;

use crate::rollout::{ImageRef, UnixMillis};

pub fn millis(t: Option<&DateTime>) -> Option<UnixMillis> {
    t.and_then(|t| t.to_millis().ok())
}

pub fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// The last segment of an ARN (`…/cluster/0123abcd` → `0123abcd`).
pub fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `family:revision` from a task definition ARN, and the revision.
pub fn family_revision(arn: &str) -> (String, u32) {
    let tail = short_id(arn);
    let revision = tail
        .rsplit_once(':')
        .and_then(|(_, r)| r.parse().ok())
        .unwrap_or(0);
    (tail.to_string(), revision)
}

/// Splits an image reference into repository, tag and digest.
pub fn image_ref(reference: &str, digest: Option<&str>) -> ImageRef {
    let (name, ref_digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (reference, None),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let tag = name[slash..].split_once(':').map(|(_, t)| t.to_string());
    ImageRef {
        reference: reference.to_string(),
        tag,
        digest: digest.map(str::to_string).or(ref_digest),
    }
}

/// The repository part of an image reference (no tag, no digest).
pub fn repository_of(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].find(':') {
        Some(i) => &name[..slash + i],
        None => name,
    }
}

/// The CloudWatch dimension value of an ELB resource: the ARN's part after `:` and before the
/// resource type, e.g. `targetgroup/blog-blue/0123` or `app/blog/4567`.
pub fn arn_resource(arn: &str) -> &str {
    arn.splitn(6, ':').nth(5).unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let r = image_ref(
            "123.dkr.ecr.us-east-1.amazonaws.com/blog:v2",
            Some("sha256:ab"),
        );
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.digest.as_deref(), Some("sha256:ab"));
        let r = image_ref("localhost:5000/blog@sha256:cd", None);
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some("sha256:cd"));
        assert_eq!(
            repository_of("localhost:5000/blog:v1"),
            "localhost:5000/blog"
        );
        assert_eq!(repository_of("blog@sha256:cd"), "blog");
        assert_eq!(repository_of("blog"), "blog");
    }

    #[test]
    fn arns() {
        assert_eq!(
            family_revision("arn:aws:ecs:us-east-1:1:task-definition/blog-blue:7"),
            ("blog-blue:7".to_string(), 7)
        );
        assert_eq!(short_id("arn:aws:ecs:us-east-1:1:task/blog/0abc"), "0abc");
        assert_eq!(
            arn_resource("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blog-blue/0123"),
            "targetgroup/blog-blue/0123"
        );
    }
}
