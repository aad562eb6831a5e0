//! Graceful shutdown: one broadcast tells every task to stop; each long wait (accept, read,
//! fetch long poll, retention timer) selects on it.
//!
//! # References
//! - tokio's mini-redis `shutdown.rs`, whose shape this follows.

use tokio::sync::broadcast;

/// Listens for the shutdown signal. Cheap to clone via [`Shutdown::resubscribe`].
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits until shutdown is signalled (returns at once if it already was).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Either a message or a closed channel means shutdown.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }

    pub fn resubscribe(&self) -> Shutdown {
        Shutdown {
            is_shutdown: self.is_shutdown,
            notify: self.notify.resubscribe(),
        }
    }
}
