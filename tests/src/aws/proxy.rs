//! A loopback HTTP proxy between the console and moto that injects faults into chosen
//! operations: 500s, throttling errors, AccessDenied, and dropped connections. It records
//! every attempt it sees, so tests can check that the SDK retried. Stops when dropped.
//!
//! It also repairs one deviation of moto from the ECS API: moto returns a task's container
//! `cpu` (always) and `memory` as JSON numbers where the API has strings, and aws-sdk-rust
//! refuses such a DescribeTasks/RunTask answer; and moto's CodeBuild answers carry ISO-8601
//! timestamps where the JSON protocol has epoch seconds. The proxy repairs both, so every AWS
//! test talks to moto through it, with or without faults. moto also has no percentile
//! statistics (it answers a `p99` query with HTTP 500), so the proxy asks it for `Maximum`
//! instead: of one datapoint per period, the same value. So that the rewrite cannot hide a
//! console that stopped asking for the percentile, the proxy first checks the latency query:
//! a `TargetResponseTime` query with any other statistic is answered with a 400 naming it.
//!
//! On request ([`FaultProxy::aws_like`]) it also makes moto behave as AWS documents where
//! the console's behaviour depends on it (see [`AwsLike`]): CloudWatch's one-minute periods
//! and their publication delay, ELB's 50 tags per resource, and the account's token buckets
//! for ELB `Describe*` calls and `FilterLogEvents`, answered with the `Throttling` error the
//! SDK retries. Every attempt is counted by service and operation with its time, so a test
//! can hold a budget of calls per minute ([`FaultProxy::calls_since`]). awslogs' late
//! delivery is [`super::awslogs`]'s.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What to do to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 InternalFailure.
    ServerError,
    /// HTTP 400 with the protocol's throttling code.
    Throttle,
    /// HTTP 400 AccessDenied.
    AccessDenied,
    /// Close the connection without an answer.
    Drop,
    /// Answer (from moto) only after this long.
    Delay(std::time::Duration),
}

#[derive(Debug)]
struct Rule {
    operation: String,
    /// Only attempts whose (decoded) body contains this.
    body_contains: Option<String>,
    fault: Fault,
    /// Matching attempts let through before the fault starts.
    skip: usize,
    /// `None`: every time.
    remaining: Option<usize>,
}

/// One attempt the proxy saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `elbv2`, `ecs`, `logs`, `cloudwatch`, `dynamodb`, … (the signing name, with ELB's and
    /// CloudWatch's as the console's [`bluegreen::platform::aws`] names them).
    pub service: String,
    pub operation: String,
    pub at: Instant,
    /// The fault injected or the throttling answered, if any.
    pub fault: Option<Fault>,
}

/// AWS's documented behaviour that moto lacks, switched on per test.
#[derive(Debug, Clone)]
pub struct AwsLike {
    /// CloudWatch: periods start on the minute (a query's StartTime is rounded down to its
    /// period, as CloudWatch does for 60 s periods), and a minute's point is visible only
    /// once the minute has ended and this delay has passed (ALB metrics arrive about a
    /// minute late). `None`: moto as it is (every point at once).
    pub metrics_delay: Option<Duration>,
    /// ELB: at most 50 tags per resource (moto allows 10 and counts them oddly). The proxy
    /// keeps the ELB tags itself: AddTags, RemoveTags and DescribeTags are answered here.
    pub elb_tags: bool,
    /// The account's token bucket for ELBv2 `Describe*` calls: (capacity, refill per second);
    /// AWS documents 40 and 10.
    pub elb_describe_bucket: Option<(f64, f64)>,
    /// `FilterLogEvents`: 5 per second per account and Region, not raisable.
    pub filter_log_events_bucket: Option<(f64, f64)>,
}

