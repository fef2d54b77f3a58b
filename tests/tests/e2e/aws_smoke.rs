//! A release's smoke checks from where they can reach the idle color (`[profiles.X.smoke]`):
//! at the profile's `url` from here; inside the VPC as a one-off task of the idle color's own
//! task definition (RunTask in its service's network, the checks as its command; its exit
//! code decides and its log lines are shown: the test plays the container, moto runs none);
//! or skipped with a reason that is journaled. And `doctor` says whether the smoke path works:
//! a real GET of the test listener from here (moto's load balancer has a DNS name nobody can
//! reach, like the tutorial's test listener closed to the engineer's laptop).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bluegreen::ops::{Access, Note, Observer, Ops};
use bluegreen::platform::{Platform, SmokeRun};
use bluegreen::rollout::journal::Query;
use bluegreen::rollout::plan::SmokeCheck;
use bluegreen::rollout::release::Stage;
use bluegreen::rollout::{Color, Outcome, Release};
use bluegreen_tests::aws::{Stack, TopologyOptions, play_smoke_task};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::aws_release::release;

/// A one-route HTTP server on loopback answering every GET with `status`; counts requests.
async fn server(status: u16) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let hits = counted.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                hits.fetch_add(1, Ordering::Relaxed);
                let body = format!("answered {status}");
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

/// The stack's profile with a `[profiles.moto.smoke]` table of `body`.
fn profile(stack: &Stack, body: &str) -> String {
    format!(
        "{}\n[profiles.moto.smoke]\n{body}\n",
        stack.topo.profile_toml("moto", false)
    )
}

/// Every note the release driver made.
#[derive(Default)]
struct Notes(Mutex<Vec<Note>>);

impl Observer for Notes {
    fn note(&self, _: &Release, note: &Note) {
        self.0.lock().expect("notes").push(note.clone());
    }
}

