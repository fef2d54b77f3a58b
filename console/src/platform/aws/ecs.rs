//! ECS: services and tasks of both colors (batched: one DescribeServices, one ListTasks, one
//! DescribeTasks, task definitions cached by ARN since they never change), deploy and scale.

use std::collections::HashMap;

use aws_sdk_ecs::types::{ContainerDefinition, HealthStatus, Service, Task, TaskDefinition};

use super::AwsPlatform;
use super::calls::Op;
use super::convert::{count, family_revision, image_ref, millis, repository_of, short_id};
use crate::platform::{DeployReceipt, FaultKind, PlatformResult};
use crate::rollout::{
    Color, Deployment, PerColor, ServiceEvent, ServiceState, TaskHealth, TaskState,
};

const DESCRIBE_SERVICES: Op = Op::new("ecs", "DescribeServices");
const LIST_TASKS: Op = Op::new("ecs", "ListTasks");
const DESCRIBE_TASKS: Op = Op::new("ecs", "DescribeTasks");
const DESCRIBE_TASK_DEFINITION: Op = Op::new("ecs", "DescribeTaskDefinition");
const REGISTER_TASK_DEFINITION: Op = Op::new("ecs", "RegisterTaskDefinition");
const UPDATE_SERVICE: Op = Op::new("ecs", "UpdateService");

/// Service events kept per color.
const EVENTS: usize = 5;

/// What the console needs of a task definition revision.
#[derive(Debug, Clone)]
pub(super) struct TaskDefInfo {
    pub family_revision: String,
    pub revision: u32,
    pub image: Option<String>,
}

/// One task, with the ENI address its target is registered under.
#[derive(Clone)]
pub(super) struct TaskSeen {
    pub color: Color,
    pub state: TaskState,
    pub ip: Option<String>,
}

impl AwsPlatform {
    /// Both colors' services in one call.
    pub(super) async fn read_services(&self) -> PlatformResult<PerColor<Service>> {
        let names = self.cfg.colors.map(|_, r| r.service.clone());
        let out = self
            .ecs
            .describe_services()
            .cluster(&self.cfg.cluster)
            .services(&names.blue)
            .services(&names.green)
            .send()
            .await
            .map_err(|e| DESCRIBE_SERVICES.error(&self.cfg.cluster, e))?;
        let find = |color: Color| {
            let name = names.get(color);
            out.services()
                .iter()
                .find(|s| s.service_name() == Some(name.as_str()))
                .cloned()
                .ok_or_else(|| {
                    let why = out
                        .failures()
                        .iter()
                        .find(|f| f.arn().is_some_and(|a| a.ends_with(&format!("/{name}"))))
                        .and_then(|f| f.reason())
                        .unwrap_or("MISSING");
                    DESCRIBE_SERVICES.fail(
                        &format!("{}/{name}", self.cfg.cluster),
                        FaultKind::NotFound,
                        format!(
                            "{color} service `{name}` not found in cluster `{}` ({why})",
                            self.cfg.cluster
                        ),
                    )
                })
        };
        Ok(PerColor::new(find(Color::Blue)?, find(Color::Green)?))
    }

    /// Every task of the cluster (one ListTasks, one DescribeTasks), sorted into colors by the
    /// `service:NAME` group ECS gives service tasks.
    /// Also returns the calls made (1 or 2).
    pub(super) async fn read_tasks(&self) -> PlatformResult<(Vec<TaskSeen>, u32)> {
        let cluster = &self.cfg.cluster;
        let listed = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .max_results(100)
            .send()
            .await
            .map_err(|e| LIST_TASKS.error(cluster, e))?;
        let arns = listed.task_arns().to_vec();
        if arns.is_empty() {
            return Ok((Vec::new(), 1));
        }
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .map_err(|e| DESCRIBE_TASKS.error(cluster, e))?;
        let mut seen: Vec<TaskSeen> = out
            .tasks()
            .iter()
            .filter_map(|t| {
                let group = t.group()?.strip_prefix("service:")?;
                let color = Color::ALL
                    .into_iter()
                    .find(|c| self.cfg.colors.get(*c).service == group)?;
                Some(self.task_seen(color, t))
            })
            .collect();
        seen.sort_by(|a, b| {
            a.state
                .started_at
                .cmp(&b.state.started_at)
                .then(a.state.id.cmp(&b.state.id))
        });
        Ok((seen, 2))
    }

    fn task_seen(&self, color: Color, t: &Task) -> TaskSeen {
        let (_, revision) = family_revision(t.task_definition_arn().unwrap_or_default());
        let container = self.pick_task_container(t);
        let image = container.and_then(|c| c.image().map(|i| image_ref(i, c.image_digest())));
        let ip = t
            .attachments()
            .iter()
            .flat_map(|a| a.details())
            .find(|d| d.name() == Some("privateIPv4Address"))
            .and_then(|d| d.value())
            .map(str::to_string);
        TaskSeen {
            color,
            ip,
            state: TaskState {
                id: short_id(t.task_arn().unwrap_or_default()).to_string(),
                last_status: t.last_status().unwrap_or("UNKNOWN").to_string(),
                health: match t.health_status() {
                    Some(HealthStatus::Healthy) => TaskHealth::Healthy,
                    Some(HealthStatus::Unhealthy) => TaskHealth::Unhealthy,
                    _ => TaskHealth::Unknown,
                },
                started_at: millis(t.started_at()),
                revision,
                image,
                stopped_reason: t.stopped_reason().map(str::to_string),
            },
        }
    }

