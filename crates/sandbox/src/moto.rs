//! moto's server on a free loopback port: the AWS half of the sandbox. Started and waited for
//! here, stopped (and reaped) when the handle drops, so no test leaves a server behind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot start `{program}`: {source}; install it with `pip install 'moto[server]'` or set MESHCTL_MOTO_SERVER to its path")]
    MotoMissing {
        program: String,
        source: std::io::Error,
    },
    #[error("moto_server did not answer on {address} within {seconds} s; its output is in {log}")]
    MotoNotReady {
        address: SocketAddr,
        seconds: u64,
        log: String,
    },
    #[error("cannot find a free loopback port: {0}")]
    NoPort(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running moto server. Dropping it stops the server.
pub struct Moto {
    child: Child,
    address: SocketAddr,
    log: PathBuf,
}

/// How long issued-looking ACM certificates stay PENDING_VALIDATION in the sandbox, in seconds.
pub const ACM_VALIDATION_WAIT_SECONDS: u64 = 2;

impl Moto {
    /// Starts `moto_server` (or `$MESHCTL_MOTO_SERVER`) on a free loopback port and waits until it
    /// answers HTTP.
    pub fn start() -> Result<Moto, SandboxError> {
        let program =
            std::env::var("MESHCTL_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        let port = free_port()?;
        let log = std::env::temp_dir().join(format!("meshctl-moto-{port}.log"));
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env(
                "MOTO_ACM_VALIDATION_WAIT",
                ACM_VALIDATION_WAIT_SECONDS.to_string(),
            )
            // AWS managed policies (AmazonEKSClusterPolicy...) exist in every real account.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            // Where moto is not AWS, corrected as it starts (moto_patches).
            .envs(crate::moto_patches::environment()?)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .map_err(|source| SandboxError::MotoMissing {
                program: program.clone(),
                source,
            })?;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Moto {
            child,
            address,
            log,
        };
        moto.wait_ready(Duration::from_secs(30))?;
        Ok(moto)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), SandboxError> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if http_get(self.address, "/moto-api/data.json").is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(SandboxError::MotoNotReady {
            address: self.address,
            seconds: limit.as_secs(),
            log: self.log.display().to_string(),
        })
    }

    /// `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Forgets every object, as a fresh server would have.
    pub fn reset(&self) -> Result<(), SandboxError> {
        http_request(self.address, "POST", "/moto-api/reset")
            .map(|_| ())
            .ok_or_else(|| std::io::Error::other("moto did not answer the reset").into())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The environment an AWS client needs to reach `endpoint` with moto's fake credentials.
pub fn aws_env(endpoint: &str, region: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", region.to_string()),
        // Keep a developer's own profile and IMDS out of the sandbox.
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]
}

pub(crate) fn free_port() -> Result<u16, SandboxError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(SandboxError::NoPort)?;
    Ok(listener.local_addr().map_err(SandboxError::NoPort)?.port())
}

fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    http_request(address, "GET", path)
}

/// A minimal HTTP/1.0 exchange: enough to poll readiness without an HTTP client crate.
fn http_request(address: SocketAddr, method: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/1").then_some(response)
}