impl Notes {
    fn smoke_lines(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("notes")
            .iter()
            .filter_map(|n| match n {
                Note::Smoke { line } => Some(line.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A release of v2 to green at its smoke stage with `checks`, one 10% step.
fn at_smoke(checks: Vec<SmokeCheck>) -> Release {
    let mut r = release(&[100], 1, &[]);
    r.options.smoke = checks;
    r
}

/// Drives `r` until it ends or for `limit` (a release that got past its smoke test goes on
/// stepping; the tests only need its smoke stage): the release as recorded then.
async fn drive(
    platform: &Arc<dyn Platform>,
    r: Release,
    notes: &Notes,
    limit: Duration,
) -> Release {
    platform.record_release(&r).await.expect("recorded");
    let ops = Ops::new(platform.clone(), Access::default()).with_accept_unmeasured(true);
    let _ = tokio::time::timeout(limit, ops.drive_release(r.clone(), notes, false)).await;
    platform.release().await.expect("read").expect("recorded")
}

#[tokio::test]
async fn smoke_checks_at_the_profiles_url_reach_the_idle_color_from_here() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let (good, good_hits) = server(200).await;
    let platform = stack
        .adapter_for(&profile(
            &stack,
            &format!("from = \"url\"\nurl = \"{good}/\""),
        ))
        .await
        .expect("adapter");
    let answer = platform
        .smoke_get("/health", Duration::from_secs(5))
        .await
        .expect("the profile's url answers");
    assert_eq!((answer.status, answer.body.as_str()), (200, "answered 200"));
    assert_eq!(good_hits.load(Ordering::Relaxed), 1);

    // A release at that address fails its smoke test there, and moves no traffic.
    let (bad, bad_hits) = server(503).await;
    let platform: Arc<dyn Platform> = Arc::new(
        stack
            .adapter_for(&profile(
                &stack,
                &format!("from = \"url\"\nurl = \"{bad}\""),
            ))
            .await
            .expect("adapter"),
    );
    let before = stack.prod_modifies();
    let notes = Notes::default();
    let r = drive(
        &platform,
        at_smoke(vec![SmokeCheck::get("/health")]),
        &notes,
        Duration::from_secs(60),
    )
    .await;
    let Some(Outcome::SmokeFailed { response, .. }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(response.contains("status 503"), "{response}");
    assert_eq!(bad_hits.load(Ordering::Relaxed), 1);
    assert_eq!(stack.prod_modifies(), before);
}

#[tokio::test]
async fn smoke_checks_in_a_one_off_task_run_inside_the_vpc_and_its_exit_code_decides() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let toml = profile(
        &stack,
        "from = \"task\"\ncommand = [\"curl\", \"-fsS\", \"--max-time\", \"10\"]",
    );
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter_for(&toml).await.expect("adapter"));
    let checks = vec![SmokeCheck::get("/health"), SmokeCheck::get("/")];
    let before = stack.prod_modifies();
    let notes = Notes::default();
    let (r, seen) = tokio::join!(
        drive(
            &platform,
            at_smoke(checks.clone()),
            &notes,
            Duration::from_secs(90)
        ),
        play_smoke_task(
            &stack.topo,
            &stack.proxy,
            Color::Green,
            22,
            &["curl: (22) The requested URL returned error: 503"],
        )
    );
    let seen = seen.expect("the console started a smoke task");
    // The idle color's own task definition, in its service's network, the checks as its
    // command: the checker, then each check's URL through the test listener.
    let (_, green_td) = stack.topo.service(Color::Green).await.expect("service");
    assert_eq!(seen.task_definition, green_td);
    assert_eq!(seen.started_by, "bluegreen-smoke");
    assert!(!seen.subnets.is_empty(), "{seen:?}");
    assert_eq!(&seen.command[..4], ["curl", "-fsS", "--max-time", "10"]);
    assert_eq!(seen.command.len(), 6, "{seen:?}");
    assert!(
        seen.command[4].starts_with("http://") && seen.command[4].ends_with(":8080/health"),
        "{seen:?}"
    );
    assert!(seen.command[5].ends_with(":8080/"), "{seen:?}");
    let env: Vec<&str> = seen.environment.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(env, ["BLUEGREEN_SMOKE_URL", "BLUEGREEN_SMOKE_CHECKS"]);
    // Its exit code decided: the release failed its smoke test, saying so with the task's
    // own line, and no traffic moved.
    let Some(Outcome::SmokeFailed { check, response }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert!(check.contains(&seen.task), "{check}");
    assert!(response.contains("exit code 22"), "{response}");
    assert!(response.contains("returned error: 503"), "{response}");
    assert!(
        notes
            .smoke_lines()
            .iter()
            .any(|l| l.contains("returned error: 503")),
        "the task's log lines are shown: {:?}",
        notes.smoke_lines()
    );
    assert_eq!(stack.prod_modifies(), before);

    // Exit code 0 passes, with the task's lines.
    let (run, seen) = tokio::join!(
        platform.smoke_elsewhere(Color::Green, &checks),
        play_smoke_task(
            &stack.topo,
            &stack.proxy,
            Color::Green,
            0,
            &["all 2 checks passed"]
        )
    );
    let seen = seen.expect("a second smoke task");
    match run.expect("ran") {
        Some(SmokeRun::Task {
            task,
            exit_code,
            lines,
            ..
        }) => {
            assert_eq!(task, seen.task);
            assert_eq!(exit_code, Some(0));
            assert_eq!(lines, ["all 2 checks passed"]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_profile_that_skips_the_smoke_test_journals_why_and_goes_on() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let reason = "the test listener is HTTPS-only; the canary's gates judge it";
    let platform: Arc<dyn Platform> = Arc::new(
        stack
            .adapter_for(&profile(
                &stack,
                &format!("from = \"skip\"\nskip_reason = \"{reason}\""),
            ))
            .await
            .expect("adapter"),
    );
    let notes = Notes::default();
    let r = drive(
        &platform,
        at_smoke(vec![SmokeCheck::get("/health")]),
        &notes,
        Duration::from_secs(5),
    )
    .await;
    assert!(
        !matches!(r.outcome, Some(Outcome::SmokeFailed { .. })) && r.stage != Stage::Smoke,
        "{:?} {:?}",
        r.stage,
        r.outcome
    );
    assert!(
        notes.smoke_lines().iter().any(|l| l.contains(reason)),
        "{:?}",
        notes.smoke_lines()
    );
    let page = platform
        .journal_read(&Query::latest(50))
        .await
        .expect("journal");
    let skipped = page
        .entries
        .iter()
        .find(|e| e.verb == "smoke-skipped")
        .unwrap_or_else(|| panic!("no smoke-skipped entry: {:?}", page.entries));
    assert!(
        skipped
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(reason),
        "{skipped:?}"
    );
    assert_eq!(
        skipped.release.as_ref().map(|x| x.id.as_str()),
        Some(r.id.as_str())
    );
}

/// `doctor --json` for the stack's profile with `[profiles.moto.smoke]` of `smoke` (none:
/// the default, from here), and its `smoke path` check.
async fn doctor_smoke(stack: &Stack, smoke: Option<&str>) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bluegreen.toml");
    let text = match smoke {
        Some(body) => profile(stack, body),
        None => stack.topo.profile_toml("moto", false),
    };
    std::fs::write(&path, text).expect("config");
    let run = bluegreen_tests::aws::run_cli(&path, &stack.env(), &["doctor", "--json"]).await;
    let doc = run.json();
    doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "smoke path")
        .cloned()
        .unwrap_or_else(|| panic!("no smoke path check: {doc:#}"))
}

#[tokio::test]
async fn doctor_says_whether_the_smoke_checks_can_reach_the_idle_color() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    // From here, through the test listener: a real GET, which moto's DNS name never answers.
    let here = doctor_smoke(&stack, None).await;
    assert_eq!(here["status"], "fail", "{here}");
    let detail = here["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("not reachable from here"), "{here}");
    assert!(detail.contains(":8080/health"), "{here}");
    let fix = here["fix"].as_str().unwrap_or_default();
    assert!(fix.contains("from = \"task\""), "{here}");
    assert!(fix.contains("test_ingress_cidrs"), "{here}");

    let (url, hits) = server(200).await;
    let at_url = doctor_smoke(&stack, Some(&format!("from = \"url\"\nurl = \"{url}\""))).await;
    assert_eq!(at_url["status"], "pass", "{at_url}");
    assert!(
        at_url["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("reachable from here"),
        "{at_url}"
    );
    assert_eq!(hits.load(Ordering::Relaxed), 1);

    let task = doctor_smoke(
        &stack,
        Some("from = \"task\"\ncommand = [\"curl\", \"-fsS\"]"),
    )
    .await;
    assert_eq!(task["status"], "pass", "{task}");
    assert!(
        task["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("inside the VPC"),
        "{task}"
    );

    let skip = doctor_smoke(
        &stack,
        Some("from = \"skip\"\nskip_reason = \"checked by hand\""),
    )
    .await;
    assert_eq!(skip["status"], "warn", "{skip}");
}
