//! Running the built `bluegreen` binary against a moto server (or a proxy in front of one).

use std::path::Path;
use std::process::Stdio;

use crate::bins::bin;

/// One finished run of the CLI.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as the `--json` document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A `bluegreen` command with the config file and the AWS environment set, and nothing of the
/// developer's own AWS setup leaking in.
pub fn command(config: &Path, env: &[(String, String)], args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin("bluegreen"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("BLUEGREEN_PROFILE")
        .env_remove("BLUEGREEN_CONFIG")
        .env_remove("RELEASE_TAG")
        .env("AWS_CONFIG_FILE", "/nonexistent/bluegreen-test-aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/bluegreen-test-aws-credentials",
        )
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs `bluegreen --config CONFIG ARGS…` to completion (at most two minutes).
pub async fn run_cli(config: &Path, env: &[(String, String)], args: &[&str]) -> Run {
    let child = command(config, env, args).spawn().expect("spawn bluegreen");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .unwrap_or_else(|_| panic!("bluegreen {args:?} did not finish within 120 s"))
    .expect("wait for bluegreen");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
