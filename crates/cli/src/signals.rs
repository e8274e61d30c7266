//! SIGINT (Ctrl-C) and SIGTERM (a cancelled CI job). During an apply the executor handles them:
//! the first stops scheduling, the second aborts. At any other time — planning, waiting at the
//! approval prompt — the process releases its state locks and exits 130, so an interrupt never
//! leaves a stale lock behind.

use std::sync::atomic::{AtomicBool, Ordering};

static APPLYING: AtomicBool = AtomicBool::new(false);

/// Marks the span in which the executor handles signals itself.
pub struct Applying;

impl Applying {
    pub fn begin() -> Self {
        APPLYING.store(true, Ordering::SeqCst);
        Applying
    }
}

impl Drop for Applying {
    fn drop(&mut self) {
        APPLYING.store(false, Ordering::SeqCst);
    }
}

/// Waits for the next SIGINT or SIGTERM. Listeners are registered on first use.
pub async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Installs the handler for signals outside an apply. Without a runtime it installs nothing and
/// the default (immediate exit) applies; the command then reports the runtime's failure itself.
pub fn install() {
    let Ok(runtime) = crate::runtime::handle() else {
        return;
    };
    runtime.spawn(async {
        loop {
            next_signal().await;
            if !APPLYING.load(Ordering::SeqCst) {
                let released = meshctl_state::release_held_locks();
                let lock = if released > 0 {
                    " and the state lock was released"
                } else {
                    ""
                };
                crate::output::errln!("\nInterrupted; nothing was changed{lock}.");
                std::process::exit(130);
            }
        }
    });
}