    fn pick_task_container<'a>(&self, t: &'a Task) -> Option<&'a aws_sdk_ecs::types::Container> {
        let containers = t.containers();
        if let Some(name) = &self.cfg.container {
            return containers.iter().find(|c| c.name() == Some(name.as_str()));
        }
        containers
            .iter()
            .find(|c| c.image().is_some_and(|i| self.is_repository_image(i)))
            .or(containers.first())
    }

    fn is_repository_image(&self, image: &str) -> bool {
        let repo = repository_of(image);
        repo == self.cfg.ecr_repository || repo.ends_with(&format!("/{}", self.cfg.ecr_repository))
    }

    /// Which container a deploy replaces the image of.
    pub(super) fn deploy_container(
        &self,
        defs: &[ContainerDefinition],
        family: &str,
    ) -> PlatformResult<usize> {
        if let Some(name) = &self.cfg.container {
            return defs
                .iter()
                .position(|c| c.name() == Some(name.as_str()))
                .ok_or_else(|| {
                    DESCRIBE_TASK_DEFINITION.fail(family, FaultKind::Invalid, format!("no container `{name}` in the task definition (set by `container` in the profile)"))
                });
        }
        if let Some(i) = defs
            .iter()
            .position(|c| c.image().is_some_and(|i| self.is_repository_image(i)))
        {
            return Ok(i);
        }
        match defs.len() {
            1 => Ok(0),
            n => Err(DESCRIBE_TASK_DEFINITION.fail(
                family,
                FaultKind::Invalid,
                format!("{n} containers and none runs an image of repository `{}`: name the one to deploy with `container` in the profile", self.cfg.ecr_repository),
            )),
        }
    }

    /// Task definition summaries for the given ARNs, from the cache or one call each; also
    /// returns the calls made.
    pub(super) async fn task_defs(
        &self,
        arns: &[String],
    ) -> PlatformResult<(HashMap<String, TaskDefInfo>, u32)> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        if let Ok(cache) = self.task_defs.lock() {
            for arn in arns {
                match cache.get(arn) {
                    Some(info) => {
                        found.insert(arn.clone(), info.clone());
                    }
                    None if !missing.contains(arn) => missing.push(arn.clone()),
                    None => {}
                }
            }
        }
        let calls = u32::try_from(missing.len()).unwrap_or(u32::MAX);
        let fetched =
            futures::future::join_all(missing.iter().map(|arn| self.describe_task_def(arn))).await;
        for (arn, def) in missing.into_iter().zip(fetched) {
            let def = def?;
            let info = self.summarise(&def);
            if let Ok(mut cache) = self.task_defs.lock() {
                cache.insert(arn.clone(), info.clone());
            }
            found.insert(arn, info);
        }
        Ok((found, calls))
    }

    pub(super) async fn describe_task_def(&self, arn: &str) -> PlatformResult<TaskDefinition> {
        let out = self
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| DESCRIBE_TASK_DEFINITION.error(arn, e))?;
        out.task_definition.ok_or_else(|| {
            DESCRIBE_TASK_DEFINITION.fail(
                arn,
                FaultKind::NotFound,
                "no task definition in the answer",
            )
        })
    }

    fn summarise(&self, def: &TaskDefinition) -> TaskDefInfo {
        let family = def.family().unwrap_or_default();
        let image = self
            .deploy_container(def.container_definitions(), family)
            .ok()
            .and_then(|i| def.container_definitions()[i].image().map(str::to_string));
        TaskDefInfo {
            family_revision: format!("{family}:{}", def.revision()),
            revision: count(def.revision()),
            image,
        }
    }

    /// A service as the domain sees it.
    pub(super) fn service_state(&self, s: &Service, td: Option<&TaskDefInfo>) -> ServiceState {
        let arn = s.task_definition().unwrap_or_default();
        let (family_revision, revision) = family_revision(arn);
        ServiceState {
            name: s.service_name().unwrap_or_default().to_string(),
            desired: count(s.desired_count()),
            running: count(s.running_count()),
            pending: count(s.pending_count()),
            status: s.status().unwrap_or("UNKNOWN").to_string(),
            task_definition: td.map_or(family_revision, |t| t.family_revision.clone()),
            revision: td.map_or(revision, |t| t.revision),
            image: td
                .and_then(|t| t.image.as_deref())
                .map(|i| image_ref(i, None)),
            deployments: s
                .deployments()
                .iter()
                .map(|d| Deployment {
                    id: d.id().unwrap_or_default().to_string(),
                    status: d.status().unwrap_or_default().to_string(),
                    task_definition: family_revision_of(d.task_definition()),
                    desired: count(d.desired_count()),
                    running: count(d.running_count()),
                    pending: count(d.pending_count()),
                    rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                    updated_at: millis(d.updated_at()),
                })
                .collect(),
            events: s
                .events()
                .iter()
                .take(EVENTS)
                .map(|e| ServiceEvent {
                    at: millis(e.created_at()).unwrap_or(0),
                    message: e.message().unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }

    /// Registers a new revision of the color's family with only the image changed, then
    /// points the service at it with `desired` tasks.
    pub(super) async fn deploy_tag(
        &self,
        color: Color,
        tag: &str,
        desired: u32,
    ) -> PlatformResult<DeployReceipt> {
        let res = self.cfg.colors.get(color);
        let registry = self.registry_of_tag(tag).await?;
        let base = self.describe_task_def(&res.task_family).await?;
        let family = base.family().unwrap_or(&res.task_family).to_string();
        let mut containers = base.container_definitions().to_vec();
        let i = self.deploy_container(&containers, &family)?;
        let old_image = containers[i].image().unwrap_or_default().to_string();
        let repo = if self.is_repository_image(&old_image) {
            repository_of(&old_image).to_string()
        } else {
            format!(
                "{registry}.dkr.ecr.{}.amazonaws.com/{}",
                self.region, self.cfg.ecr_repository
            )
        };
        let image = format!("{repo}:{tag}");
        containers[i].image = Some(image.clone());
        let registered = self
            .ecs
            .register_task_definition()
            .family(&family)
            .set_task_role_arn(base.task_role_arn().map(str::to_string))
            .set_execution_role_arn(base.execution_role_arn().map(str::to_string))
            .set_network_mode(base.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(vec_or_none(base.volumes().to_vec()))
            .set_placement_constraints(vec_or_none(base.placement_constraints().to_vec()))
            .set_requires_compatibilities(vec_or_none(base.requires_compatibilities().to_vec()))
            .set_cpu(base.cpu().map(str::to_string))
            .set_memory(base.memory().map(str::to_string))
            .set_pid_mode(base.pid_mode().cloned())
            .set_ipc_mode(base.ipc_mode().cloned())
            .set_proxy_configuration(base.proxy_configuration().cloned())
            .set_inference_accelerators(vec_or_none(base.inference_accelerators().to_vec()))
            .set_ephemeral_storage(base.ephemeral_storage().cloned())
            .set_runtime_platform(base.runtime_platform().cloned())
            .set_enable_fault_injection(base.enable_fault_injection())
            .send()
            .await
            .map_err(|e| REGISTER_TASK_DEFINITION.error(&family, e))?;
        let def = registered.task_definition().ok_or_else(|| {
            REGISTER_TASK_DEFINITION.fail(
                &family,
                FaultKind::Other,
                "no task definition in the answer",
            )
        })?;
        let arn = def.task_definition_arn().unwrap_or_default().to_string();
        let info = self.summarise(def);
        if let Ok(mut cache) = self.task_defs.lock() {
            cache.insert(arn.clone(), info.clone());
        }
        self.ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(&res.service)
            .task_definition(&arn)
            .desired_count(i32::try_from(desired).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| UPDATE_SERVICE.error(&res.service, e))?;
        self.record_service(crate::rollout::WrittenService {
            color,
            desired,
            task_definition: Some(info.family_revision.clone()),
        })
        .await;
        Ok(DeployReceipt {
            color,
            tag: tag.to_string(),
            task_definition: info.family_revision,
            revision: info.revision,
            image,
            desired,
        })
    }

    pub(super) async fn scale_service(&self, color: Color, desired: u32) -> PlatformResult<()> {
        let service = &self.cfg.colors.get(color).service;
        let out = self
            .ecs
            .update_service()
            .cluster(&self.cfg.cluster)
            .service(service)
            .desired_count(i32::try_from(desired).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| UPDATE_SERVICE.error(service, e))?;
        let task_definition = out
            .service()
            .and_then(|s| s.task_definition())
            .map(|arn| family_revision_of(Some(arn)));
        self.record_service(crate::rollout::WrittenService {
            color,
            desired,
            task_definition,
        })
        .await;
        Ok(())
    }
}

fn vec_or_none<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() { None } else { Some(v) }
}

fn family_revision_of(arn: Option<&str>) -> String {
    family_revision(arn.unwrap_or_default()).0
}

/// Joins tasks to targets by the task's ENI address (awsvpc targets are `ip:port`).
pub(super) fn attach_tasks(targets: &mut [crate::rollout::TargetState], tasks: &[TaskSeen]) {
    for t in targets.iter_mut() {
        let ip = t.id.rsplit_once(':').map_or(t.id.as_str(), |(ip, _)| ip);
        t.task_id = tasks
            .iter()
            .find(|s| s.ip.as_deref() == Some(ip))
            .map(|s| s.state.id.clone());
    }
}
