//! Drift on the local platform: weights changed on the proxy behind the console's back (a
//! control client that is not a console) are reported as drift, and the old color is not
//! scaled in under them.

use std::time::{Duration, Instant};

use bluegreen::ops::{PromoteOptions, exit};
use bluegreen::rollout::{Color, Weights};
use bluegreen_tests::local::{LocalPlatform, text};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Sets the proxy's weights (in percent) as a second control client that is not a console: it does not
/// ask the daemon to record them as the console's.
pub(crate) async fn set_behind_the_console(p: &LocalPlatform, blue: u16, green: u16) {
    behind_the_console(
        p,
        format!(r#"{{"v":1,"op":"set-weights","weights":{{"blue":{blue},"green":{green}}}}}"#),
    )
    .await
}

/// Sends one control request as a client that is not a console, and checks it was done.
async fn behind_the_console(p: &LocalPlatform, line: String) {
    let socket = bluegreen::platform::local::paths::Paths::new(&p.state)
        .expect("paths")
        .control_socket();
    let stream = UnixStream::connect(&socket).await.expect("connect");
    let (read, mut write) = stream.into_split();
    write.write_all(line.as_bytes()).await.expect("write");
    write.write_all(b"\n").await.expect("write");
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(read).read_line(&mut answer),
    )
    .await
    .expect("answer in time")
    .expect("read");
    assert!(answer.contains(r#""ok""#), "{answer}");
}

fn status_check(p: &LocalPlatform) -> (i32, String) {
    let out = p.cli(&["status", "--check"]);
    (out.status.code().unwrap_or(-1), text(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_weights_changed_behind_the_console_are_drift_and_hold_the_bake() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    p.ops
        .shift(Weights::percent(90, 10).expect("valid"), false)
        .await
        .expect("shift");
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::OK, "{out}");
    assert!(out.contains("drift    none"), "{out}");

    let changed = Instant::now();
    set_behind_the_console(&p, 50, 50).await;
    let (code, out) = status_check(&p);
    let seen = changed.elapsed();
    assert_eq!(code, exit::DRIFT, "{out}");
    assert!(
        out.contains(
            "weights changed outside the console: it wrote blue 90 / green 10, the listener shows blue 50 / green 50"
        ),
        "{out}"
    );
    println!(
        "figure: proxy weights changed behind the console to drift in `status --check`: {seen:?}"
    );

    // Promote with a short bake; then the proxy gives the old color traffic again behind the
    // console. The bake ends, but blue keeps running and the bake stays pending.
    let report = p
        .ops
        .promote(
            PromoteOptions {
                bake: Duration::from_millis(500),
                keep_old: false,
            },
            None,
        )
        .await
        .expect("promote");
    assert_eq!(report.promoted, Color::Green);
    set_behind_the_console(&p, 10, 90).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = p.platform.snapshot().await.expect("snapshot");
    assert!(s.listener.bake.is_some(), "the bake is held");
    assert_eq!(s.colors.blue.service.desired, 1, "blue is not scaled in");
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::DRIFT, "{out}");
    assert!(
        out.contains("it wrote blue 0 / green 100, the listener shows blue 10 / green 90"),
        "{out}"
    );

    // With the weights back where the console wrote them but no request since, the bake
    // still holds: nothing measured says the old color is unused.
    set_behind_the_console(&p, 0, 100).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s = p.platform.snapshot().await.expect("snapshot");
    assert!(s.listener.bake.is_some(), "held for too few requests");
    assert_eq!(s.colors.blue.service.desired, 1);

    // The explicit override finishes it, and says so.
    let out = p.cli(&["--accept-unmeasured", "promote"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    assert!(
        text(&out).contains("accepted unmeasured: --accept-unmeasured"),
        "{}",
        text(&out)
    );
    let s = p.platform.snapshot().await.expect("snapshot");
    assert_eq!(s.colors.blue.service.desired, 0);
}

/// A service scaled, or deployed anew, by a control client that is not a console is drift
/// with what the console set and what runs now; a console's own scale is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_changed_behind_the_console_is_drift() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::OK, "{out}");

    behind_the_console(
        &p,
        r#"{"v":1,"op":"scale","color":"green","desired":2}"#.into(),
    )
    .await;
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::DRIFT, "{out}");
    assert!(
        out.contains("green desired count changed outside the console: it set 1, the service `blog-green` has 2"),
        "{out}"
    );

    // The console's own scale is recorded: no drift. Then a deploy behind its back replaces
    // green's revision.
    p.ops.scale(Color::Green, 1).await.expect("scale");
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::OK, "{out}");
    behind_the_console(
        &p,
        r#"{"v":1,"op":"deploy","color":"green","tag":"v1","desired":1}"#.into(),
    )
    .await;
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::DRIFT, "{out}");
    assert!(
        out.contains("green task definition replaced outside the console"),
        "{out}"
    );

    // The record survives a planned restart.
    let out = p.cli(&["local", "restart"]);
    assert_eq!(out.status.code(), Some(exit::OK), "{}", text(&out));
    let (code, out) = status_check(&p);
    assert_eq!(code, exit::DRIFT, "{out}");
    assert!(
        out.contains("green task definition replaced outside the console"),
        "{out}"
    );
}
