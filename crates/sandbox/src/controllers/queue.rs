//! The work queue every add-on controller runs on: keys to reconcile come from store changes,
//! periodic resyncs and requeues; each controller reconciles one key at a time, so two passes
//! over the same load balancer never race to create it twice.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::kube::{Change, Store};

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Done until something changes (or the periodic resync).
    Idle,
    /// Look again after this long (a retry, or a deletion delay running out).
    After(Duration),
}

/// Runs `reconcile` for the keys `keys_for(store, Some(change))` names after every change, for
/// all keys (`keys_for(store, None)`) at start, on lag and every `resync`, and for requeued ones.
pub(crate) fn spawn_queue<K, Keys, Rec, Fut>(
    store: Arc<Store>,
    resync: Duration,
    keys_for: Keys,
    reconcile: Rec,
) -> JoinHandle<()>
where
    K: Ord + Clone + Send + Sync + 'static,
    Keys: Fn(Arc<Store>, Option<Change>) -> Fut2<K> + Send + Sync + 'static,
    Rec: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Next> + Send + 'static,
{
    tokio::spawn(async move {
        let mut changes = store.subscribe();
        let (requeue_tx, mut requeued) = mpsc::unbounded_channel::<K>();
        let mut ticker = tokio::time::interval(resync);
        let mut pending: BTreeSet<K> = BTreeSet::new();
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => pending.extend(keys_for(store.clone(), Some(change)).await),
                    Err(RecvError::Lagged(_)) => pending.extend(keys_for(store.clone(), None).await),
                    Err(RecvError::Closed) => return,
                },
                Some(key) = requeued.recv() => { pending.insert(key); }
                // The first tick fires at once: the initial full pass.
                _ = ticker.tick() => pending.extend(keys_for(store.clone(), None).await),
            }
            // Take whatever else is already waiting, so a burst of changes costs one pass.
            loop {
                match changes.try_recv() {
                    Ok(change) => pending.extend(keys_for(store.clone(), Some(change)).await),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {
                        pending.extend(keys_for(store.clone(), None).await)
                    }
                    Err(_) => break,
                }
            }
            while let Some(key) = pending.pop_first() {
                if let Next::After(delay) = reconcile(key.clone()).await {
                    let tx = requeue_tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(key);
                    });
                }
            }
        }
    })
}

/// The keys a change (or a full pass) names; async because some controllers ask AWS which
/// load balancers exist.
pub(crate) type Fut2<K> = std::pin::Pin<Box<dyn Future<Output = Vec<K>> + Send + 'static>>;
