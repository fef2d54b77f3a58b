//! The doctor's checks of an AWS profile. Besides STS and the policy simulation, it reads the
//! resources with the adapter's own calls (so an operator who may release may also run it),
//! plus `codebuild:BatchGetProjects`, because listing a missing project's builds is no error.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ecs::types::DeploymentControllerType;
use aws_sdk_elasticloadbalancingv2::types::Action;
use aws_sdk_iam::types::PolicyEvaluationDecisionType;

use super::Check;
use crate::config::{AwsProfile, ListenerRef, ReleaseSettings, SmokeFrom};
use crate::platform::aws::{self, AwsOptions, Op, iam};
use crate::platform::{FaultKind, PlatformError};
use crate::rollout::Color;

/// The tag the Terraform stack sets on the production listener next to its `ignore_changes`,
/// so the doctor can tell that an apply will leave the console's weights and tags alone.
pub const TAG_IGNORE_CHANGES: &str = "bluegreen:ignore-changes";

const GET_CALLER_IDENTITY: Op = Op::new("sts", "GetCallerIdentity");
const SIMULATE: Op = Op::new("iam", "SimulatePrincipalPolicy");
const DESCRIBE_SERVICES: Op = Op::new("ecs", "DescribeServices");
const DESCRIBE_TARGET_HEALTH: Op = Op::new("elbv2", "DescribeTargetHealth");
const DESCRIBE_LISTENERS: Op = Op::new("elbv2", "DescribeListeners");
const DESCRIBE_TAGS: Op = Op::new("elbv2", "DescribeTags");
const FILTER_LOG_EVENTS: Op = Op::new("logs", "FilterLogEvents");
const BATCH_GET_PROJECTS: Op = Op::new("codebuild", "BatchGetProjects");
const DESCRIBE_IMAGES: Op = Op::new("ecr", "DescribeImages");
const GET_ITEM: Op = Op::new("dynamodb", "GetItem");
const QUERY: Op = Op::new("dynamodb", "Query");
const DESCRIBE_ALARMS: Op = Op::new("cloudwatch", "DescribeAlarms");

/// How long the doctor waits for the test listener (or the smoke URL) to answer.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);

