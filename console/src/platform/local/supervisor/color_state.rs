//! The ECS-shaped view of a color: its service, deployments, tasks and targets as the
//! platform reports them ([`Supervisor::color_state`]), from the supervisor's own records.

use super::health::TargetPhase;
use super::{Release, Supervisor, Task, TaskStatus};
use crate::rollout::{
    Color, ColorState, Deployment, ImageRef, ServiceState, TargetHealth, TargetState, TaskHealth,
    TaskState,
};

impl Supervisor {
    /// One color as the platform reports it.
    pub fn color_state(&self, color: Color) -> ColorState {
        let all = self.lock();
        let svc = all.get(color);
        let rel = svc.spec.release.as_ref();
        let revision = rel.map(|r| r.revision).unwrap_or(0);
        let image_ref = |r: &Release| ImageRef {
            reference: format!("blog:{}", r.tag),
            tag: Some(r.tag.clone()),
            digest: Some(r.digest.to_string()),
        };
        let live = |t: &&Task| t.status != TaskStatus::Stopped;
        let running = svc
            .tasks
            .iter()
            .filter(live)
            .filter(|t| t.status == TaskStatus::Running)
            .count() as u32;
        let pending = svc
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Pending)
            .count() as u32;
        let mut deployments = Vec::new();
        if let Some(r) = rel {
            let mine: Vec<&Task> = svc
                .tasks
                .iter()
                .filter(live)
                .filter(|t| t.release.revision == r.revision)
                .collect();
            let old_running = svc
                .tasks
                .iter()
                .filter(live)
                .any(|t| t.release.revision != r.revision);
            let healthy = mine.iter().filter(|t| t.healthy()).count() as u32;
            deployments.push(Deployment {
                id: format!("blog-{color}:{}", r.revision),
                status: "PRIMARY".into(),
                task_definition: format!("blog-{color}:{}", r.revision),
                desired: svc.spec.desired,
                running: mine
                    .iter()
                    .filter(|t| t.status == TaskStatus::Running)
                    .count() as u32,
                pending: mine
                    .iter()
                    .filter(|t| t.status == TaskStatus::Pending)
                    .count() as u32,
                rollout_state: Some(
                    if old_running || healthy < svc.spec.desired {
                        "IN_PROGRESS"
                    } else {
                        "COMPLETED"
                    }
                    .into(),
                ),
                updated_at: None,
            });
            let mut old_revisions: Vec<&Release> = svc
                .tasks
                .iter()
                .filter(live)
                .filter(|t| t.release.revision != r.revision)
                .map(|t| &t.release)
                .collect();
            old_revisions.sort_by_key(|r| r.revision);
            old_revisions.dedup_by_key(|r| r.revision);
            for old in old_revisions {
                let tasks: Vec<&Task> = svc
                    .tasks
                    .iter()
                    .filter(live)
                    .filter(|t| t.release.revision == old.revision)
                    .collect();
                deployments.push(Deployment {
                    id: format!("blog-{color}:{}", old.revision),
                    status: "ACTIVE".into(),
                    task_definition: format!("blog-{color}:{}", old.revision),
                    desired: 0,
                    running: tasks.len() as u32,
                    pending: 0,
                    rollout_state: None,
                    updated_at: None,
                });
            }
        }
        let tasks = svc
            .tasks
            .iter()
            .map(|t| TaskState {
                id: t.id.clone(),
                last_status: t.status.as_str().into(),
                health: match t.target {
                    Some(TargetPhase::Healthy) => TaskHealth::Healthy,
                    Some(TargetPhase::Unhealthy) => TaskHealth::Unhealthy,
                    _ => TaskHealth::Unknown,
                },
                started_at: Some(t.started_at),
                revision: t.release.revision,
                image: Some(image_ref(&t.release)),
                stopped_reason: if t.status == TaskStatus::Stopped || t.stop_requested {
                    t.stopped_reason.clone()
                } else {
                    None
                },
            })
            .collect();
        let targets = svc
            .tasks
            .iter()
            .filter(|t| t.status != TaskStatus::Stopped)
            .filter_map(|t| {
                let phase = t.target?;
                let up = t.upstream.as_ref()?;
                let (health, reason) = match phase {
                    TargetPhase::Initial => (
                        TargetHealth::Initial,
                        Some("Elb.RegistrationInProgress: health checks in progress".to_string()),
                    ),
                    TargetPhase::Healthy => (TargetHealth::Healthy, None),
                    TargetPhase::Unhealthy => (
                        TargetHealth::Unhealthy,
                        Some(format!(
                            "Target.FailedHealthChecks: {}",
                            t.last_check_error
                                .as_deref()
                                .unwrap_or("health checks failed")
                        )),
                    ),
                    TargetPhase::Draining => (
                        TargetHealth::Draining,
                        Some(format!(
                            "Target.DeregistrationInProgress: {} request(s) in flight",
                            up.inflight()
                        )),
                    ),
                };
                Some(TargetState {
                    id: up.addr.to_string(),
                    task_id: Some(t.id.clone()),
                    health,
                    reason,
                })
            })
            .collect();
        ColorState {
            color,
            service: ServiceState {
                name: format!("blog-{color}"),
                desired: svc.spec.desired,
                running,
                pending,
                status: "ACTIVE".into(),
                task_definition: format!("blog-{color}:{revision}"),
                revision,
                image: rel.map(image_ref),
                deployments,
                events: svc.events.iter().cloned().collect(),
            },
            tasks,
            targets,
        }
    }

    /// Target health of one color (registered, not-stopped tasks).
    pub fn targets(&self, color: Color) -> Vec<TargetState> {
        self.color_state(color).targets
    }
}
