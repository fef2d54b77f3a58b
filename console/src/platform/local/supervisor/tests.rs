//! The supervisor's reconcile loop and its task records, against real processes.

use super::records::{TaskRecord, TasksFile};
use super::*;
use crate::platform::local::files;

#[test]
fn listen_address_is_found_in_several_shapes() {
    let want: SocketAddr = "127.0.0.1:40123".parse().expect("addr");
    assert_eq!(
        parse_listen_addr("listening on http://127.0.0.1:40123"),
        Some(want)
    );
    assert_eq!(
        parse_listen_addr("listening on http://127.0.0.1:40123/ (blue)"),
        Some(want)
    );
    assert_eq!(parse_listen_addr("bound 127.0.0.1:40123"), Some(want));
    assert_eq!(parse_listen_addr("starting up"), None);
}

use crate::platform::local::files::tests::assert_damaged;

#[test]
fn a_damaged_task_list_stops_the_start_instead_of_forgetting_the_old_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths::new(dir.path()).expect("absolute");
    // A daemon killed while writing the list, as `fs::write` in place could leave it.
    std::fs::write(paths.tasks_file(), "[4121, 41").expect("write");
    let err = Supervisor::orphans(&paths)
        .expect_err("damaged")
        .to_string();
    let p = paths.tasks_file();
    assert_damaged(&err, &p, "line 1 column");
    let blobs = paths.registry_dir().join("blobs");
    assert_damaged(&err, &p, &format!("`pgrep -af {}/`", blobs.display()));
    assert!(p.exists(), "left for the user to look at");
    // Once moved aside, the start goes on; a list in the older pid-only shape is read.
    std::fs::rename(&p, dir.path().join("tasks.json.bad")).expect("mv");
    assert!(Supervisor::orphans(&paths).expect("no list").is_empty());
    crate::platform::local::files::write_json(&p, &[u32::MAX]).expect("write");
    assert!(Supervisor::orphans(&paths).expect("readable").is_empty());
}

/// Starts a copy of `sleep` from the registry's blobs, as a task runs its image.
fn task_process(paths: &Paths, name: &str) -> (std::process::Child, u64) {
    let blobs = paths.registry_dir().join("blobs");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let exe = blobs.join(name);
    std::fs::copy("/bin/sleep", &exe).expect("copy sleep");
    let child = std::process::Command::new(&exe)
        .arg("60")
        .spawn()
        .expect("starts");
    // Its exe link names the blob once exec has happened.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{}/exe", child.id())).map_or(true, |e| e != exe)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = process::start_time(child.id()).expect("alive");
    (child, started)
}

fn record(id: &str, pid: u32, start_time: u64, addr: Option<&str>, stopping: bool) -> TaskRecord {
    TaskRecord {
        id: id.into(),
        color: Color::Blue,
        pid,
        start_time,
        release: Release {
            tag: "v1".into(),
            digest: format!("sha256:{}", "a".repeat(64))
                .parse()
                .expect("digest"),
            revision: 1,
        },
        addr: addr.map(|a| a.parse().expect("addr")),
        started_at: 0,
        healthy: true,
        stopping,
    }
}

#[tokio::test]
async fn live_listening_tasks_are_adopted_and_the_rest_killed_or_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = Paths::new(dir.path()).expect("absolute");
    let (mut serving, serving_start) = task_process(&paths, "serving");
    let (mut stopping, stopping_start) = task_process(&paths, "stopping");
    let (mut starting, starting_start) = task_process(&paths, "starting");
    let tasks = vec![
        record(
            "blue-1",
            serving.id(),
            serving_start,
            Some("127.0.0.1:1"),
            false,
        ),
        record(
            "blue-2",
            stopping.id(),
            stopping_start,
            Some("127.0.0.1:2"),
            true,
        ),
        record("blue-3", starting.id(), starting_start, None, false),
        // Its pid now names another process (a later start time): left alone.
        record(
            "blue-4",
            serving.id(),
            serving_start + 1,
            Some("127.0.0.1:4"),
            false,
        ),
    ];
    files::write_json(&paths.tasks_file(), &TasksFile::Records { tasks }).expect("write");
    std::fs::create_dir_all(paths.pipes_dir()).expect("pipes");
    std::fs::write(paths.pipes_dir().join("blue-9.stdout"), "").expect("stale pipe");
    let orphans = Supervisor::orphans(&paths).expect("readable");
    let ids: Vec<&str> = orphans.iter().map(|o| o.record.id.as_str()).collect();
    assert_eq!(ids, ["blue-1"]);
    use std::os::unix::process::ExitStatusExt;
    for child in [&mut stopping, &mut starting] {
        let status = child.wait().expect("killed");
        assert_eq!(
            status.signal(),
            Some(nix::sys::signal::Signal::SIGKILL as i32)
        );
    }
    assert!(
        serving.try_wait().expect("alive").is_none(),
        "adoptable, left running"
    );
    assert!(
        !paths.pipes_dir().join("blue-9.stdout").exists(),
        "a dead task's pipe goes"
    );
    let _ = serving.kill();
    let _ = serving.wait();
}

#[test]
fn tasks_start_in_bounded_waves() {
    let max = crate::rollout::limits::LOCAL_MAX_STARTING;
    assert_eq!(starts_now(64, 0), max);
    assert_eq!(starts_now(64, max - 1), 1);
    assert_eq!(starts_now(64, max), 0);
    assert_eq!(starts_now(64, max + 3), 0, "more starting than the bound");
    assert_eq!(starts_now(2, 0), 2);
    assert_eq!(starts_now(0, 0), 0);
}

#[test]
fn the_daemon_refuses_more_tasks_than_it_runs_whoever_asks() {
    assert!(bounded(Color::Green, crate::rollout::limits::LOCAL_MAX_TASKS).is_ok());
    let e = bounded(Color::Green, 10_000).expect_err("a fork bomb from a typo");
    assert!(
        e.to_string()
            .contains("more than the local platform runs (64 per color)"),
        "{e}"
    );
}

mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(crate::prop::config())]

        #[test]
        fn any_line_gives_an_address_or_none(line in "\\PC{0,60}") {
            let _ = parse_listen_addr(&line);
        }

        #[test]
        fn a_printed_address_is_found(ip in any::<std::net::IpAddr>(), port in any::<u16>(), words in "[a-z ]{0,12}") {
            let addr = SocketAddr::new(ip, port);
            for line in [
                format!("{words} listening on http://{addr}/ {words}"),
                format!("{words} {addr}"),
                format!(r#"{{"msg":"{words}","addr":"{addr}"}}"#),
            ] {
                prop_assert_eq!(parse_listen_addr(&line), Some(addr), "{}", line);
            }
        }
    }
}