/// Every alarm the profile's gates name (its own and its plans'), each once, in order.
fn gate_alarms(release: &ReleaseSettings) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let all = release
        .gates
        .alarms
        .iter()
        .chain(release.plans.iter().flat_map(|p| p.gates.alarms.iter()));
    for n in all {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// The gates' alarms exist (DescribeAlarms, the adapter's own call): a gate naming a missing
/// alarm can never pass. `None` when the gates name no alarm.
async fn alarms(clients: &Clients, release: &ReleaseSettings) -> Option<Check> {
    let names = gate_alarms(release);
    if names.is_empty() {
        return None;
    }
    let mut found = BTreeSet::new();
    for batch in names.chunks(100) {
        match clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(batch.to_vec()))
            .send()
            .await
        {
            Ok(out) => {
                found.extend(
                    out.metric_alarms()
                        .iter()
                        .filter_map(|a| a.alarm_name())
                        .map(str::to_string),
                );
                found.extend(
                    out.composite_alarms()
                        .iter()
                        .filter_map(|a| a.alarm_name())
                        .map(str::to_string),
                );
            }
            Err(e) => {
                let e = DESCRIBE_ALARMS.error(&batch.join(","), e);
                return Some(Check::fail("gate alarms", e.to_string(), fix_for(&e)));
            }
        }
    }
    let missing: Vec<&String> = names.iter().filter(|n| !found.contains(*n)).collect();
    Some(if missing.is_empty() {
        Check::pass("gate alarms", names.join(", "))
    } else {
        Check::fail(
            "gate alarms",
            format!(
                "{} named in the gates but not found: {}",
                if missing.len() == 1 {
                    "an alarm is"
                } else {
                    "alarms are"
                },
                missing
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "create the alarm in this account and Region, or correct `alarms` in the profile's [gates] (and its plans')",
        )
    })
}

/// Whether the smoke checks can reach the idle color the way the profile says they run
/// ([`SmokeFrom`]): from here, a real GET of the first check's path through the test listener
/// (or at the profile's `url`), within [`REACH_TIMEOUT`].
async fn smoke_path(
    clients: &Clients,
    profile: &str,
    cfg: &AwsProfile,
    release: &ReleaseSettings,
) -> Check {
    const NAME: &str = "smoke path";
    let ways_out = format!(
        "run the checks inside the VPC ([profiles.{profile}.smoke] from = \"task\" with command = [\"curl\", \"-fsS\", \"--max-time\", \"10\"], or the image's own checker), name an address that reaches the idle color (from = \"url\", url = \"http://…\"), or skip them with a reason that is journaled (from = \"skip\", skip_reason = \"…\")"
    );
    let path = release
        .smoke
        .first()
        .map_or("/".to_string(), |c| c.path.clone());
    let (host, port, prefix) = match &cfg.smoke_from {
        SmokeFrom::Skip { reason } => {
            return Check::warn(
                NAME,
                format!("skipped by the profile: {reason}"),
                "the idle color gets production traffic untried; the reason is journaled with each release",
            );
        }
        SmokeFrom::Url(url) => match crate::config::smoke::url_parts(url) {
            Some(parts) => parts,
            None => {
                return Check::fail(
                    NAME,
                    format!("url `{url}` is not http://HOST[:PORT]"),
                    ways_out,
                );
            }
        },
        SmokeFrom::Here | SmokeFrom::Task { .. } => {
            let Some(test) = &cfg.test_listener else {
                return Check::fail(
                    NAME,
                    "the profile has no test_listener, so the smoke checks have nothing to reach the idle color through",
                    format!(
                        "set `test_listener` (terraform output test_listener_arn), or {ways_out}"
                    ),
                );
            };
            let arn = match listener(clients, test).await {
                Ok((arn, _)) => arn,
                Err(e) => {
                    return Check::fail(
                        NAME,
                        e.to_string(),
                        listener_fix(&e, "test_listener", "test_listener_arn"),
                    );
                }
            };
            match aws::smoke::test_listener_address(&clients.elb, &arn).await {
                Ok((https, host, port)) => {
                    if let SmokeFrom::Task { command } = &cfg.smoke_from {
                        let scheme = if https { "https" } else { "http" };
                        return Check::pass(
                            NAME,
                            format!(
                                "inside the VPC: a one-off task of the idle color's task definition runs `{}` with {scheme}://{host}:{port}{path} (and the other checks); its exit code decides",
                                command.join(" ")
                            ),
                        );
                    }
                    if https {
                        return Check::fail(
                            NAME,
                            format!(
                                "the test listener https://{host}:{port} is HTTPS, and the console's smoke client speaks plain HTTP"
                            ),
                            ways_out,
                        );
                    }
                    (host, port, String::new())
                }
                Err(e) => return Check::fail(NAME, e.to_string(), fix_for(&e)),
            }
        }
    };
    let url = format!("http://{host}:{port}{prefix}{path}");
    match aws::smoke::get(&host, port, &format!("{prefix}{path}"), REACH_TIMEOUT).await {
        Ok(a) => Check::pass(
            NAME,
            format!(
                "reachable from here: GET {url} answered {} in {} ms",
                a.status, a.latency_ms
            ),
        ),
        Err(e) => Check::fail(
            NAME,
            format!("GET {url} is not reachable from here: {e}"),
            match cfg.smoke_from {
                SmokeFrom::Url(_) => {
                    format!("check the address and the way to it (VPN, bastion), or {ways_out}")
                }
                _ => format!(
                    "open the test listener to this machine (the Terraform env's test_ingress_cidrs; an internal load balancer is never reachable from outside its VPC), or {ways_out}"
                ),
            },
        ),
    }
}

/// How to give a profile its tables.
const TABLES_FIX: &str = "apply Terraform's base module and run `bluegreen init --from-terraform FILE… --update` (outputs lock_table_name, journal_table_name), or add `lock_table`/`journal_table` to the profile naming tables keyed as the base module keys them";

/// The lock table (which also holds the release record): named, existing, keyed by `pk`
/// (S). Read with the adapter's own GetItem: a missing table and a wrong key schema are both
/// answered by it.
async fn lock_table(clients: &Clients, cfg: &AwsProfile) -> Check {
    let Some(table) = &cfg.lock_table else {
        return Check::fail(
            "lock table",
            "the profile names no `lock_table`: the deploy lock cannot be taken, releases cannot be recorded, and every write but rollback is refused",
            TABLES_FIX,
        );
    };
    let out = clients
        .dynamodb
        .get_item()
        .table_name(table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("bluegreen:doctor".into()),
        )
        .send()
        .await;
    match out {
        Ok(_) => Check::pass("lock table", format!("{table} (key pk)")),
        Err(e) => table_failure("lock table", GET_ITEM.error(table, e), "pk (S)"),
    }
}

/// The journal table: named (a warning without it: writes are not journaled), existing, keyed
/// by `environment` (S) and `id` (S). Read with the adapter's own Query.
async fn journal_table(clients: &Clients, cfg: &AwsProfile) -> Check {
    let Some(table) = &cfg.journal_table else {
        return Check::warn(
            "journal table",
            "the profile names no `journal_table`: writes are made but not journaled",
            TABLES_FIX,
        );
    };
    let out = clients
        .dynamodb
        .query()
        .table_name(table)
        .key_condition_expression("#e = :e")
        .expression_attribute_names("#e", "environment")
        .expression_attribute_values(
            ":e",
            aws_sdk_dynamodb::types::AttributeValue::S("bluegreen:doctor".into()),
        )
        .limit(1)
        .send()
        .await;
    match out {
        Ok(_) => Check::pass("journal table", format!("{table} (keys environment, id)")),
        Err(e) => table_failure(
            "journal table",
            QUERY.error(table, e),
            "environment (S) and id (S)",
        ),
    }
}

fn table_failure(name: &str, e: PlatformError, keys: &str) -> Check {
    let fix = match e.fault() {
        Some(FaultKind::NotFound) => format!(
            "create it (`bluegreen init --create-tables` makes the lock and journal tables, or apply Terraform's base module), or correct its name in the profile; {TABLES_FIX}"
        ),
        Some(FaultKind::Invalid) => format!(
            "the table is not keyed as the console needs ({keys}): name the base module's table in the profile instead"
        ),
        _ => fix_for(&e),
    };
    Check::fail(name, e.to_string(), fix)
}

/// The SDK clients the checks use, with short timeouts: a doctor that hangs helps no one.
struct Clients {
    sts: aws_sdk_sts::Client,
    iam: aws_sdk_iam::Client,
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    codebuild: aws_sdk_codebuild::Client,
    ecr: aws_sdk_ecr::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    fn new(sdk: &aws_config::SdkConfig) -> Self {
        let retry = RetryConfig::standard().with_max_attempts(2);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(25))
            .build();
        macro_rules! client {
            ($krate:ident) => {
                aws::configured_client!($krate, sdk, retry, timeouts)
            };
        }
        Clients {
            sts: client!(aws_sdk_sts),
            iam: client!(aws_sdk_iam),
            ecs: client!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            logs: client!(aws_sdk_cloudwatchlogs),
            codebuild: client!(aws_sdk_codebuild),
            ecr: client!(aws_sdk_ecr),
            dynamodb: client!(aws_sdk_dynamodb),
            cloudwatch: client!(aws_sdk_cloudwatch),
        }
    }
}

