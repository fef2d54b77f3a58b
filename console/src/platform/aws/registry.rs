//! CodeBuild builds and ECR images.

use aws_sdk_codebuild::types::{
    EnvironmentVariable, EnvironmentVariableType, SortOrderType, StatusType,
};
use aws_sdk_ecr::types::ImageIdentifier;

use super::AwsPlatform;
use super::calls::Op;
use super::convert::millis;
use crate::platform::{FaultKind, PlatformResult};
use crate::rollout::{Build, BuildPhase, BuildStatus, Image};

const LIST_BUILDS: Op = Op::new("codebuild", "ListBuildsForProject");
const BATCH_GET_BUILDS: Op = Op::new("codebuild", "BatchGetBuilds");
const START_BUILD: Op = Op::new("codebuild", "StartBuild");
const DESCRIBE_IMAGES: Op = Op::new("ecr", "DescribeImages");

/// BatchGetBuilds takes at most 100 ids.
const MAX_BUILDS: usize = 100;

impl AwsPlatform {
    pub(super) async fn read_builds(&self, limit: usize) -> PlatformResult<Vec<Build>> {
        let project = &self.cfg.codebuild_project;
        let listed = self
            .codebuild
            .list_builds_for_project()
            .project_name(project)
            .sort_order(SortOrderType::Descending)
            .send()
            .await
            .map_err(|e| LIST_BUILDS.error(project, e))?;
        let ids: Vec<String> = listed
            .ids()
            .iter()
            .take(limit.min(MAX_BUILDS))
            .cloned()
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .codebuild
            .batch_get_builds()
            .set_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| BATCH_GET_BUILDS.error(project, e))?;
        // Keep ListBuildsForProject's newest-first order.
        let mut builds: Vec<Build> = out.builds().iter().map(build).collect();
        builds.sort_by_key(|b| ids.iter().position(|i| *i == b.id).unwrap_or(usize::MAX));
        Ok(builds)
    }

    /// Starts a build. `RELEASE_TAG` in this process's environment (`RELEASE_TAG=v2 bluegreen
    /// build`, as locally) is passed to the build as an environment override (PLAINTEXT), so
    /// the buildspec also pushes that tag; a tag ECR would refuse is refused here first.
    pub(super) async fn begin_build(
        &self,
        source_version: Option<String>,
    ) -> PlatformResult<Build> {
        let project = &self.cfg.codebuild_project;
        let release_tag = std::env::var("RELEASE_TAG").ok().filter(|t| !t.is_empty());
        let overrides = match release_tag {
            Some(tag) => {
                crate::platform::local::registry::validate_tag(&tag).map_err(|e| {
                    START_BUILD.fail(project, FaultKind::Invalid, format!("RELEASE_TAG: {e}"))
                })?;
                Some(vec![
                    EnvironmentVariable::builder()
                        .name("RELEASE_TAG")
                        .value(tag)
                        .r#type(EnvironmentVariableType::Plaintext)
                        .build()
                        .map_err(|e| {
                            START_BUILD.fail(project, FaultKind::Invalid, e.to_string())
                        })?,
                ])
            }
            None => None,
        };
        let out = self
            .codebuild
            .start_build()
            .project_name(project)
            .set_source_version(source_version)
            .set_environment_variables_override(overrides)
            .send()
            .await
            .map_err(|e| START_BUILD.error(project, e))?;
        out.build_value()
            .map(build)
            .ok_or_else(|| START_BUILD.fail(project, FaultKind::Other, "no build in the answer"))
    }

    pub(super) async fn read_images(&self) -> PlatformResult<Vec<Image>> {
        let repo = &self.cfg.ecr_repository;
        let out = self
            .ecr
            .describe_images()
            .repository_name(repo)
            .max_results(1000)
            .send()
            .await
            .map_err(|e| DESCRIBE_IMAGES.error(repo, e))?;
        let mut images: Vec<Image> = out
            .image_details()
            .iter()
            .map(|d| Image {
                digest: d.image_digest().unwrap_or_default().to_string(),
                tags: d.image_tags().to_vec(),
                size_bytes: d.image_size_in_bytes().and_then(|s| u64::try_from(s).ok()),
                pushed_at: millis(d.image_pushed_at()),
            })
            .collect();
        images.sort_by(|a, b| b.pushed_at.cmp(&a.pushed_at).then(a.digest.cmp(&b.digest)));
        Ok(images)
    }

    /// Checks that `tag` is in the repository; returns the registry (account) id.
    pub(super) async fn registry_of_tag(&self, tag: &str) -> PlatformResult<String> {
        let repo = &self.cfg.ecr_repository;
        let out = self
            .ecr
            .describe_images()
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
            .map_err(|e| {
                let err = DESCRIBE_IMAGES.error(&format!("{repo}:{tag}"), e);
                match err.fault() {
                    Some(FaultKind::NotFound) => DESCRIBE_IMAGES.fail(
                        &format!("{repo}:{tag}"),
                        FaultKind::NotFound,
                        format!("no image tagged `{tag}` in repository `{repo}`; build and push it first"),
                    ),
                    _ => err,
                }
            })?;
        out.image_details()
            .first()
            .and_then(|d| d.registry_id())
            .map(str::to_string)
            .ok_or_else(|| {
                DESCRIBE_IMAGES.fail(
                    &format!("{repo}:{tag}"),
                    FaultKind::NotFound,
                    format!(
                        "no image tagged `{tag}` in repository `{repo}`; build and push it first"
                    ),
                )
            })
    }
}