impl AwsLike {
    /// Everything as AWS documents it, with the metrics delay given (tests cannot wait the
    /// real minute and more).
    pub fn documented(metrics_delay: Duration) -> Self {
        AwsLike {
            metrics_delay: Some(metrics_delay),
            elb_tags: true,
            elb_describe_bucket: Some((40.0, 10.0)),
            filter_log_events_bucket: Some((5.0, 5.0)),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    refill: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new((capacity, refill): (f64, f64)) -> Self {
        Bucket {
            capacity,
            refill,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// Takes a token; `false` when the bucket is empty (throttled).
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refilled = now.duration_since(self.last).as_secs_f64() * self.refill;
        self.tokens = (self.tokens + refilled).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Calls by `service:Operation` over a stretch of time.
#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    pub by_op: std::collections::BTreeMap<String, usize>,
    pub elapsed: Duration,
}

impl CallCounts {
    pub fn total(&self) -> usize {
        self.by_op.values().sum()
    }

    pub fn op(&self, key: &str) -> usize {
        self.by_op.get(key).copied().unwrap_or(0)
    }

    /// ELBv2 `Describe*` calls (one bucket per account and Region).
    pub fn elb_describe(&self) -> usize {
        self.by_op
            .iter()
            .filter(|(k, _)| k.starts_with("elbv2:Describe"))
            .map(|(_, n)| n)
            .sum()
    }

    /// `n` calls over the stretch, as calls per minute.
    pub fn per_minute(&self, n: usize) -> f64 {
        n as f64 * 60.0 / self.elapsed.as_secs_f64().max(0.001)
    }

    /// A table: `service:Operation  calls  per minute`, then the totals.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for (k, n) in &self.by_op {
            out += &format!("{k:<40} {n:>5} {:>7.1}/min\n", self.per_minute(*n));
        }
        out += &format!(
            "{:<40} {:>5} {:>7.1}/min (ELB Describe {:.1}/min) over {:.1} s\n",
            "total",
            self.total(),
            self.per_minute(self.total()),
            self.per_minute(self.elb_describe()),
            self.elapsed.as_secs_f64()
        );
        out
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    /// Every attempt: the operation and the fault injected, if any.
    log: Vec<(String, Option<Fault>)>,
    /// Every attempt with its service and time.
    calls: Vec<Call>,
    like: Option<AwsLike>,
    elb_describe: Option<Bucket>,
    filter_logs: Option<Bucket>,
    /// ELB tags by resource ARN, when the proxy keeps them ([`AwsLike::elb_tags`]).
    elb_tags: std::collections::HashMap<String, std::collections::BTreeMap<String, String>>,
    /// Every attempt's operation and form-decoded body (query protocol) or raw JSON body.
    bodies: Vec<(String, String)>,
    /// What each task's containers exited with, by task id, once it stopped
    /// ([`FaultProxy::container_exit`]).
    exit_codes: std::collections::HashMap<String, i32>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub struct FaultProxy {
    addr: SocketAddr,
    upstream: String,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_string();
        let moto = upstream.clone();
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let client = client.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        handle(req, state.clone(), client.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(FaultProxy {
            addr,
            upstream: moto,
            state,
            server,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `moto_env` with the endpoint pointed at this proxy.
    pub fn env(&self, moto_env: &[(String, String)]) -> Vec<(String, String)> {
        moto_env
            .iter()
            .map(|(k, v)| {
                if k == "AWS_ENDPOINT_URL" {
                    (k.clone(), self.endpoint())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    }

    /// Injects `fault` into the next `times` attempts of `operation` (`None`: all of them).
    pub fn inject(&self, operation: &str, fault: Fault, times: Option<usize>) {
        self.inject_after(operation, 0, fault, times);
    }

    /// Like [`FaultProxy::inject`], after letting `skip` attempts of `operation` through.
    pub fn inject_after(&self, operation: &str, skip: usize, fault: Fault, times: Option<usize>) {
        self.push_rule(operation, None, skip, fault, times);
    }

    /// Like [`FaultProxy::inject_after`], counting and faulting only the attempts whose
    /// decoded body contains `needle` (one table's PutItem among others, say): a call that
    /// fails in the middle of a release, by operation and count.
    pub fn inject_where(
        &self,
        operation: &str,
        needle: &str,
        skip: usize,
        fault: Fault,
        times: Option<usize>,
    ) {
        self.push_rule(operation, Some(needle.to_string()), skip, fault, times);
    }

    fn push_rule(
        &self,
        operation: &str,
        body_contains: Option<String>,
        skip: usize,
        fault: Fault,
        times: Option<usize>,
    ) {
        if let Ok(mut s) = self.state.lock() {
            s.rules.push(Rule {
                operation: operation.to_string(),
                body_contains,
                fault,
                skip,
                remaining: times,
            });
        }
    }

    /// What task `task_id`'s containers exit with: DescribeTasks and StopTask answer it as
    /// `exitCode` once the task is STOPPED (moto always answers 0, running or not). A test
    /// plays the container of a one-off task this way: it reads the command, writes the log
    /// lines, sets the exit code and stops the task.
    pub fn container_exit(&self, task_id: &str, code: i32) {
        if let Ok(mut s) = self.state.lock() {
            s.exit_codes.insert(task_id.to_string(), code);
        }
    }

    /// Makes moto behave as AWS documents it where `like` says ([`AwsLike`]). With
    /// `elb_tags`, the tags moto holds now are taken over by the proxy.
    pub async fn aws_like(&self, like: AwsLike) -> anyhow::Result<()> {
        let mut taken = std::collections::HashMap::new();
        if like.elb_tags {
            taken = self.moto_elb_tags().await?;
        }
        let mut s = self
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("proxy state"))?;
        s.elb_describe = like.elb_describe_bucket.map(Bucket::new);
        s.filter_logs = like.filter_log_events_bucket.map(Bucket::new);
        if like.elb_tags {
            s.elb_tags = taken;
        }
        s.like = Some(like);
        Ok(())
    }

    /// Every listener's and target group's tags as moto holds them.
    async fn moto_elb_tags(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<String, std::collections::BTreeMap<String, String>>>
    {
        let sdk = super::topology::sdk_config(&self.upstream).await;
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let mut arns = Vec::new();
        let lbs = elb.describe_load_balancers().send().await?;
        for lb in lbs.load_balancers() {
            let arn = lb.load_balancer_arn().unwrap_or_default();
            arns.push(arn.to_string());
            let ls = elb
                .describe_listeners()
                .load_balancer_arn(arn)
                .send()
                .await?;
            arns.extend(
                ls.listeners()
                    .iter()
                    .filter_map(|l| l.listener_arn())
                    .map(str::to_string),
            );
        }
        let tgs = elb.describe_target_groups().send().await?;
        arns.extend(
            tgs.target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn())
                .map(str::to_string),
        );
        let mut out = std::collections::HashMap::new();
        for chunk in arns.chunks(20) {
            let d = elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await?;
            for t in d.tag_descriptions() {
                out.insert(
                    t.resource_arn().unwrap_or_default().to_string(),
                    t.tags()
                        .iter()
                        .map(|t| {
                            (
                                t.key().unwrap_or_default().to_string(),
                                t.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect(),
                );
            }
        }
        Ok(out)
    }

    /// Now, as the calls are stamped (for [`FaultProxy::calls_since`]).
    pub fn mark(&self) -> Instant {
        Instant::now()
    }

    /// The attempts seen since `from`, by `service:Operation`, over the time since.
    pub fn calls_since(&self, from: Instant) -> CallCounts {
        let s = self.state.lock().expect("proxy state");
        let mut counts = CallCounts {
            elapsed: from.elapsed(),
            ..CallCounts::default()
        };
        for c in s.calls.iter().filter(|c| c.at >= from) {
            *counts
                .by_op
                .entry(format!("{}:{}", c.service, c.operation))
                .or_default() += 1;
        }
        counts
    }

    /// Every attempt seen, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("proxy state").calls.clone()
    }

    /// The bodies of the attempts of `operation` (query-protocol bodies form-decoded).
    pub fn bodies(&self, operation: &str) -> Vec<String> {
        let s = self.state.lock().expect("proxy state");
        s.bodies
            .iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Removes every rule (the log stays).
    pub fn heal(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.rules.clear();
        }
    }

    /// Attempts seen for `operation`, and how many of them got a fault.
    pub fn attempts(&self, operation: &str) -> (usize, usize) {
        let s = self.state.lock().expect("proxy state");
        let seen: Vec<_> = s.log.iter().filter(|(op, _)| op == operation).collect();
        (seen.len(), seen.iter().filter(|(_, f)| f.is_some()).count())
    }

    /// Forgets the log.
    pub fn reset_log(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.log.clear();
            s.bodies.clear();
            s.calls.clear();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The operation name: from `X-Amz-Target` (JSON protocols) or the `Action=` form field
/// (query protocol).
fn operation(target: Option<&str>, body: &[u8]) -> String {
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("?")
        .to_string()
}

fn injected(fault: Fault, json: bool) -> Response<Full<Bytes>> {
    let (status, code, message) = match fault {
        Fault::ServerError => (500, "InternalFailure", "injected server error"),
        Fault::Throttle => (
            400,
            if json {
                "ThrottlingException"
            } else {
                "Throttling"
            },
            "Rate exceeded",
        ),
        Fault::AccessDenied => (
            400,
            if json {
                "AccessDeniedException"
            } else {
                "AccessDenied"
            },
            "User is not authorized to perform this action",
        ),
        Fault::Drop | Fault::Delay(_) => (500, "", ""),
    };
    error_response(status, code, message, json)
}

fn error_response(status: u16, code: &str, message: &str, json: bool) -> Response<Full<Bytes>> {
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        )
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
            ),
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp.headers_mut().insert(
        "x-amzn-requestid",
        hyper::header::HeaderValue::from_static("injected"),
    );
    resp
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: HttpClient,
    upstream: String,
) -> Result<Response<Full<Bytes>>, io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
        .to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let op = operation(target.as_deref(), &body);
    let service = service(
        parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let text = if target.is_some() {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        form_decode(&body)
    };
    let (fault, like) = {
        let mut s = state
            .lock()
            .map_err(|_| io::Error::other("proxy state poisoned"))?;
        let mut fault = s
            .rules
            .iter_mut()
            .find(|r| {
                r.operation == op
                    && r.remaining != Some(0)
                    && r.body_contains.as_ref().is_none_or(|n| text.contains(n))
            })
            .and_then(|r| {
                if r.skip > 0 {
                    r.skip -= 1;
                    return None;
                }
                if let Some(n) = r.remaining.as_mut() {
                    *n -= 1;
                }
                Some(r.fault)
            });
        // The account's buckets: an attempt the bucket refuses is throttled, as AWS does.
        let bucket = if service == "elbv2" && op.starts_with("Describe") {
            s.elb_describe.as_mut()
        } else if op == "FilterLogEvents" {
            s.filter_logs.as_mut()
        } else {
            None
        };
        if fault.is_none() && bucket.is_some_and(|b| !b.take()) {
            fault = Some(Fault::Throttle);
        }
        s.log.push((op.clone(), fault));
        s.calls.push(Call {
            service: service.clone(),
            operation: op.clone(),
            at: Instant::now(),
            fault,
        });
        s.bodies.push((op.clone(), text.clone()));
        (fault, s.like.clone())
    };
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    match fault {
        Some(Fault::Delay(_)) | None => {}
        Some(Fault::Drop) => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "injected drop",
            ));
        }
        Some(f) => return Ok(injected(f, target.is_some())),
    }
    if op == "GetMetricData"
        && let Some(stat) = latency_stats(&form_decode(&body))
            .into_iter()
            .find(|s| s != "p99")
    {
        return Ok(error_response(
            400,
            "InvalidParameterValue",
            &format!(
                "test proxy: TargetResponseTime was queried with Stat={stat}; the console must ask for p99"
            ),
            false,
        ));
    }
    if let Some(like) = &like
        && like.elb_tags
        && service == "elbv2"
        && let Some(answer) = elb_tags(&op, &text, &state)
    {
        return Ok(answer);
    }
    let body = if op == "GetMetricData" {
        let mut text = String::from_utf8_lossy(&body).replace("Stat=p99", "Stat=Maximum");
        if let Some(delay) = like.as_ref().and_then(|l| l.metrics_delay) {
            text = cloudwatch_minutes(&text, now_secs(), delay);
        }
        Bytes::from(text.into_bytes())
    } else {
        body
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut forward = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        // The body may have been rewritten: hyper sets the length of the new one.
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let forward = forward
        .body(Full::new(body))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let resp = client
        .request(forward)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
    let (mut parts, body) = resp.into_parts();
    let mut body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
        .to_bytes();
    let repaired = match op.as_str() {
        "DescribeTasks" | "RunTask" | "StopTask" => {
            let codes = state
                .lock()
                .map(|s| s.exit_codes.clone())
                .unwrap_or_default();
            Some(stringify_container_numbers(&body, &codes))
        }
        "StartBuild" | "BatchGetBuilds" => Some(epoch_timestamps(&body)),
        _ => None,
    };
    if let Some(b) = repaired {
        body = b;
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The service of a signed request, from its credential scope
/// (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), named as the console names it.
fn service(authorization: Option<&str>) -> String {
    let name = authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("?");
    match name {
        "elasticloadbalancing" => "elbv2",
        "monitoring" => "cloudwatch",
        other => other,
    }
    .to_string()
}

/// ELB's limit of tags per resource.
pub const ELB_MAX_TAGS: usize = 50;

/// AddTags, RemoveTags and DescribeTags answered from the proxy's own store, with ELB's
/// limit of [`ELB_MAX_TAGS`] per resource (`TooManyTags`, as ELB answers). `None` for
/// every other operation.
fn elb_tags(op: &str, form: &str, state: &Mutex<State>) -> Option<Response<Full<Bytes>>> {
    let pairs: Vec<(&str, &str)> = form
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let list = |prefix: &str| -> Vec<String> {
        let mut items: Vec<(u32, String)> = pairs
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix(prefix)?.parse().ok()?;
                Some((n, v.to_string()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    };
    let arns = list("ResourceArns.member.");
    let mut s = state.lock().ok()?;
    let body = match op {
        "AddTags" => {
            let mut tags: std::collections::BTreeMap<u32, (String, String)> = Default::default();
            for (k, v) in &pairs {
                let Some(rest) = k.strip_prefix("Tags.member.") else {
                    continue;
                };
                let Some((n, field)) = rest.split_once('.') else {
                    continue;
                };
                let Ok(n) = n.parse() else { continue };
                let e = tags.entry(n).or_default();
                match field {
                    "Key" => e.0 = v.to_string(),
                    "Value" => e.1 = v.to_string(),
                    _ => {}
                }
            }
            for arn in &arns {
                let held = s.elb_tags.get(arn);
                let mut keys: std::collections::BTreeSet<&str> = held
                    .into_iter()
                    .flat_map(|h| h.keys().map(String::as_str))
                    .collect();
                keys.extend(tags.values().map(|(k, _)| k.as_str()));
                if keys.len() > ELB_MAX_TAGS {
                    return Some(error_response(
                        400,
                        "TooManyTags",
                        &format!(
                            "The quota for the number of tags that can be assigned to a resource has been reached ({ELB_MAX_TAGS}): {arn} would have {}",
                            keys.len()
                        ),
                        false,
                    ));
                }
            }
            for arn in &arns {
                let held = s.elb_tags.entry(arn.clone()).or_default();
                for (k, v) in tags.values() {
                    held.insert(k.clone(), v.clone());
                }
            }
            "<AddTagsResponse><AddTagsResult/><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></AddTagsResponse>".to_string()
        }
        "RemoveTags" => {
            let keys = list("TagKeys.member.");
            for arn in &arns {
                if let Some(held) = s.elb_tags.get_mut(arn) {
                    for k in &keys {
                        held.remove(k);
                    }
                }
            }
            "<RemoveTagsResponse><RemoveTagsResult/><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></RemoveTagsResponse>".to_string()
        }
        "DescribeTags" => {
            let mut out =
                String::from("<DescribeTagsResponse><DescribeTagsResult><TagDescriptions>");
            for arn in &arns {
                out += &format!(
                    "<member><ResourceArn>{}</ResourceArn><Tags>",
                    xml_escape(arn)
                );
                for (k, v) in s.elb_tags.get(arn).into_iter().flatten() {
                    out += &format!(
                        "<member><Key>{}</Key><Value>{}</Value></member>",
                        xml_escape(k),
                        xml_escape(v)
                    );
                }
                out += "</Tags></member>";
            }
            out += "</TagDescriptions></DescribeTagsResult><ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></DescribeTagsResponse>";
            out
        }
        _ => return None,
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/xml"),
    );
    Some(resp)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A GetMetricData query (raw form body) as CloudWatch answers it: StartTime rounded down to
/// the minute, and EndTime no later than the last minute that ended `delay` ago (a later
/// minute is not published yet). A range left empty reads a minute of 1970 instead, which
/// holds nothing: CloudWatch answers such a query with no points, moto with an error.
fn cloudwatch_minutes(raw: &str, now_secs: i64, delay: Duration) -> String {
    let visible = (now_secs - delay.as_secs() as i64).div_euclid(60) * 60;
    let field = |name: &str| {
        raw.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| form_decode(v.as_bytes()))
            .and_then(|v| iso_to_epoch(&v))
            .map(|t| t.floor() as i64)
    };
    let (Some(start), Some(end)) = (field("StartTime"), field("EndTime")) else {
        return raw.to_string();
    };
    let start = start.div_euclid(60) * 60;
    let end = end.min(visible);
    let (start, end) = if end <= start { (0, 60) } else { (start, end) };
    raw.split('&')
        .map(|kv| {
            if kv.starts_with("StartTime=") {
                format!("StartTime={}", epoch_to_iso(start).replace(':', "%3A"))
            } else if kv.starts_with("EndTime=") {
                format!("EndTime={}", epoch_to_iso(end).replace(':', "%3A"))
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn now_secs() -> i64 {
    bluegreen::clock::now_millis().div_euclid(1000)
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ`.
fn epoch_to_iso(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `tasks[].containers[].{cpu,memory,memoryReservation}` (and `task.containers[]…`) as strings,
/// as the ECS API has them; and `exitCode` as ECS has it: none while the task has not stopped,
/// and once STOPPED what [`FaultProxy::container_exit`] set (moto's 0 otherwise).
fn stringify_container_numbers(
    body: &Bytes,
    exit_codes: &std::collections::HashMap<String, i32>,
) -> Bytes {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.clone();
    };
    // `tasks` (DescribeTasks, RunTask) or one `task` (StopTask).
    let mut tasks: Vec<&mut serde_json::Value> = Vec::new();
    if let Some(obj) = doc.as_object_mut() {
        for (key, value) in obj.iter_mut() {
            match (key.as_str(), value) {
                ("tasks", serde_json::Value::Array(all)) => tasks.extend(all.iter_mut()),
                ("task", one) => tasks.push(one),
                _ => {}
            }
        }
    }
    for task in tasks {
        let stopped = task.get("lastStatus").and_then(|v| v.as_str()) == Some("STOPPED");
        let code = task
            .get("taskArn")
            .and_then(|v| v.as_str())
            .and_then(|arn| arn.rsplit('/').next())
            .and_then(|id| exit_codes.get(id))
            .copied();
        let containers = task.get_mut("containers").and_then(|c| c.as_array_mut());
        for c in containers.into_iter().flatten() {
            if let Some(obj) = c.as_object_mut() {
                match (stopped, code) {
                    (false, _) => {
                        obj.remove("exitCode");
                    }
                    (true, Some(code)) => {
                        obj.insert("exitCode".into(), code.into());
                    }
                    (true, None) => {}
                }
            }
            for key in ["cpu", "memory", "memoryReservation"] {
                if let Some(v) = c.get_mut(key)
                    && v.is_number()
                {
                    *v = serde_json::Value::String(v.to_string());
                }
            }
        }
    }
    serde_json::to_vec(&doc)
        .map(Bytes::from)
        .unwrap_or_else(|_| body.clone())
}

/// `a=b%3Ac&d=e+f` → `a=b:c&d=e f` (good enough to search for ARNs and values).
/// The statistic of every `TargetResponseTime` query in a form-decoded GetMetricData body.
fn latency_stats(decoded: &str) -> Vec<String> {
    // member index → (metric name, statistic)
    let mut members: std::collections::BTreeMap<u32, (Option<&str>, Option<&str>)> =
        std::collections::BTreeMap::new();
    for pair in decoded.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let Some(rest) = key.strip_prefix("MetricDataQueries.member.") else {
            continue;
        };
        let Some((n, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse() else {
            continue;
        };
        let entry = members.entry(n).or_default();
        match field {
            "MetricStat.Metric.MetricName" => entry.0 = Some(value),
            "MetricStat.Stat" => entry.1 = Some(value),
            _ => {}
        }
    }
    members
        .into_values()
        .filter(|(name, _)| *name == Some("TargetResponseTime"))
        .map(|(_, stat)| stat.unwrap_or("(none)").to_string())
        .collect()
}

fn form_decode(body: &[u8]) -> String {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < body.len() => {
                let hex = std::str::from_utf8(&body[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every string value under a key ending in `Time` that reads as `YYYY-MM-DDTHH:MM:SS[.fff]Z`,
/// turned into epoch seconds, as CodeBuild's JSON protocol has timestamps.
fn epoch_timestamps(body: &Bytes) -> Bytes {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k.ends_with("Time")
                        && let Some(secs) = v.as_str().and_then(iso_to_epoch)
                        && let Some(n) = serde_json::Number::from_f64(secs)
                    {
                        *v = serde_json::Value::Number(n);
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.clone();
    };
    walk(&mut doc);
    serde_json::to_vec(&doc)
        .map(Bytes::from)
        .unwrap_or_else(|_| body.clone())
}

/// `2026-11-28T06:33:08.245Z` → seconds since the epoch (UTC).
fn iso_to_epoch(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, clock) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':');
    let (h, min) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = c.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_become_epoch_seconds() {
        assert_eq!(iso_to_epoch("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            iso_to_epoch("2026-11-28T06:33:08.25Z"),
            Some(1_795_847_588.25)
        );
        assert_eq!(iso_to_epoch("not a time"), None);
        assert_eq!(
            form_decode(b"Action=X&Arn=arn%3Aaws%2Fx+y"),
            "Action=X&Arn=arn:aws/x y"
        );
    }

    #[test]
    fn cloudwatch_minutes_start_on_the_minute_and_hide_unpublished_ones() {
        assert_eq!(epoch_to_iso(1_795_847_588), "2026-11-28T06:33:08Z");
        assert_eq!(iso_to_epoch(&epoch_to_iso(0)), Some(0.0));
        let q = "Action=GetMetricData&StartTime=2026-11-28T06%3A30%3A30Z&EndTime=2026-11-28T06%3A35%3A00Z&X=1";
        // At 06:34:10 with a 5 s delay: 06:30:00 up to 06:34:00 (06:34 is not over).
        let now = 1_795_847_650;
        assert_eq!(
            cloudwatch_minutes(q, now, Duration::from_secs(5)),
            "Action=GetMetricData&StartTime=2026-11-28T06%3A30%3A00Z&EndTime=2026-11-28T06%3A34%3A00Z&X=1"
        );
        // At 06:34:02 the minute 06:33 is not published yet: up to 06:33:00.
        assert!(
            cloudwatch_minutes(q, now - 8, Duration::from_secs(5))
                .contains("EndTime=2026-11-28T06%3A33%3A00Z")
        );
        // Nothing published in the range: a minute of 1970.
        let early = "StartTime=2026-11-28T06%3A34%3A00Z&EndTime=2026-11-28T06%3A35%3A00Z";
        assert_eq!(
            cloudwatch_minutes(early, now, Duration::from_secs(5)),
            "StartTime=1970-01-01T00%3A00%3A00Z&EndTime=1970-01-01T00%3A01%3A00Z"
        );
    }

    #[test]
    fn the_service_is_the_credential_scopes() {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(service(Some(auth)), "elbv2");
        assert_eq!(service(None), "?");
    }

    #[test]
    fn a_bucket_refuses_when_empty_and_refills() {
        let mut b = Bucket::new((2.0, 1000.0));
        assert!(b.take() && b.take());
        let mut slow = Bucket::new((1.0, 0.001));
        assert!(slow.take());
        assert!(!slow.take());
        std::thread::sleep(Duration::from_millis(5));
        assert!(b.take());
    }

    #[test]
    fn latency_stats_are_read_per_query() {
        let body = "Action=GetMetricData\
            &MetricDataQueries.member.1.MetricStat.Metric.MetricName=RequestCount\
            &MetricDataQueries.member.1.MetricStat.Stat=Sum\
            &MetricDataQueries.member.2.MetricStat.Stat=p99\
            &MetricDataQueries.member.2.MetricStat.Metric.MetricName=TargetResponseTime\
            &MetricDataQueries.member.12.MetricStat.Metric.MetricName=TargetResponseTime\
            &MetricDataQueries.member.12.MetricStat.Stat=Average";
        assert_eq!(latency_stats(body), ["p99", "Average"]);
        assert!(latency_stats("Action=GetMetricData").is_empty());
    }
}