/// Loads credentials the way the adapter does and runs every check.
pub async fn check(
    profile: &str,
    cfg: &AwsProfile,
    opts: &AwsOptions,
    release: &ReleaseSettings,
) -> (String, Vec<Check>) {
    let sdk = aws::load_sdk_config(cfg, opts).await;
    check_with(profile, cfg, release, &sdk).await
}

/// [`check`] with a loaded SDK configuration. Returns the region (for the report's header)
/// and the checks.
pub async fn check_with(
    profile: &str,
    cfg: &AwsProfile,
    release: &ReleaseSettings,
    sdk: &aws_config::SdkConfig,
) -> (String, Vec<Check>) {
    let mut checks = Vec::new();
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        checks.push(Check::fail(
            "region",
            "no AWS region resolves",
            format!("set `region` in profile `{profile}`, pass --region, or set AWS_REGION"),
        ));
        return ("aws (no region)".into(), checks);
    };
    checks.push(Check::pass("region", region.clone()));
    let clients = Clients::new(sdk);

    let caller = match clients.sts.get_caller_identity().send().await {
        Ok(out) => {
            let arn = out.arn().unwrap_or_default().to_string();
            let account = out.account().unwrap_or_default();
            checks.push(Check::pass(
                "identity",
                format!("{arn} (account {account})"),
            ));
            arn
        }
        Err(e) => {
            let e = GET_CALLER_IDENTITY.error("caller", e);
            checks.push(Check::fail(
                "identity",
                format!("credentials do not work: {e}"),
                credentials_fix(profile),
            ));
            // Without working credentials every other call fails the same way.
            return (format!("aws ({region})"), checks);
        }
    };
    checks.push(permissions(&clients.iam, &caller).await);
    services(&clients, cfg, &mut checks).await;
    target_groups(&clients, cfg, &mut checks).await;
    listeners(&clients, cfg, &mut checks).await;
    log_groups(&clients, cfg, &mut checks).await;
    checks.push(codebuild(&clients, cfg).await);
    checks.push(ecr(&clients, cfg).await);
    checks.push(lock_table(&clients, cfg).await);
    checks.push(journal_table(&clients, cfg).await);
    if let Some(c) = alarms(&clients, release).await {
        checks.push(c);
    }
    checks.push(smoke_path(&clients, profile, cfg, release).await);
    (format!("aws ({region})"), checks)
}

