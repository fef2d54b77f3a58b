//! The AWS adapter: aws-sdk-rust clients for CodeBuild, ECR, ECS, ELBv2, CloudWatch Logs and
//! CloudWatch metrics, behind [`crate::platform::Platform`].
//!
//! - Credentials and region come from aws-config's default chain; the profile's `aws_profile`
//!   and `region`, `--aws-profile`, `--region` and `AWS_ENDPOINT_URL` are honoured.
//! - Retries and backoff are the SDK's standard retry mode; errors that survive them become
//!   [`PlatformError`]s naming the call and the resource ([`calls`]).
//! - A full refresh (snapshot + builds + images) costs at most 12 calls: 10 once task
//!   definitions are cached. Every call is counted by an interceptor.
//! - The stable color and a pending bake live in the production listener's tags, so a console
//!   that quits mid-bake leaves a state the next one can finish; a release's record lives in
//!   the lock table ([`release`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_elasticloadbalancingv2::types::Action;

use crate::config::{AwsProfile, ListenerRef};
use crate::platform::{
    DeployReceipt, FaultKind, JournalPage, LockSwap, LogBatch, LogCursor, Platform, PlatformError,
    PlatformInfo, PlatformKind, PlatformResult, SmokeAnswer, WeightChange,
};
use crate::rollout::gate::AlarmState;
use crate::rollout::journal::{Entry, Query};
use crate::rollout::lock::LockRecord;
use crate::rollout::operator::name_from_arn;
use crate::rollout::{
    Bake, Build, Color, ColorMetrics, ColorState, Image, Listener, PerColor, Release, Snapshot,
    TargetState, Weights,
};

mod calls;
mod convert;
mod ecs;
pub mod iam;
mod journal;
mod listener;
mod lock;
mod logs;
mod metrics;
mod registry;
mod release;
pub mod smoke;

