//! The helm and istioctl processes: found on PATH or at `MESHCTL_HELM` / `MESHCTL_ISTIOCTL`, run
//! with a kubeconfig meshctl writes for the cluster, killed after a timeout, their stderr kept
//! for the error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

/// Environment variables naming the binaries, when they are not `helm` / `istioctl` on PATH.
pub const HELM_ENV: &str = "MESHCTL_HELM";
pub const ISTIOCTL_ENV: &str = "MESHCTL_ISTIOCTL";
/// How long an install may take (helm's `--timeout` and istioctl's readiness wait), unless
/// `MESHCTL_TOOL_TIMEOUT` (seconds) says otherwise.
pub const TIMEOUT_ENV: &str = "MESHCTL_TOOL_TIMEOUT";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The most of a tool's output an error quotes.
const MAX_QUOTED: usize = 4000;

/// The two tools and how long they may run.
#[derive(Debug, Clone)]
pub struct Tools {
    pub helm: PathBuf,
    pub istioctl: PathBuf,
    pub timeout: Duration,
}

impl Tools {
    /// From the environment: `MESHCTL_HELM`, `MESHCTL_ISTIOCTL`, `MESHCTL_TOOL_TIMEOUT`.
    pub fn from_env() -> Tools {
        let path = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        Tools {
            helm: path(HELM_ENV, "helm"),
            istioctl: path(ISTIOCTL_ENV, "istioctl"),
            timeout: std::env::var(TIMEOUT_ENV)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

/// Why a tool run failed, worded for people.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {program}: {detail}")]
    Spawn {
        program: String,
        env: &'static str,
        detail: String,
    },
    #[error("`{command}` did not finish within {} s; it was stopped", timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("`{command}` failed ({status}): {output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
}

impl ToolError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ToolError::Spawn { env, .. } => Some(format!("install it, or point {env} at it")),
            ToolError::Timeout { .. } => Some(format!("set {TIMEOUT_ENV} to allow longer")),
            ToolError::Failed { .. } => None,
        }
    }
}

/// What a successful run printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
}

/// Runs `program args...`; `env` names the variable that configures the program, for errors.
/// The process is killed when the timeout passes or the caller goes away.
pub async fn run(
    program: &Path,
    env: &'static str,
    args: &[String],
    timeout: Duration,
) -> Result<Output, ToolError> {
    let command = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ToolError::Spawn {
            program: program.display().to_string(),
            env,
            detail: e.to_string(),
        })?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let read_all = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out).await;
        }
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut err).await;
        }
        (out, err)
    };
    let finished = tokio::time::timeout(timeout, async {
        let ((out, err), status) = tokio::join!(read_all, child.wait());
        (out, err, status)
    })
    .await;
    let (out, err, status) = match finished {
        Ok(done) => done,
        Err(_) => {
            let _ = child.kill().await;
            return Err(ToolError::Timeout { command, timeout });
        }
    };
    let status = status.map_err(|e| ToolError::Spawn {
        program: program.display().to_string(),
        env,
        detail: e.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&out).into_owned();
    if status.success() {
        return Ok(Output { stdout });
    }
    let stderr = String::from_utf8_lossy(&err);
    let quoted = if stderr.trim().is_empty() {
        stdout.trim().to_string()
    } else {
        stderr.trim().to_string()
    };
    Err(ToolError::Failed {
        command,
        status: status.to_string(),
        output: tail(&quoted, MAX_QUOTED),
    })
}

/// The last `max` bytes of `text` (on a character boundary): where a tool says what went wrong.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".to_string(), script.to_string()]
    }

    #[tokio::test]
    async fn stdout_of_a_success_and_stderr_of_a_failure() {
        let ok = run(
            Path::new("sh"),
            HELM_ENV,
            &sh("echo hello"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(ok.stdout, "hello\n");
        let failed = run(
            Path::new("sh"),
            HELM_ENV,
            &sh("echo progress; echo 'Error: chart not found' >&2; exit 3"),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        let message = failed.to_string();
        assert!(message.contains("Error: chart not found"), "{message}");
        assert!(message.contains("exit status: 3"), "{message}");
    }

    #[tokio::test]
    async fn a_missing_program_names_its_variable_and_a_slow_one_is_stopped() {
        let missing = run(
            Path::new("/nonexistent/helm"),
            HELM_ENV,
            &[],
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
        let help = missing.help().unwrap_or_default();
        assert!(help.contains(HELM_ENV), "{missing}\n  help: {help}");
        let slow = run(
            Path::new("sh"),
            ISTIOCTL_ENV,
            &sh("sleep 30"),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
        assert!(matches!(slow, ToolError::Timeout { .. }), "{slow}");
    }

    #[test]
    fn long_output_keeps_its_end() {
        let text = format!("{}END", "x".repeat(10_000));
        let cut = tail(&text, 100);
        assert!(cut.ends_with("END") && cut.len() <= 104, "{cut}");
    }
}