fn credentials_fix(profile: &str) -> String {
    format!(
        "give credentials: set `aws_profile` in profile `{profile}` or pass --aws-profile NAME (then `aws sso login --profile NAME` if it is an SSO profile), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
}

/// The IAM principal to simulate for a caller ARN: users and roles as they are, an assumed
/// role as its role (the role's path is not in the session ARN, so only roles at `/` match).
/// `None` for the account's root user, which the simulation does not cover.
pub fn principal(caller: &str) -> Option<String> {
    let rest = caller.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (partition, service, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    match service {
        "iam" if resource == "root" => None,
        "iam" => Some(caller.to_string()),
        "sts" => {
            let role = resource.strip_prefix("assumed-role/")?.split('/').next()?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => None,
    }
}

/// Every IAM action the adapter's calls need, in the list's order, once each.
pub fn needed_actions() -> Vec<&'static str> {
    let mut seen = BTreeSet::new();
    iam::OPERATIONS
        .iter()
        .map(|(_, _, action)| *action)
        .filter(|a| seen.insert(*a))
        .collect()
}

async fn permissions(client: &aws_sdk_iam::Client, caller: &str) -> Check {
    let actions = needed_actions();
    let Some(principal) = principal(caller) else {
        return Check::warn(
            "permissions",
            format!(
                "cannot check for {caller}: the policy simulation covers IAM users and roles only"
            ),
            "run the doctor as the operator who releases (a user or a role with the operator policy from terraform/), not the account's root user",
        );
    };
    let mut denied = Vec::new();
    let mut allowed = 0;
    let mut marker = None;
    loop {
        let out = client
            .simulate_principal_policy()
            .policy_source_arn(&principal)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .set_marker(marker.take())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                let e = SIMULATE.error(&principal, e);
                let why = if e.fault() == Some(FaultKind::AccessDenied) {
                    "the caller may not simulate its own policy".to_string()
                } else {
                    format!("the policy simulation failed: {e}")
                };
                return Check::warn(
                    "permissions",
                    format!("cannot check: {why}"),
                    format!(
                        "allow iam:SimulatePrincipalPolicy on {principal} to check, or compare the operator's policy with the {} actions in `bluegreen doctor --json` (permissions.needed)",
                        actions.len()
                    ),
                );
            }
        };
        for result in out.evaluation_results() {
            if *result.eval_decision() == PolicyEvaluationDecisionType::Allowed {
                allowed += 1;
            } else {
                denied.push(format!(
                    "{} ({})",
                    result.eval_action_name(),
                    result.eval_decision().as_str()
                ));
            }
        }
        match (out.is_truncated(), out.marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => break,
        }
    }
    if denied.is_empty() {
        Check::pass(
            "permissions",
            format!("{principal} may make all {allowed} calls the console makes"),
        )
    } else {
        Check::fail(
            "permissions",
            format!("{principal} may not call: {}", denied.join(", ")),
            "attach the operator policy from terraform/modules/service (operator.tf) to this user or role, or add the actions named",
        )
    }
}

