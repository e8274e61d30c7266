//! The lock of an S3 state: the object `<key>.lock`, created with `If-None-Match: *` (S3's
//! conditional write, as Terraform 1.10 and OpenTofu 1.8 do with `use_lockfile`) and holding the
//! holder's `LockInfo` as JSON. A 412 means held: the holder is read and named, or the lock is
//! polled until `--lock-timeout`. A holder on this host that is provably gone is taken over.
//! Release deletes the object only while it is still this holder's (`If-Match` on its ETag).

use crate::remote::{Expect, Remote, Written};
use meshctl_state::{HeldLock, LockInfo, LockedState, StateError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(500);

/// A held S3 lock; dropping it deletes the lock object if it is still this one.
#[derive(Debug)]
pub struct S3Lock {
    remote: Arc<Remote>,
    info: LockInfo,
    took_over: Option<(LockInfo, String)>,
}

impl S3Lock {
    /// Takes the lock for `operation`, waiting up to `timeout`.
    pub fn acquire(
        remote: &Arc<Remote>,
        operation: &str,
        timeout: Duration,
    ) -> Result<S3Lock, StateError> {
        let info = LockInfo::of_this_process(operation);
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|e| StateError::Invalid(format!("cannot encode the lock: {e}")))?;
        let key = remote.location.lock_key();
        let deadline = Instant::now() + timeout;
        let mut took_over = None;
        loop {
            match remote.block(remote.put(&key, body.clone(), &Expect::Absent))? {
                Written::Done(_) => return Ok(S3Lock::held(remote, info, took_over)),
                Written::Refused => {}
            }
            let current = remote.block(remote.get(&key))?;
            let Some(current) = current else {
                // Released between the write and the read: try again at once.
                continue;
            };
            let holder: Option<LockInfo> = serde_json::from_slice(&current.body).ok();
            if let Some(holder) = &holder {
                if holder.id == info.id {
                    // An earlier attempt of this very write succeeded and its answer was lost.
                    return Ok(S3Lock::held(remote, info, took_over));
                }
                if let Some(reason) = holder.gone_because() {
                    if remote.block(remote.delete_if(&key, &current.etag))? {
                        took_over = Some((holder.clone(), reason));
                    }
                    continue;
                }
            }
            if Instant::now() >= deadline {
                return Err(StateError::Locked(Box::new(LockedState {
                    location: remote.location.url(),
                    lock_object: remote.location.url_of(&key),
                    holder,
                    target: "-f STACK_FILE".to_string(),
                })));
            }
            std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    fn held(remote: &Arc<Remote>, info: LockInfo, took_over: Option<(LockInfo, String)>) -> S3Lock {
        let releaser = Arc::clone(remote);
        let id = info.id.clone();
        meshctl_state::register_held_lock(
            &info.id,
            Box::new(move || release(&releaser, &id).unwrap_or(false)),
        );
        S3Lock {
            remote: Arc::clone(remote),
            info,
            took_over,
        }
    }
}

impl HeldLock for S3Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn took_over(&self) -> Option<&(LockInfo, String)> {
        self.took_over.as_ref()
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        meshctl_state::forget_held_lock(&self.info.id);
        // A lock that cannot be released now is named by the next command, with force-unlock.
        let _ = release(&self.remote, &self.info.id);
    }
}

/// Deletes the lock object if it holds lock `id`; returns whether it did.
fn release(remote: &Remote, id: &str) -> Result<bool, StateError> {
    let key = remote.location.lock_key();
    let Some(current) = remote.block(remote.get(&key))? else {
        return Ok(false);
    };
    match serde_json::from_slice::<LockInfo>(&current.body) {
        Ok(holder) if holder.id == id => remote.block(remote.delete_if(&key, &current.etag)),
        _ => Ok(false),
    }
}

/// Breaks the lock if its ID is `id`; returns the holder it broke.
pub fn force_unlock(remote: &Remote, id: &str) -> Result<LockInfo, StateError> {
    let key = remote.location.lock_key();
    let no_such_lock = |current: String| StateError::NoSuchLock {
        path: remote.location.url(),
        id: id.to_string(),
        current,
    };
    let Some(current) = remote.block(remote.get(&key))? else {
        return Err(no_such_lock("not locked".to_string()));
    };
    match serde_json::from_slice::<LockInfo>(&current.body) {
        Ok(holder) if holder.id == id => {
            if remote.block(remote.delete_if(&key, &current.etag))? {
                Ok(holder)
            } else {
                Err(no_such_lock(
                    "it was released or replaced meanwhile".to_string(),
                ))
            }
        }
        Ok(holder) => Err(no_such_lock(format!(
            "{} held by {}@{}",
            holder.id, holder.holder, holder.host
        ))),
        Err(e) => Err(no_such_lock(format!(
            "unreadable ({e}); delete {} if no meshctl runs on this state",
            remote.location.url_of(&key)
        ))),
    }
}