pub use calls::Counts;
pub(crate) use calls::Op;
pub(crate) use listener::resolve as resolve_listener;
pub use listener::{TAG_BAKE_OLD, TAG_BAKE_UNTIL, TAG_KEEP_OLD, TAG_STABLE, TAG_WRITTEN};

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--aws-profile`: wins over the profile's `aws_profile` and `AWS_PROFILE`.
    pub aws_profile: Option<String>,
    /// `--region`: wins over the profile's `region` and the environment.
    pub region: Option<String>,
}

/// Credentials, region and endpoint as the adapter loads them: aws-config's default chain
/// with the credentials profile and region that the flags or the profile name.
pub async fn load_sdk_config(cfg: &AwsProfile, opts: &AwsOptions) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = opts.aws_profile.as_ref().or(cfg.aws_profile.as_ref()) {
        loader = loader.profile_name(p);
    }
    if let Some(r) = opts.region.as_ref().or(cfg.region.as_ref()) {
        loader = loader.region(Region::new(r.clone()));
    }
    loader.load().await
}

/// An SDK client of crate `$krate` from a loaded configuration, with retry and timeout
/// settings (and an interceptor, if given).
macro_rules! configured_client {
    ($krate:ident, $sdk:expr, $retry:expr, $timeouts:expr $(, $interceptor:expr)?) => {
        $krate::Client::from_conf(
            $krate::config::Builder::from($sdk)
                .retry_config($retry.clone())
                .timeout_config($timeouts.clone())
                $(.interceptor($interceptor.clone()))?
                .build(),
        )
    };
}
pub(crate) use configured_client;

/// Attempts per call, first included (the SDK's standard mode, with its token bucket).
const MAX_ATTEMPTS: u32 = 4;

/// How long one attempt of a call may take, unless the profile says otherwise.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// The adapter. Cheap to share: `Arc<dyn Platform>`.
pub struct AwsPlatform {
    profile: String,
    cfg: AwsProfile,
    region: String,
    prod_listener: String,
    test_listener: Option<String>,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    ecs: aws_sdk_ecs::Client,
    codebuild: aws_sdk_codebuild::Client,
    ecr: aws_sdk_ecr::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    sts: aws_sdk_sts::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    counts: Arc<Counts>,
    /// Task definitions never change once registered, so they are cached by ARN.
    task_defs: Mutex<HashMap<String, ecs::TaskDefInfo>>,
    /// Each listener's default actions as last read, so a weight change rewrites only the
    /// forward action's weights, and can report the weights before it.
    last_actions: Mutex<HashMap<String, Vec<Action>>>,
    /// The parts of the last snapshot read, for [`Platform::snapshot_keeping`].
    last_parts: Mutex<Parts>,
    /// An older console's release record in the listener's tags was looked for (once).
    tags_moved: std::sync::atomic::AtomicBool,
    /// The account, once the caller identity was read ([`AwsPlatform::caller_name`]): the
    /// header tells prod from staging by it.
    account: std::sync::OnceLock<String>,
}

/// A snapshot's parts as last read: each kept when its own read fails.
#[derive(Clone, Default)]
struct Parts {
    listener: Option<Listener>,
    services: Option<PerColor<aws_sdk_ecs::types::Service>>,
    tasks: Option<Vec<ecs::TaskSeen>>,
    targets: PerColor<Option<Vec<TargetState>>>,
}

/// A part's fresh value, or (`keep`) the last one read with a note of why it is stale.
fn part<T: Clone>(
    fresh: PlatformResult<T>,
    last: &mut Option<T>,
    keep: bool,
    name: &str,
    stale: &mut Vec<String>,
) -> PlatformResult<T> {
    match fresh {
        Ok(v) => {
            *last = Some(v.clone());
            Ok(v)
        }
        Err(e) => match last.as_ref().filter(|_| keep) {
            Some(v) => {
                stale.push(format!("{name} ({e})"));
                Ok(v.clone())
            }
            None => Err(e),
        },
    }
}

impl AwsPlatform {
    /// Loads credentials and region, builds the clients, and resolves listeners given as
    /// `NAME:PORT` (the only calls made here).
    pub async fn connect(
        profile: &str,
        cfg: &AwsProfile,
        opts: &AwsOptions,
    ) -> PlatformResult<Self> {
        Self::with_sdk_config(profile, cfg, &load_sdk_config(cfg, opts).await).await
    }

    /// Builds the clients from a loaded SDK configuration (credentials, region, endpoint),
    /// with the adapter's retry and timeout settings and its call counter.
    pub async fn with_sdk_config(
        profile: &str,
        cfg: &AwsProfile,
        sdk: &aws_config::SdkConfig,
    ) -> PlatformResult<Self> {
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            PlatformError::Config(format!(
                "profile `{profile}`: no AWS region; set `region` in the profile, pass --region, or set AWS_REGION"
            ))
        })?;
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(5));
        let attempt = cfg.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5).min(attempt))
            .operation_attempt_timeout(attempt)
            // Every attempt, plus room for the backoff between them.
            .operation_timeout(attempt * MAX_ATTEMPTS + Duration::from_secs(15))
            .build();
        let counts = Arc::new(Counts::default());
        let counter = calls::Counter(counts.clone());
        macro_rules! client {
            ($krate:ident) => {
                configured_client!($krate, sdk, retry, timeouts, counter)
            };
        }
        let elb = client!(aws_sdk_elasticloadbalancingv2);
        let resolve = |r: &ListenerRef| {
            let elb = elb.clone();
            let r = r.clone();
            async move {
                match r {
                    ListenerRef::Arn(a) => Ok(a),
                    ListenerRef::Port {
                        load_balancer,
                        port,
                    } => listener::resolve(&elb, &load_balancer, port).await,
                }
            }
        };
        let prod_listener = resolve(&cfg.prod_listener).await?;
        let test_listener = match &cfg.test_listener {
            Some(t) => Some(resolve(t).await?),
            None => None,
        };
        Ok(AwsPlatform {
            profile: profile.to_string(),
            cfg: cfg.clone(),
            region,
            prod_listener,
            test_listener,
            ecs: client!(aws_sdk_ecs),
            codebuild: client!(aws_sdk_codebuild),
            ecr: client!(aws_sdk_ecr),
            logs: client!(aws_sdk_cloudwatchlogs),
            cloudwatch: client!(aws_sdk_cloudwatch),
            sts: client!(aws_sdk_sts),
            dynamodb: client!(aws_sdk_dynamodb),
            elb,
            counts,
            task_defs: Mutex::new(HashMap::new()),
            last_actions: Mutex::new(HashMap::new()),
            last_parts: Mutex::new(Parts::default()),
            tags_moved: std::sync::atomic::AtomicBool::new(false),
            account: std::sync::OnceLock::new(),
        })
    }

    /// The caller identity's operator name ([`name_from_arn`]): what the deploy lock and the
    /// journal record when no `--as NAME` is given. One `sts:GetCallerIdentity` call.
    pub async fn caller_name(&self) -> PlatformResult<String> {
        const OP: Op = Op::new("sts", "GetCallerIdentity");
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| OP.error("caller", e))?;
        if let Some(account) = out.account().filter(|a| !a.is_empty()) {
            let _ = self.account.set(account.to_string());
        }
        let arn = out.arn().unwrap_or_default();
        name_from_arn(arn).map(str::to_string).ok_or_else(|| {
            OP.fail(
                "caller",
                FaultKind::Invalid,
                format!("the caller identity `{arn}` names no user or session; give a name with --as NAME or BLUEGREEN_USER"),
            )
        })
    }

    /// Both colors and the listener. With `keep`, a part whose read fails is the one read
    /// last, named in [`Snapshot::stale`] (a view keeps showing what it read); without, any
    /// failure fails the snapshot (what a guard decides on must be fresh).
    async fn read_snapshot(&self, keep: bool) -> PlatformResult<Snapshot> {
        let (listener, services, tasks, blue, green) = tokio::join!(
            self.read_listener(),
            self.read_services(),
            self.read_tasks(),
            self.read_target_health(Color::Blue),
            self.read_target_health(Color::Green),
        );
        let mut last = self
            .last_parts
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        let mut stale = Vec::new();
        let listener = part(listener, &mut last.listener, keep, "listener", &mut stale);
        let services = part(services, &mut last.services, keep, "services", &mut stale);
        let task_calls = tasks.as_ref().map_or(1, |(_, n)| *n);
        let tasks = part(
            tasks.map(|(t, _)| t),
            &mut last.tasks,
            keep,
            "tasks",
            &mut stale,
        );
        let blue = part(
            blue,
            &mut last.targets.blue,
            keep,
            "blue targets",
            &mut stale,
        );
        let green = part(
            green,
            &mut last.targets.green,
            keep,
            "green targets",
            &mut stale,
        );
        if let Ok(mut p) = self.last_parts.lock() {
            *p = last;
        }
        let (listener, services, tasks) = (listener?, services?, tasks?);
        let mut targets = PerColor::new(blue?, green?);
        let arns: Vec<String> = services
            .iter()
            .filter_map(|(_, s)| s.task_definition().map(str::to_string))
            .collect();
        let (defs, def_calls) = match self.task_defs(&arns).await {
            Ok(d) => d,
            Err(e) if keep => {
                stale.push(format!("images of the task definitions ({e})"));
                (HashMap::new(), 1)
            }
            Err(e) => return Err(e),
        };
        let colors = PerColor::from_fn(|color| {
            let service = services.get(color);
            let td = service.task_definition().and_then(|a| defs.get(a));
            let targets = std::mem::take(targets.get_mut(color));
            let mut state = ColorState {
                color,
                service: self.service_state(service, td),
                tasks: tasks
                    .iter()
                    .filter(|t| t.color == color)
                    .map(|t| t.state.clone())
                    .collect(),
                targets,
            };
            ecs::attach_tasks(&mut state.targets, &tasks);
            state
        });
        Ok(Snapshot {
            taken_at: crate::clock::now_millis(),
            listener,
            colors,
            // Counted here rather than from the shared counter, which other pollers move too:
            // DescribeListeners + DescribeTags, DescribeServices, DescribeTargetHealth ×2.
            api_calls: 5 + task_calls + def_calls,
            stale,
        })
    }
}

#[async_trait]
impl Platform for AwsPlatform {
    fn info(&self) -> PlatformInfo {
        PlatformInfo {
            profile: self.profile.clone(),
            kind: PlatformKind::Aws {
                account: self.account.get().cloned(),
                region: self.region.clone(),
            },
            cluster: self.cfg.cluster.clone(),
            finishes_bake: false,
            metrics_resolution_ms: 1,
            metrics_per_period: true,
        }
    }

    async fn snapshot(&self) -> PlatformResult<Snapshot> {
        self.read_snapshot(false).await
    }

    async fn snapshot_keeping(&self) -> PlatformResult<Snapshot> {
        self.read_snapshot(true).await
    }

    async fn listener(&self) -> PlatformResult<Listener> {
        self.read_listener().await
    }

    async fn target_health(&self, color: Color) -> PlatformResult<Vec<TargetState>> {
        self.read_target_health(color).await
    }

    async fn builds(&self, limit: usize) -> PlatformResult<Vec<Build>> {
        self.read_builds(limit).await
    }

    async fn start_build(&self, source_version: Option<String>) -> PlatformResult<Build> {
        self.begin_build(source_version).await
    }

    async fn images(&self) -> PlatformResult<Vec<Image>> {
        self.read_images().await
    }

    async fn deploy(&self, color: Color, tag: &str, desired: u32) -> PlatformResult<DeployReceipt> {
        self.deploy_tag(color, tag, desired).await
    }

    async fn scale(&self, color: Color, desired: u32) -> PlatformResult<()> {
        self.scale_service(color, desired).await
    }

    async fn set_weights(&self, desired: Weights) -> WeightChange {
        self.write_weights(desired).await
    }

    async fn record_stable(&self, stable: Color, bake: Option<Bake>) -> PlatformResult<()> {
        self.write_stable(stable, bake).await
    }

    async fn point_test_listener(&self, color: Color) -> PlatformResult<()> {
        self.write_test_listener(color).await
    }

    async fn read_logs(&self, cursor: &LogCursor, limit: usize) -> PlatformResult<LogBatch> {
        self.read_log_lines(cursor, limit).await
    }

    async fn metrics(&self, window_secs: u64) -> PlatformResult<Option<PerColor<ColorMetrics>>> {
        self.read_metrics(window_secs).await.map(Some)
    }

    async fn release(&self) -> PlatformResult<Option<Release>> {
        self.read_release().await
    }

    async fn record_release(&self, release: &Release) -> PlatformResult<()> {
        self.write_release(release).await
    }

    async fn smoke_get(&self, path: &str, timeout: Duration) -> PlatformResult<SmokeAnswer> {
        self.smoke(path, timeout).await
    }

    async fn smoke_elsewhere(
        &self,
        color: Color,
        checks: &[crate::rollout::SmokeCheck],
    ) -> PlatformResult<Option<crate::platform::SmokeRun>> {
        self.smoke_elsewhere_run(color, checks).await
    }

    async fn alarms(&self, names: &[String]) -> PlatformResult<Vec<(String, AlarmState)>> {
        self.read_alarms(names).await
    }

    fn api_calls(&self) -> u64 {
        self.counts.calls()
    }

    async fn journal_append(&self, entry: &Entry) -> PlatformResult<()> {
        self.put_journal(entry).await
    }

    async fn journal_read(&self, query: &Query) -> PlatformResult<JournalPage> {
        self.query_journal(query).await
    }

    async fn lock_read(&self) -> PlatformResult<Option<LockRecord>> {
        self.read_lock().await
    }

    async fn lock_swap(
        &self,
        expected: Option<&str>,
        new: Option<&LockRecord>,
    ) -> PlatformResult<LockSwap> {
        self.swap_lock(expected, new).await
    }
}
