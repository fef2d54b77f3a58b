//! A moto server (PyPI `moto[server]`) on a free loopback port, killed when dropped.
//!
//! Never reset a server other tests use (moto's reset drops every test's resources), and share
//! none through a static: all the tests run in one process. Start one per test (about 1 s); see
//! "Tests and moto" in docs/architecture.md.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `moto_server` child process.
pub struct MotoServer {
    child: Child,
    port: u16,
}

/// Ports tried before giving up: between choosing a free port and moto binding it, another
/// process may take it.
const ATTEMPTS: usize = 3;

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` on a free port and waits until it answers,
    /// on a new port if moto exits early or something else answers on the chosen one.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_on(free_port)
    }

    /// [`MotoServer::start`] on the ports `next_port` picks.
    fn start_on(mut next_port: impl FnMut() -> anyhow::Result<u16>) -> anyhow::Result<Self> {
        let exe = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            let port = next_port()?;
            let child = Command::new(&exe)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot start `{exe}` ({e}); install it with: pip install 'moto[server]'"
                    )
                })?;
            // Dropping a server that failed to come up kills its process.
            let mut server = MotoServer { child, port };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(e) => failures.push(format!("port {port}: {e}")),
            }
        }
        anyhow::bail!(
            "moto_server did not start in {ATTEMPTS} attempts: {}",
            failures.join("; ")
        )
    }

    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = String::from("nothing listened");
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("moto_server exited early with {status}");
            }
            match moto_api_status(self.port) {
                Ok(200) => {
                    // Whoever answered, moto must still be running: if another process had
                    // the port, moto failed to bind it and exits.
                    if let Some(status) = self.child.try_wait()? {
                        anyhow::bail!("moto_server exited early with {status}");
                    }
                    return Ok(());
                }
                Ok(code) => last = format!("GET /moto-api/ answered {code}, so this is not moto"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("moto_server did not answer within {limit:?} ({last})")
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` or `endpoint_url`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a child process (the CLI) that should talk to this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// An `SdkConfig` for the real aws-sdk-rust clients, pointed at this server with static
    /// test credentials in `us-east-1`.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let creds = aws_config::Region::new("us-east-1");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(creds)
            .endpoint_url(self.endpoint())
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET /moto-api/` (moto's dashboard) on a loopback port.
fn moto_api_status(port: u16) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    // The status line is all that is needed: `HTTP/1.x NNN`.
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    std::str::from_utf8(&head)
        .ok()
        .and_then(|h| h.strip_prefix("HTTP/1."))
        .and_then(|h| h.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_taken_by_something_else_is_given_up_for_another() {
        use std::io::{Read, Write};
        // Not moto: answers every request with a 404.
        let squatter = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let taken = squatter.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in squatter.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let mut offered = vec![];
        let server = MotoServer::start_on(|| {
            let port = if offered.is_empty() {
                taken
            } else {
                free_port()?
            };
            offered.push(port);
            Ok(port)
        })
        .expect("moto starts on the next port");
        assert_eq!(offered.len(), 2, "{offered:?}");
        assert_ne!(server.port(), taken);
        assert_eq!(moto_api_status(server.port()).expect("moto answers"), 200);
    }
}