/// The cluster, both services, their target groups and their deployment controllers: one
/// DescribeServices.
async fn services(clients: &Clients, cfg: &AwsProfile, checks: &mut Vec<Check>) {
    let names: Vec<String> = Color::ALL
        .iter()
        .map(|c| cfg.colors.get(*c).service.clone())
        .collect();
    let out = clients
        .ecs
        .describe_services()
        .cluster(&cfg.cluster)
        .set_services(Some(names))
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            let e = DESCRIBE_SERVICES.error(&cfg.cluster, e);
            let fix = if e.fault() == Some(FaultKind::NotFound) {
                "correct `cluster` in the profile (terraform output cluster_name), or apply the service stack".to_string()
            } else {
                fix_for(&e)
            };
            checks.push(Check::fail("cluster", e.to_string(), fix));
            return;
        }
    };
    checks.push(Check::pass("cluster", cfg.cluster.clone()));
    for color in Color::ALL {
        let res = cfg.colors.get(color);
        let name = format!("{color} service");
        let Some(service) = out
            .services()
            .iter()
            .find(|s| s.service_name() == Some(res.service.as_str()))
        else {
            checks.push(Check::fail(
                name,
                format!("no service `{}` in cluster `{}`", res.service, cfg.cluster),
                format!(
                    "correct `service` in [profiles.…{color}] (terraform output {color}_service_name), or apply the service stack"
                ),
            ));
            continue;
        };
        let status = service.status().unwrap_or("UNKNOWN");
        if status != "ACTIVE" {
            checks.push(Check::fail(
                name,
                format!("`{}` is {status}", res.service),
                "a deleted service cannot be deployed to: apply the service stack to recreate it",
            ));
            continue;
        }
        let tgs: Vec<&str> = service
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.target_group_arn())
            .collect();
        if tgs.contains(&res.target_group.as_str()) {
            checks.push(Check::pass(
                name,
                format!("{} is attached to its target group", res.service),
            ));
        } else {
            let attached = if tgs.is_empty() {
                "no target group".to_string()
            } else {
                tgs.join(", ")
            };
            checks.push(Check::fail(
                name,
                format!(
                    "{} is attached to {attached}, not to {color}'s target group {}",
                    res.service, res.target_group
                ),
                format!(
                    "a service's load balancer is set when it is created: correct `target_group` in [profiles.…{color}] if the profile is wrong, else recreate the service attached to it (terraform apply of the service stack)"
                ),
            ));
        }
        let controller = service
            .deployment_controller()
            .map(|d| d.r#type().clone())
            .unwrap_or(DeploymentControllerType::Ecs);
        let owner = match controller {
            DeploymentControllerType::Ecs => None,
            DeploymentControllerType::CodeDeploy => Some("CodeDeploy"),
            DeploymentControllerType::External => Some("an external controller"),
            _ => Some("an unknown controller"),
        };
        let check_name = format!("{color} controller");
        checks.push(match owner {
            None => Check::pass(check_name, "ECS rolling updates (the console drives the traffic)"),
            Some(owner) => Check::fail(
                check_name,
                format!("{} is deployed by {owner}, which would fight the console over the traffic", res.service),
                "use services with the ECS deployment controller (the service stack's default); let one tool own the release",
            ),
        });
    }
}

