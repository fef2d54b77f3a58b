//! A release's smoke checks on AWS, from where they can reach the idle color
//! (`[profiles.X.smoke]`, [`SmokeFrom`]):
//!
//! - `here` (the default): one plain-HTTP GET per check from this machine through the test
//!   listener (its load balancer's DNS name and port). An internal load balancer, a test
//!   listener closed to this machine (`test_ingress_cidrs = []`) or an HTTPS one cannot be
//!   reached so; `bluegreen doctor` says whether it can ([`reach`]).
//! - `url`: the same GETs at the profile's `url` (a VPN or bastion address, say).
//! - `task`: inside the VPC, one `RunTask` of the idle color's own task definition (the
//!   revision just deployed) in its service's network configuration and launch type, its
//!   container's command overridden by the profile's `command` followed by each check's URL
//!   through the test listener (and, for checkers that want them, `BLUEGREEN_SMOKE_URL` and
//!   `BLUEGREEN_SMOKE_CHECKS` as JSON in its environment). The task is awaited (DescribeTasks
//!   every [`TASK_POLL`], at most [`TASK_TIMEOUT`], then StopTask); its container's exit code
//!   decides; its log lines (awslogs, `PREFIX/CONTAINER/TASK_ID`) are read with
//!   FilterLogEvents and shown.
//! - `skip`: not at all; the profile's reason is journaled with each release.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerOverride, KeyValuePair, TaskOverride};
use aws_sdk_elasticloadbalancingv2::types::ProtocolEnum;

use super::AwsPlatform;
use super::calls::Op;
use crate::config::SmokeFrom;
use crate::platform::http::{SmokeFailure, smoke_get};
use crate::platform::{FaultKind, PlatformError, PlatformResult, SmokeAnswer, SmokeRun};
use crate::rollout::{Color, SmokeCheck};

const DESCRIBE_LISTENERS: Op = Op::new("elbv2", "DescribeListeners");
const DESCRIBE_LOAD_BALANCERS: Op = Op::new("elbv2", "DescribeLoadBalancers");
const RUN_TASK: Op = Op::new("ecs", "RunTask");
const DESCRIBE_TASKS: Op = Op::new("ecs", "DescribeTasks");
const STOP_TASK: Op = Op::new("ecs", "StopTask");
const FILTER_LOG_EVENTS: Op = Op::new("logs", "FilterLogEvents");

/// `startedBy` of the smoke task (ECS allows 36 characters): `ListTasks --started-by` finds it.
pub const STARTED_BY: &str = "bluegreen-smoke";
/// How often the smoke task is looked at while it runs.
pub const TASK_POLL: Duration = Duration::from_secs(2);
/// How long the smoke task may take from RunTask to STOPPED (pulling the image included)
/// before it is stopped and the smoke test fails.
pub const TASK_TIMEOUT: Duration = Duration::from_secs(600);
/// How long after the task stopped its lines may still arrive (awslogs ships every 5 s).
const LOG_GRACE: Duration = Duration::from_secs(10);
/// The task's log lines read at most.
const MAX_LINES: usize = 200;

/// The test listener's address: (`https`, load balancer DNS name, port).
pub(crate) async fn test_listener_address(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
) -> PlatformResult<(bool, String, u16)> {
    let out = elb
        .describe_listeners()
        .listener_arns(arn)
        .send()
        .await
        .map_err(|e| DESCRIBE_LISTENERS.error(arn, e))?;
    let l = out.listeners().first().ok_or_else(|| {
        DESCRIBE_LISTENERS.fail(arn, FaultKind::NotFound, "test listener not found")
    })?;
    let https = l.protocol() == Some(&ProtocolEnum::Https);
    let port = l
        .port()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| DESCRIBE_LISTENERS.fail(arn, FaultKind::Invalid, "no port"))?;
    let lb = l.load_balancer_arn().unwrap_or_default().to_string();
    let out = elb
        .describe_load_balancers()
        .load_balancer_arns(lb.clone())
        .send()
        .await
        .map_err(|e| DESCRIBE_LOAD_BALANCERS.error(&lb, e))?;
    let dns = out
        .load_balancers()
        .first()
        .and_then(|b| b.dns_name())
        .ok_or_else(|| DESCRIBE_LOAD_BALANCERS.fail(&lb, FaultKind::NotFound, "no DNS name"))?;
    Ok((https, dns.to_string(), port))
}

