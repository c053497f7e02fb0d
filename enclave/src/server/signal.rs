//! SIGTERM/SIGINT to a graceful [`Shutdown`], without a signal handler.
//!
//! The signals are blocked in the calling thread (and so in every thread it
//! starts afterwards) and one thread waits for them with `sigwait`: no code
//! runs in signal context, and the workspace's `forbid(unsafe_code)` holds.
//! The first signal requests a graceful shutdown; a second one exits at once
//! (status 143), for an operator who does not want to wait for running jobs.

use nix::sys::signal::{SigSet, Signal};

use super::Shutdown;

/// Why the signal thread could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Blocking the signals failed.
    #[error("blocking SIGTERM/SIGINT: {0}")]
    Mask(#[source] nix::Error),
    /// The waiting thread could not be started.
    #[error("starting the signal thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Blocks SIGTERM and SIGINT and starts the thread that turns them into
/// `shutdown`. Call it first thing, before any other thread is started:
/// threads started earlier keep the default action (exit at once).
pub fn on_terminate(
    shutdown: Shutdown,
    log: impl Fn(&str) + Send + 'static,
) -> Result<(), SignalError> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block().map_err(SignalError::Mask)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0u32;
            while let Ok(sig) = set.wait() {
                seen = seen.saturating_add(1);
                if seen > 1 {
                    log(&format!("{sig} again: exiting now"));
                    std::process::exit(143);
                }
                log(&format!("{sig}: finishing running jobs, then exiting"));
                shutdown.request();
            }
        })
        .map_err(SignalError::Thread)?;
    Ok(())
}