async fn target_groups(clients: &Clients, cfg: &AwsProfile, checks: &mut Vec<Check>) {
    for color in Color::ALL {
        let tg = &cfg.colors.get(color).target_group;
        let name = format!("{color} target group");
        match clients
            .elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
        {
            Ok(out) => {
                let targets = out.target_health_descriptions();
                let healthy = targets
                    .iter()
                    .filter(|t| {
                        t.target_health()
                            .and_then(|h| h.state())
                            .is_some_and(|s| s.as_str() == "healthy")
                    })
                    .count();
                checks.push(Check::pass(
                    name,
                    format!("{healthy} of {} targets healthy", targets.len()),
                ));
            }
            Err(e) => {
                let e = DESCRIBE_TARGET_HEALTH.error(tg, e);
                let fix = if e.fault() == Some(FaultKind::NotFound) {
                    format!(
                        "correct `target_group` in [profiles.…{color}] (terraform output {color}_target_group_arn)"
                    )
                } else {
                    fix_for(&e)
                };
                checks.push(Check::fail(name, e.to_string(), fix));
            }
        }
    }
}

/// The target groups a listener's forward action sends to, with their weights.
fn forwards(actions: &[Action]) -> Vec<(String, i32)> {
    let Some(action) = actions
        .iter()
        .find(|a| a.r#type().map(|t| t.as_str()) == Some("forward"))
    else {
        return Vec::new();
    };
    match action.forward_config() {
        Some(f) if !f.target_groups().is_empty() => f
            .target_groups()
            .iter()
            .filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight().unwrap_or(1))))
            .collect(),
        _ => action
            .target_group_arn()
            .map(|a| vec![(a.to_string(), 1)])
            .unwrap_or_default(),
    }
}

/// Names a target group by its color when it is one of the profile's.
fn label(cfg: &AwsProfile, tg: &str) -> String {
    Color::ALL
        .iter()
        .find(|c| cfg.colors.get(**c).target_group == tg)
        .map(|c| c.to_string())
        .unwrap_or_else(|| tg.to_string())
}

