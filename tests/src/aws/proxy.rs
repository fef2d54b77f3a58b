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

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
    fault: Fault,
    /// Matching attempts let through before the fault starts.
    skip: usize,
    /// `None`: every time.
    remaining: Option<usize>,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    /// Every attempt: the operation and the fault injected, if any.
    log: Vec<(String, Option<Fault>)>,
    /// Every attempt's operation and form-decoded body (query protocol) or raw JSON body.
    bodies: Vec<(String, String)>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub struct FaultProxy {
    addr: SocketAddr,
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
        if let Ok(mut s) = self.state.lock() {
            s.rules.push(Rule {
                operation: operation.to_string(),
                fault,
                skip,
                remaining: times,
            });
        }
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
    let fault = {
        let mut s = state
            .lock()
            .map_err(|_| io::Error::other("proxy state poisoned"))?;
        let fault = s
            .rules
            .iter_mut()
            .find(|r| r.operation == op && r.remaining != Some(0))
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
        s.log.push((op.clone(), fault));
        let text = if target.is_some() {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            form_decode(&body)
        };
        s.bodies.push((op.clone(), text));
        fault
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
    let body = if op == "GetMetricData" {
        Bytes::from(
            String::from_utf8_lossy(&body)
                .replace("Stat=p99", "Stat=Maximum")
                .into_bytes(),
        )
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
        "DescribeTasks" | "RunTask" => Some(stringify_container_numbers(&body)),
        "StartBuild" | "BatchGetBuilds" => Some(epoch_timestamps(&body)),
        _ => None,
    };
    if let Some(b) = repaired {
        body = b;
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// `tasks[].containers[].{cpu,memory,memoryReservation}` as strings, as the ECS API has them.
fn stringify_container_numbers(body: &Bytes) -> Bytes {
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.clone();
    };
    let tasks = doc.get_mut("tasks").and_then(|t| t.as_array_mut());
    for task in tasks.into_iter().flatten() {
        let containers = task.get_mut("containers").and_then(|c| c.as_array_mut());
        for c in containers.into_iter().flatten() {
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
