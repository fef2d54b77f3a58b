//! The console end to end: the real `bluegreen` binary, with no subcommand, in a tmux pane
//! against a real local platform. Keys move the slider, apply, promote and roll back; after
//! each step the screen is read with capture-pane and the platform's weights are read through
//! the CLI (`status --json`). Bounded: every wait has a deadline, and the tmux server runs on
//! its own socket and is killed at the end.

use std::path::Path;
use std::time::{Duration, Instant};

use bluegreen::rollout::Color;
use bluegreen_tests::local::{LocalPlatform, text};
use bluegreen_tests::tmux::{Tmux, WAIT};

/// The listener's weights as the CLI reports them: `(blue, green)`.
fn cli_weights(p: &LocalPlatform) -> (u64, u64) {
    let out = p.cli(&["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is JSON ({e}): {}", text(&out)));
    let w = &doc["snapshot"]["listener"]["weights"];
    match (w["blue"].as_u64(), w["green"].as_u64()) {
        (Some(b), Some(g)) => (b, g),
        _ => panic!("no weights in status --json: {doc}"),
    }
}

fn wait_weights(p: &LocalPlatform, want: (u64, u64)) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = cli_weights(p);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the platform shows {got:?}, expected {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_moves_the_slider_applies_promotes_and_rolls_back() {
    let p = LocalPlatform::start(&["v1", "v2"], &[]).await;
    p.first_release("v1", 1).await;
    p.deploy_green("v2").await;
    assert_eq!(cli_weights(&p), (100, 0));

    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = p.state.parent().unwrap_or(Path::new("/")).to_path_buf();
    let tmux = Tmux::start(&dir.path().join("tmux.sock"), &cwd, &p.state, 120, 40);
    tmux.wait_for(
        "the console with both colors loaded",
        &["live blue", "Green · 0%", "healthy", "slider green 0%"],
    );

    // 1. The slider moves a pending value only: 3 → 30%, l → +5, H → -1.
    tmux.keys(&["3", "l", "H"]);
    tmux.wait_for("the slider at 34%", &["slider green 34%"]);
    assert_eq!(
        cli_weights(&p),
        (100, 0),
        "moving the slider changes nothing"
    );
    tmux.keys(&["H", "H", "H", "H"]);
    tmux.wait_for("the slider at 30%", &["slider green 30%"]);

    // 2. Enter opens the confirm with the exact change; Enter applies it.
    tmux.keys(&["Enter"]);
    tmux.wait_for(
        "the shift confirm",
        &["Shift traffic", "blue 100 → 70, green 0 → 30"],
    );
    tmux.keys(&["Enter"]);
    wait_weights(&p, (70, 30));
    tmux.wait_for("the applied shift", &["applied: blue 70 / green 30"]);

    // 3. Promote: dialog with bake and keep-old; confirm.
    tmux.keys(&["p"]);
    tmux.wait_for(
        "the promote dialog",
        &["Promote", "blue 70 → 0, green 30 → 100", "bake 300 s"],
    );
    tmux.keys(&["Enter"]);
    wait_weights(&p, (0, 100));
    tmux.wait_for("the promote's outcome", &["promoted green"]);

    // 4. Roll back within the bake: one confirm (y), one weight change, back to blue.
    tmux.keys(&["r"]);
    tmux.wait_for(
        "the rollback confirm",
        &[
            "Roll back",
            "roll back to blue",
            "blue 0 → 100, green 100 → 0",
        ],
    );
    tmux.keys(&["y"]);
    wait_weights(&p, (100, 0));
    tmux.wait_for("the rollback's outcome", &["rolled back: blue has 100%"]);
    let listener = p.platform.listener().await.expect("listener");
    assert_eq!(listener.stable, Some(Color::Blue));

    // 5. q quits and restores the terminal: the shell's echo is visible on the normal screen.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the console to exit", &["CONSOLE-EXIT=0"]);
    assert!(
        !screen.contains("Traffic"),
        "the alternate screen is gone after quitting:\n{screen}"
    );
}

/// The figure "time from an out-of-band change to drift on screen": proxy weights changed
/// behind the console (a control client that is not a console), timed until the console's
/// traffic panel shows the drift warning, and until it is gone when the weights are back.
/// Printed, never asserted on: timing targets go in benchmarks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_made_behind_the_console_shows_on_screen_and_clears() {
    let p = LocalPlatform::start(&["v1"], &[]).await;
    let cwd = p.state.parent().unwrap_or(Path::new("/")).to_path_buf();
    // The weights set behind the console give green, which has no task, 10–50%: the daemon's
    // guard would rightly roll that back within its interval and race the drift warning this
    // test times. It watches in `warn` mode here: it says what it sees and writes nothing.
    std::fs::write(
        cwd.join("bluegreen.toml"),
        "[profiles.local]\nplatform = \"local\"\n[profiles.local.guard]\nmode = \"warn\"\n",
    )
    .expect("write bluegreen.toml");
    p.first_release("v1", 1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::start(&dir.path().join("tmux.sock"), &cwd, &p.state, 160, 48);
    tmux.wait_for(
        "the console with the listener loaded",
        &["live blue", "desired·listener·observed"],
    );
    let until = |shown: bool| {
        let start = Instant::now();
        loop {
            let screen = tmux.screen();
            if screen.contains("⚠ drift: weights changed outside the console") == shown {
                return (start.elapsed(), screen);
            }
            assert!(
                start.elapsed() < WAIT,
                "drift shown={shown} never came; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let mut seen = Vec::new();
    for (blue, green) in [(50, 50), (70, 30), (90, 10)] {
        let changed = Instant::now();
        crate::local_drift::set_behind_the_console(&p, blue, green).await;
        let (_, screen) = until(true);
        seen.push(changed.elapsed());
        assert!(
            screen.contains(&format!("the listener shows blue {blue} / green {green}"))
                && screen.contains(&format!("blue 100·{blue}·")),
            "{screen}"
        );
        // Back to what the console wrote: the warning goes.
        crate::local_drift::set_behind_the_console(&p, 100, 0).await;
        until(false);
    }
    println!("figure: out-of-band proxy weight change to drift on the console's screen: {seen:?}");
}