async fn listeners(clients: &Clients, cfg: &AwsProfile, checks: &mut Vec<Check>) {
    let ours: BTreeSet<String> = Color::ALL
        .iter()
        .map(|c| cfg.colors.get(*c).target_group.clone())
        .collect();
    match listener(clients, &cfg.prod_listener).await {
        Err(e) => checks.push(Check::fail(
            "production listener",
            e.to_string(),
            listener_fix(&e, "prod_listener", "prod_listener_arn"),
        )),
        Ok((arn, actions)) => {
            let fwd = forwards(&actions);
            let to: BTreeSet<String> = fwd.iter().map(|(tg, _)| tg.clone()).collect();
            let shown = fwd
                .iter()
                .map(|(tg, w)| format!("{} {w}", label(cfg, tg)))
                .collect::<Vec<_>>()
                .join(", ");
            checks.push(if to == ours {
                Check::pass("production listener", format!("forwards to both colors ({shown})"))
            } else {
                let missing: Vec<String> = ours.difference(&to).map(|t| label(cfg, t)).collect();
                let extra: Vec<String> = to.difference(&ours).cloned().collect();
                let mut why = Vec::new();
                if fwd.is_empty() {
                    why.push("has no forward action".to_string());
                }
                if !missing.is_empty() && !fwd.is_empty() {
                    why.push(format!("does not forward to {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    why.push(format!("also forwards to {}", extra.join(", ")));
                }
                Check::fail(
                    "production listener",
                    format!("{arn} {}", why.join("; ")),
                    "the production listener must forward to exactly the blue and the green target group: apply the service stack, or correct the profile's listener and target groups",
                )
            });
            checks.push(ignore_changes(clients, &arn).await);
        }
    }
    let Some(test) = &cfg.test_listener else {
        checks.push(Check::warn(
            "test listener",
            "none in the profile: the idle color cannot be tried before it gets traffic",
            "set `test_listener` in the profile (terraform output test_listener_arn)",
        ));
        return;
    };
    match listener(clients, test).await {
        Err(e) => checks.push(Check::fail(
            "test listener",
            e.to_string(),
            listener_fix(&e, "test_listener", "test_listener_arn"),
        )),
        Ok((arn, actions)) => {
            let fwd = forwards(&actions);
            let to: Vec<&String> = fwd
                .iter()
                .filter(|(_, w)| *w > 0)
                .map(|(tg, _)| tg)
                .collect();
            checks.push(match to.as_slice() {
                [one] if ours.contains(*one) => Check::pass(
                    "test listener",
                    format!("forwards to {}", label(cfg, one)),
                ),
                _ => Check::fail(
                    "test listener",
                    format!(
                        "{arn} forwards to {}, not to one of the two colors",
                        if to.is_empty() { "nothing".to_string() } else { to.iter().map(|t| label(cfg, t)).collect::<Vec<_>>().join(", ") }
                    ),
                    "point the test listener at the idle color's target group (the console does it after every promote), or correct `test_listener`",
                ),
            });
        }
    }
}

fn listener_fix(e: &PlatformError, key: &str, output: &str) -> String {
    if e.fault() == Some(FaultKind::NotFound) {
        format!(
            "correct `{key}` in the profile (terraform output {output}), or apply the service stack"
        )
    } else {
        fix_for(e)
    }
}

async fn listener(
    clients: &Clients,
    r: &ListenerRef,
) -> Result<(String, Vec<Action>), PlatformError> {
    let arn = match r {
        ListenerRef::Arn(a) => a.clone(),
        ListenerRef::Port {
            load_balancer,
            port,
        } => aws::resolve_listener(&clients.elb, load_balancer, *port).await?,
    };
    let out = clients
        .elb
        .describe_listeners()
        .listener_arns(&arn)
        .send()
        .await
        .map_err(|e| DESCRIBE_LISTENERS.error(&arn, e))?;
    let actions = out
        .listeners()
        .first()
        .map(|l| l.default_actions().to_vec())
        .ok_or_else(|| DESCRIBE_LISTENERS.fail(&arn, FaultKind::NotFound, "no such listener"))?;
    Ok((arn, actions))
}

/// Terraform must leave the console's weights and tags alone; the stack marks its
/// `ignore_changes` with a tag, which is all that can be seen of it from the API.
async fn ignore_changes(clients: &Clients, arn: &str) -> Check {
    const NAME: &str = "terraform ignore_changes";
    let out = match clients.elb.describe_tags().resource_arns(arn).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = DESCRIBE_TAGS.error(arn, e);
            return Check::fail(NAME, e.to_string(), fix_for(&e));
        }
    };
    let value = out
        .tag_descriptions()
        .iter()
        .flat_map(|d| d.tags())
        .find(|t| t.key() == Some(TAG_IGNORE_CHANGES))
        .and_then(|t| t.value())
        .map(str::to_string);
    match value {
        Some(v) if v.split(',').any(|p| p.trim() == "default_action") => Check::pass(
            NAME,
            format!("the listener is tagged {TAG_IGNORE_CHANGES} = {v}"),
        ),
        _ => Check::warn(
            NAME,
            format!(
                "the production listener has no {TAG_IGNORE_CHANGES} tag naming default_action, so nothing shows that Terraform leaves the weights alone"
            ),
            "if Terraform manages this listener, give it lifecycle { ignore_changes = [default_action, tags[\"bluegreen:stable\"], …] } as terraform/modules/service/alb.tf does (which also sets the tag); else the next apply undoes a release",
        ),
    }
}