fn status(s: Option<&StatusType>) -> BuildStatus {
    match s {
        Some(StatusType::Succeeded) => BuildStatus::Succeeded,
        Some(StatusType::Failed) => BuildStatus::Failed,
        Some(StatusType::Fault) => BuildStatus::Fault,
        Some(StatusType::TimedOut) => BuildStatus::TimedOut,
        Some(StatusType::Stopped) => BuildStatus::Stopped,
        Some(StatusType::InProgress) => BuildStatus::InProgress,
        _ => BuildStatus::Queued,
    }
}

fn build(b: &aws_sdk_codebuild::types::Build) -> Build {
    let log_location = b
        .logs()
        .and_then(|l| match (l.group_name(), l.stream_name()) {
            (Some(g), Some(s)) => Some(format!("{g}/{s}")),
            (Some(g), None) => Some(g.to_string()),
            _ => l.deep_link().map(str::to_string),
        });
    Build {
        id: b.id().unwrap_or_default().to_string(),
        number: b.build_number().and_then(|n| u64::try_from(n).ok()),
        status: status(b.build_status()),
        source_version: b.source_version().map(str::to_string),
        resolved_source: b.resolved_source_version().map(str::to_string),
        started_at: millis(b.start_time()),
        ended_at: millis(b.end_time()),
        phases: b
            .phases()
            .iter()
            .map(|p| BuildPhase {
                name: p
                    .phase_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                status: match p.phase_status() {
                    None if p.end_time().is_none() => BuildStatus::InProgress,
                    s => status(s),
                },
                started_at: millis(p.start_time()),
                ended_at: millis(p.end_time()),
                duration_ms: p
                    .duration_in_seconds()
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|s| s * 1000),
                context: p
                    .contexts()
                    .iter()
                    .filter_map(|c| {
                        let text = [c.status_code(), c.message()]
                            .into_iter()
                            .flatten()
                            .filter(|s| !s.is_empty())
                            .collect::<Vec<_>>()
                            .join(": ");
                        (!text.is_empty()).then_some(text)
                    })
                    .collect(),
            })
            .collect(),
        log_location,
        exported: b
            .exported_environment_variables()
            .iter()
            .filter_map(|v| {
                Some((
                    v.name()?.to_string(),
                    v.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}
