//! Following the other replicas: each change they commit (a notice from the store) drops
//! the answers it can change here, as the replica's own writes do, so a write
//! acknowledged by any replica is reflected in every replica's answers as soon as its
//! notice arrives (milliseconds; the acceptance bound is one second). A lost listening
//! connection may have missed notices, so everything cached here is dropped, and the
//! listener connects again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Inner, Service};
use crate::store::{Change, Changed};

/// How long to wait before listening again after the database could not be reached.
const RETRY: Duration = Duration::from_secs(1);

impl Service {
    /// Follows the changes other replicas commit, in the background, for as long as the
    /// service lives. Does nothing on SQLite (one process per database file).
    pub fn follow_changes(&self) {
        if self.store().backend() != crate::store::Backend::Postgres {
            return;
        }
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(follow(weak));
    }

    /// Applies one change committed by another replica, as its own writes are applied.
    fn changed(&self, change: &Change) {
        match &change.changed {
            Changed::Partners { partners } => {
                self.0.set_aside(&change.tenant, Some(partners), None);
            }
            Changed::Tenant => self.0.set_aside(&change.tenant, None, None),
            Changed::Model => self.drop_engine(&change.tenant),
        }
    }

    /// Notices may have been missed: nothing held here can be trusted.
    fn forget_everything(&self) {
        self.0.views.drop_all();
        self.0.answers.invalidate_all();
        if let Ok(mut engines) = self.0.engines.loaded.write() {
            engines.clear();
        }
    }
}

async fn follow(weak: Weak<Inner>) {
    let mut connected_before = false;
    loop {
        let Some(service) = weak.upgrade().map(Service) else {
            return;
        };
        let listener = service.store().listen().await;
        let mut listener = match listener {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %crate::report::Report(&e), "cannot listen for other replicas' changes; trying again");
                drop(service);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if connected_before {
            // Whatever was committed while we were away went unheard.
            service.forget_everything();
        }
        connected_before = true;
        let me = service.store().replica_id().to_owned();
        drop(service);
        tracing::info!("following other replicas' changes");
        loop {
            let next = listener.next().await;
            let Some(service) = weak.upgrade().map(Service) else {
                return;
            };
            match next {
                Ok(Some(change)) if change.origin == me => {}
                Ok(Some(change)) => {
                    tracing::debug!(tenant = %change.tenant, ?change.changed, "a replica committed a change");
                    service.changed(&change);
                }
                Ok(None) => {
                    tracing::warn!(
                        "the change listener lost its connection; dropping every cached answer"
                    );
                    service.forget_everything();
                }
                Err(e) => {
                    tracing::warn!(error = %crate::report::Report(&e), "the change listener failed; dropping every cached answer and listening again");
                    service.forget_everything();
                    break;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}