/// One plain-HTTP GET of `path` at `host:port` within `timeout`: the smoke client, and the
/// doctor's reachability check. `Err` says what failed (resolve, connect, answer, time).
pub(crate) async fn get(
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<SmokeAnswer, String> {
    let addr = async {
        tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))
    };
    smoke_get(addr, path, timeout).await.map_err(|e| match e {
        SmokeFailure::TimedOut => format!("no answer within {} s", timeout.as_secs()),
        SmokeFailure::Failed(e) => e,
    })
}

impl AwsPlatform {
    fn test_listener_arn(&self) -> PlatformResult<&str> {
        self.test_listener.as_deref().ok_or_else(|| {
            PlatformError::Config(format!(
                "profile `{}` has no test_listener: the smoke test needs one to reach the idle color alone (or set [profiles.{}.smoke] from = \"url\" or \"skip\")",
                self.profile, self.profile
            ))
        })
    }

    /// Where a GET of a check goes from here: (host, port, path prefix).
    async fn smoke_address(&self) -> PlatformResult<(String, u16, String)> {
        if let SmokeFrom::Url(url) = &self.cfg.smoke_from {
            return crate::config::smoke::url_parts(url).ok_or_else(|| {
                PlatformError::Config(format!(
                    "[profiles.{}.smoke] url `{url}` is not http://HOST[:PORT]",
                    self.profile
                ))
            });
        }
        let arn = self.test_listener_arn()?;
        let (https, host, port) = test_listener_address(&self.elb, arn).await?;
        if https {
            return Err(DESCRIBE_LISTENERS.fail(
                arn,
                FaultKind::Invalid,
                format!(
                    "the test listener is HTTPS, and the console's smoke client speaks plain HTTP: run the checks inside the VPC ([profiles.{p}.smoke] from = \"task\"), name an HTTP address (from = \"url\"), or skip them with a reason (from = \"skip\")",
                    p = self.profile
                ),
            ));
        }
        Ok((host, port, String::new()))
    }

    pub(super) async fn smoke(&self, path: &str, timeout: Duration) -> PlatformResult<SmokeAnswer> {
        let (host, port, prefix) = self.smoke_address().await?;
        let path = format!("{prefix}{path}");
        let what = format!("GET http://{host}:{port}{path}");
        get(&host, port, &path, timeout).await.map_err(|e| {
            if e.starts_with("no answer within") {
                PlatformError::TimedOut {
                    what: what.clone(),
                    after_secs: timeout.as_secs(),
                }
            } else {
                PlatformError::call("http:smoke", &what, FaultKind::Unavailable, e)
            }
        })
    }

    pub(super) async fn smoke_elsewhere_run(
        &self,
        color: Color,
        checks: &[SmokeCheck],
    ) -> PlatformResult<Option<SmokeRun>> {
        match &self.cfg.smoke_from {
            SmokeFrom::Here | SmokeFrom::Url(_) => Ok(None),
            SmokeFrom::Skip { reason } => Ok(Some(SmokeRun::Skipped {
                reason: reason.clone(),
            })),
            SmokeFrom::Task { command } => self.smoke_task(color, checks, command).await.map(Some),
        }
    }