async fn log_groups(clients: &Clients, cfg: &AwsProfile, checks: &mut Vec<Check>) {
    let groups: BTreeSet<&str> = Color::ALL
        .iter()
        .map(|c| cfg.colors.get(*c).log_group.as_str())
        .collect();
    for group in groups {
        let result = clients
            .logs
            .filter_log_events()
            .log_group_name(group)
            .limit(1)
            .send()
            .await;
        checks.push(match result {
            Ok(_) => Check::pass("log group", group.to_string()),
            Err(e) => {
                let e = FILTER_LOG_EVENTS.error(group, e);
                let fix = if e.fault() == Some(FaultKind::NotFound) {
                    "correct `log_group` in the profile's colors (terraform output log_group_name), or apply the service stack".to_string()
                } else {
                    fix_for(&e)
                };
                Check::fail("log group", e.to_string(), fix)
            }
        });
    }
}

async fn codebuild(clients: &Clients, cfg: &AwsProfile) -> Check {
    const NAME: &str = "codebuild project";
    let project = &cfg.codebuild_project;
    match clients
        .codebuild
        .batch_get_projects()
        .names(project)
        .send()
        .await
    {
        Ok(out) if !out.projects().is_empty() => Check::pass(NAME, project.clone()),
        Ok(_) => Check::fail(
            NAME,
            format!("no CodeBuild project `{project}`"),
            "correct `codebuild_project` in the profile (terraform output codebuild_project_name), or apply the base stack",
        ),
        Err(e) => {
            let e = BATCH_GET_PROJECTS.error(project, e);
            if e.fault() == Some(FaultKind::AccessDenied) {
                Check::warn(
                    NAME,
                    "cannot check: the doctor reads the project with codebuild:BatchGetProjects, which the caller may not call",
                    "allow codebuild:BatchGetProjects on the project to check it (the console itself does not need it)",
                )
            } else {
                Check::fail(NAME, e.to_string(), fix_for(&e))
            }
        }
    }
}

async fn ecr(clients: &Clients, cfg: &AwsProfile) -> Check {
    const NAME: &str = "ecr repository";
    let repo = &cfg.ecr_repository;
    match clients
        .ecr
        .describe_images()
        .repository_name(repo)
        .max_results(1)
        .send()
        .await
    {
        Ok(_) => Check::pass(NAME, repo.clone()),
        Err(e) => {
            let e = DESCRIBE_IMAGES.error(repo, e);
            let fix = if e.fault() == Some(FaultKind::NotFound) {
                "correct `ecr_repository` in the profile (terraform output ecr_repository_name), or apply the base stack".to_string()
            } else {
                fix_for(&e)
            };
            Check::fail(NAME, e.to_string(), fix)
        }
    }
}

/// The way out of a failed call that is not a missing resource.
fn fix_for(e: &PlatformError) -> String {
    match e {
        PlatformError::Call {
            fault: FaultKind::AccessDenied,
            iam_action: Some(action),
            ..
        } => format!("allow {action} for the caller (the operator policy in terraform/ has it)"),
        PlatformError::Call {
            fault: FaultKind::Network | FaultKind::Timeout,
            ..
        } => "check the network and the region (and AWS_ENDPOINT_URL, if set)".to_string(),
        _ => "check the profile against `terraform output` of both stacks".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_of_users_roles_and_sessions() {
        assert_eq!(
            principal("arn:aws:iam::123456789012:user/ops/alice").as_deref(),
            Some("arn:aws:iam::123456789012:user/ops/alice")
        );
        assert_eq!(
            principal("arn:aws:sts::123456789012:assumed-role/release/alice@example.com")
                .as_deref(),
            Some("arn:aws:iam::123456789012:role/release")
        );
        assert_eq!(principal("arn:aws:iam::123456789012:root"), None);
        assert_eq!(principal("not an arn"), None);
    }

    #[test]
    fn the_simulated_actions_are_the_adapters_list() {
        let actions = needed_actions();
        assert_eq!(actions.len(), iam::OPERATIONS.len());
        assert!(actions.contains(&"elasticloadbalancing:ModifyListener"));
        assert!(actions.contains(&"ecs:UpdateService"));
    }
}
