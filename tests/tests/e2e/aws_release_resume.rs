//! A release on AWS whose driving console goes away mid-step, taken over by `bluegreen resume`
//! from another process, against moto. Both consoles are real `bluegreen` processes: the first
//! takes over a release left at its smoke stage by a console that went away (moto runs no
//! containers and serves no test listener, so the deploy and the smoke test are covered
//! elsewhere), enters the first step and is killed (SIGKILL) while the step holds. Nobody drives
//! the release then: it keeps its weight, and once its heartbeat is older than
//! [`DRIVER_GONE_MS`] `status` says so and `resume` from a second process drives it to its end,
//! or its gate rolls it back. The listener's weights are read back by the test all along.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bluegreen::ops::exit;
use bluegreen::platform::Platform;
use bluegreen::rollout::release::{DRIVER_GONE_MS, Stage};
use bluegreen::rollout::{Color, Gate, Outcome, Release};
use bluegreen_tests::aws::{Run, Stack, TopologyOptions, cli};

use super::aws_release::{put, release};

/// The longest each phase of these tests may take: the first console reaching its step, the
/// heartbeat ageing past [`DRIVER_GONE_MS`], and the second console's drive (one 20 s hold).
const DRIVE_LIMIT: Duration = Duration::from_secs(150);

fn now_ms() -> i64 {
    bluegreen::clock::now_millis()
}

/// A release of v2 to green at its smoke stage (no checks), 10% then 50% held 20 s each, last
/// driven by a console that went away before [`DRIVER_GONE_MS`].
fn abandoned() -> Release {
    let gone = now_ms() - DRIVER_GONE_MS - 1_000;
    let mut r = release(&[100, 500], 20, &[]);
    r.plan.interval_secs = 2;
    // Step 2's own minute is not published within its 20 s hold: it goes on inconclusive.
    r.plan.on_inconclusive = bluegreen::rollout::plan::OnInconclusive::Proceed;
    r.started_at = gone;
    r.driver = "closed-laptop".into();
    r.driven_at = gone;
    r
}