    /// The checks in a one-off task of `color`'s own task definition (see the module's doc).
    async fn smoke_task(
        &self,
        color: Color,
        checks: &[SmokeCheck],
        command: &[String],
    ) -> PlatformResult<SmokeRun> {
        let arn = self.test_listener_arn()?;
        let (https, host, port) = test_listener_address(&self.elb, arn).await?;
        let base = format!("{}://{host}:{port}", if https { "https" } else { "http" });
        let services = self.read_services().await?;
        let service = services.get(color);
        let task_definition = service.task_definition().unwrap_or_default().to_string();
        let def = self.describe_task_def(&task_definition).await?;
        let family = def.family().unwrap_or_default().to_string();
        let container = def.container_definitions()
            [self.deploy_container(def.container_definitions(), &family)?]
        .name()
        .unwrap_or_default()
        .to_string();
        let mut args = command.to_vec();
        args.extend(checks.iter().map(|c| format!("{base}{}", c.path)));
        let checks_json = serde_json::to_string(checks).unwrap_or_default();
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&container)
                    .set_command(Some(args))
                    .environment(
                        KeyValuePair::builder()
                            .name("BLUEGREEN_SMOKE_URL")
                            .value(&base)
                            .build(),
                    )
                    .environment(
                        KeyValuePair::builder()
                            .name("BLUEGREEN_SMOKE_CHECKS")
                            .value(checks_json)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let strategy = service.capacity_provider_strategy().to_vec();
        let out = self
            .ecs
            .run_task()
            .cluster(&self.cfg.cluster)
            .task_definition(&task_definition)
            .count(1)
            .started_by(STARTED_BY)
            .set_network_configuration(service.network_configuration().cloned())
            .set_launch_type(if strategy.is_empty() {
                service.launch_type().cloned()
            } else {
                None
            })
            .set_capacity_provider_strategy((!strategy.is_empty()).then_some(strategy))
            .set_platform_version(service.platform_version().map(str::to_string))
            .overrides(overrides)
            .send()
            .await
            .map_err(|e| RUN_TASK.error(&task_definition, e))?;
        let task_arn = match out.tasks().first().and_then(|t| t.task_arn()) {
            Some(a) => a.to_string(),
            None => {
                let why = out
                    .failures()
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}",
                            f.reason().unwrap_or("no reason"),
                            f.detail().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(RUN_TASK.fail(
                    &task_definition,
                    FaultKind::Unavailable,
                    format!("no smoke task started: {why}"),
                ));
            }
        };
        let task = task_arn.rsplit('/').next().unwrap_or_default().to_string();
        let (exit_code, why) = self.await_stopped(&task_arn, &container).await?;
        let res = self.cfg.colors.get(color);
        let stream = format!("{}/{container}/{task}", res.log_stream_prefix);
        let lines = self.task_lines(&res.log_group, &stream).await;
        Ok(SmokeRun::Task {
            task,
            exit_code,
            why,
            lines,
        })
    }

    /// Waits for the task to stop: its container's exit code, and how it stopped.
    async fn await_stopped(
        &self,
        task_arn: &str,
        container: &str,
    ) -> PlatformResult<(Option<i32>, String)> {
        let started = Instant::now();
        loop {
            tokio::time::sleep(TASK_POLL).await;
            let out = self
                .ecs
                .describe_tasks()
                .cluster(&self.cfg.cluster)
                .tasks(task_arn)
                .send()
                .await
                .map_err(|e| DESCRIBE_TASKS.error(task_arn, e))?;
            if let Some(t) = out.tasks().first()
                && t.last_status() == Some("STOPPED")
            {
                let c = t.containers().iter().find(|c| c.name() == Some(container));
                let exit = c.and_then(|c| c.exit_code());
                let mut why = match exit {
                    Some(code) => format!("exit code {code}"),
                    None => "stopped without an exit code".to_string(),
                };
                if let Some(r) = c.and_then(|c| c.reason()).filter(|r| !r.is_empty()) {
                    why.push_str(&format!(" ({r})"));
                }
                if exit.is_none()
                    && let Some(r) = t.stopped_reason().filter(|r| !r.is_empty())
                {
                    why.push_str(&format!(": {r}"));
                }
                return Ok((exit, why));
            }
            if started.elapsed() >= TASK_TIMEOUT {
                let stop = self
                    .ecs
                    .stop_task()
                    .cluster(&self.cfg.cluster)
                    .task(task_arn)
                    .reason("bluegreen: the smoke task ran too long")
                    .send()
                    .await;
                if let Err(e) = stop {
                    tracing::warn!(
                        "the smoke task could not be stopped: {}",
                        STOP_TASK.error(task_arn, e)
                    );
                }
                return Err(PlatformError::TimedOut {
                    what: format!("smoke task {task_arn} to stop (it was stopped)"),
                    after_secs: TASK_TIMEOUT.as_secs(),
                });
            }
        }
    }

    /// The smoke task's log lines, oldest first: read again while none has arrived yet, for
    /// at most [`LOG_GRACE`] (awslogs delivers late).
    async fn task_lines(&self, group: &str, stream: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            let out = self
                .logs
                .filter_log_events()
                .log_group_name(group)
                .log_stream_names(stream)
                .limit(MAX_LINES as i32)
                .send()
                .await;
            match out {
                Ok(o) if !o.events().is_empty() => {
                    return o
                        .events()
                        .iter()
                        .filter_map(|e| e.message())
                        .map(|m| crate::format::terminal_safe(m.trim_end()).into_owned())
                        .collect();
                }
                Ok(_) => {}
                Err(e) => {
                    let e = FILTER_LOG_EVENTS.error(stream, e);
                    if e.fault() != Some(FaultKind::NotFound) {
                        return vec![format!("(its log lines could not be read: {e})")];
                    }
                }
            }
            if started.elapsed() >= LOG_GRACE {
                return Vec::new();
            }
            tokio::time::sleep(TASK_POLL).await;
        }
    }
}