/// Reads the listener's weights (percent) every 100 ms and keeps each change, until dropped.
struct Sampler {
    seen: Arc<Mutex<Vec<(i32, i32)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(stack: &Stack) -> Sampler {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (topo, log) = (stack.topo.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Ok(w) = topo.weights().await {
                    let mut log = log.lock().expect("lock");
                    if log.last() != Some(&w) {
                        log.push(w);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Sampler { seen, task }
    }

    fn seen(&self) -> Vec<(i32, i32)> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn recorded(platform: &dyn Platform) -> Release {
    platform
        .release()
        .await
        .expect("read the record")
        .expect("a release is recorded")
}

/// Polls the record until `done` holds, within [`DRIVE_LIMIT`].
async fn until(platform: &dyn Platform, what: &str, done: impl Fn(&Release) -> bool) -> Release {
    let deadline = tokio::time::Instant::now() + DRIVE_LIMIT;
    loop {
        let r = recorded(platform).await;
        if done(&r) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not within {DRIVE_LIMIT:?}; the record: {:?} driven by {} at {}",
            r.stage,
            r.driver,
            r.driven_at
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `bluegreen resume` to its end within [`DRIVE_LIMIT`]: its pid and what it printed.
async fn resume(stack: &Stack) -> (u32, Run) {
    // moto serves no traffic: the steps' split (no minute of a step's own) and the promote's
    // bake are accepted unmeasured, explicitly; this test is about the takeover.
    let child = cli::command(
        &stack.config,
        &stack.env(),
        &["--accept-unmeasured", "resume"],
    )
    .spawn()
    .expect("spawn resume");
    let pid = child.id().expect("a pid");
    let out = tokio::time::timeout(DRIVE_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("resume did not end within {DRIVE_LIMIT:?}"))
        .expect("wait for resume");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (pid, run)
}

/// The first console takes the abandoned release over, enters step 1 (10%) and is killed while
/// it holds; then nobody drives it until its heartbeat is older than [`DRIVER_GONE_MS`]. Returns
/// the release as the killed console left it.
async fn driven_then_killed(stack: &Stack, platform: &dyn Platform) -> Release {
    let r = abandoned();
    platform.record_release(&r).await.expect("recorded");
    let mut first = cli::command(&stack.config, &stack.env(), &["resume"])
        .spawn()
        .expect("spawn the first console");
    let pid = first.id().expect("a pid");
    let at_step = until(platform, "the first console entering step 1", |r| {
        matches!(r.stage, Stage::Step { index: 0, .. })
    })
    .await;
    assert!(
        at_step.driver.ends_with(&format!("pid {pid}")),
        "the first console drives it: {}",
        at_step.driver
    );
    first.kill().await.expect("kill the first console");
    let out = first.wait_with_output().await.expect("its output");
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(
        printed.contains("the driver of release") && printed.contains("step 1/2: "),
        "the first console said it took over and entered step 1:\n{printed}"
    );
    let left = until(platform, "the heartbeat ageing", |r| {
        r.driver_gone(now_ms())
    })
    .await;
    assert_eq!(left.id, r.id);
    assert!(
        matches!(left.stage, Stage::Step { index: 0, .. }),
        "{:?}",
        left.stage
    );
    // Nobody drove it: the weight of step 1 holds, and `status` says who to ask for.
    assert_eq!(stack.topo.weights().await.expect("weights"), (90, 10));
    let status = stack.cli(&["status"]).await;
    status.expect_code(exit::OK);
    assert!(
        status.stdout.contains("nobody has driven it since")
            && status.stdout.contains("`bluegreen resume` takes it over"),
        "{}",
        status.stdout
    );
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_another_process_takes_over_a_killed_driver_and_finishes() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let sampler = Sampler::start(&stack);
    let before = stack.prod_modifies();
    let left = driven_then_killed(&stack, platform.as_ref()).await;
    assert_eq!(
        stack.prod_modifies() - before,
        1,
        "one ModifyListener: step 1"
    );

    // Fresh traffic for the gates of the second console's window.
    put(&stack, Color::Blue, 1000.0, 0.0).await;
    put(&stack, Color::Green, 100.0, 0.0).await;
    let (pid, run) = resume(&stack).await;
    run.expect_code(exit::OK);
    assert!(
        run.stderr
            .contains(&format!("the driver of release {} ", left.id))
            && run.stderr.contains("step 2/2: "),
        "{}",
        run.stderr
    );
    let r = recorded(platform.as_ref()).await;
    assert_eq!(r.id, left.id);
    assert_eq!(r.outcome, Some(Outcome::Released), "{:?}", r.gates);
    assert!(r.driver.ends_with(&format!("pid {pid}")), "{}", r.driver);
    // Step 1 was not written again: step 2 and the promote, each read back.
    assert_eq!(stack.prod_modifies() - before, 3);
    assert_eq!(stack.topo.raw_weights().await.expect("weights"), (0, 999));
    assert_eq!(
        sampler.seen(),
        vec![(100, 0), (90, 10), (50, 50), (0, 100)],
        "the listener went through each step once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_another_process_rolls_back_when_its_gate_fails() {
    let stack = Stack::start(TopologyOptions::default(), false).await;
    let platform: Arc<dyn Platform> = Arc::new(stack.adapter().await);
    let sampler = Sampler::start(&stack);
    let before = stack.prod_modifies();
    let left = driven_then_killed(&stack, platform.as_ref()).await;

    // While nobody drove it, the canary started failing.
    put(&stack, Color::Blue, 1000.0, 0.0).await;
    put(&stack, Color::Green, 100.0, 20.0).await;
    let (_, run) = resume(&stack).await;
    run.expect_code(exit::ROLLED_BACK);
    let r = recorded(platform.as_ref()).await;
    assert_eq!(r.id, left.id);
    let Some(Outcome::RolledBack { failed, .. }) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(failed[0].gate, Gate::Errors);
    assert!(run.stdout.contains("rolled back"), "{}", run.stdout);
    // Step 1, then the one ModifyListener of the rollback.
    assert_eq!(stack.prod_modifies() - before, 2);
    assert_eq!(stack.topo.raw_weights().await.expect("weights"), (999, 0));
    // The sampler polls every 100 ms: give it a bounded moment to see the rollback's read.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    while sampler.seen().last() != Some(&(100, 0)) && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sampler.seen(), vec![(100, 0), (90, 10), (100, 0)]);
}
