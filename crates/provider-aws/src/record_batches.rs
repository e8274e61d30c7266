//! Record changes of one hosted zone made at once go to Route53 together: one
//! `ChangeResourceRecordSets` carries up to 1,000 of them, and the engine lets such calls share
//! one rate-limit slot (`RateLimit::shared` of `dns_record`), so 1,000 records take a few requests
//! instead of 1,000 under Route53's five a second.
//!
//! The first call to arrive for a zone leads the batch; the others join it until arrivals stop
//! (the engine releases a group at one instant). Every member keeps its own journal and records:
//! 1. **Check.** Creates and deletes need the live record sets: the leader reads them once for
//!    the batch (the zone's listing, by page, or one name when the batch is small) and hands
//!    each member what exists under its name.
//! 2. **Decide.** Each member decides in its own step: a create records its object *before* it
//!    is written (so a kill leaves it known) or adopts an identical record or refuses someone
//!    else's; a delete of a set that is gone has nothing to send.
//! 3. **Send.** The leader sends what the members still want in as few requests as Route53's
//!    limits allow and waits once per request until it is INSYNC. Route53 applies a request
//!    whole or not at all: if it refuses one (a record written meanwhile), the rest would fail
//!    with it, so a refused request's changes are sent again one by one, each getting its own
//!    answer.
//!
//! A member whose leader was stopped (the leader's step was cancelled) gets a retryable error:
//! the engine retries it, and it joins the next batch.

use crate::route53::{find_set, list_sets, set_key, unescape, wait_insync};
use crate::{errors::classify, Cx, Result};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecordSet, RrType};
use meshctl_provider::{ErrorClass, ProviderError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// Route53's limits on one request: changes, `ResourceRecord` elements and characters of
/// values (an UPSERT counts twice toward the last two).
const MAX_CHANGES: usize = 1000;
const MAX_ELEMENTS: usize = 1000;
const MAX_VALUE_CHARS: usize = 32_000;
/// A batch closes when no member has joined for this long, or at the latest after `GATHER_MAX`.
const GATHER_QUIET: Duration = Duration::from_millis(3);
const GATHER_MAX: Duration = Duration::from_millis(50);
/// Up to this many creates and deletes are checked name by name; more read the zone's listing.
const CHECK_BY_NAME: usize = 3;

/// What a member wants done to one record set.
pub(crate) enum Wanted {
    /// Create this set where nothing of its name and type exists.
    Create(ResourceRecordSet),
    /// Write this set, whatever is there.
    Upsert(ResourceRecordSet),
    /// Delete the set of this name and type as it is now.
    Delete { name: String, kind: RrType },
}

impl Wanted {
    fn key(&self) -> (String, String) {
        match self {
            Wanted::Create(set) | Wanted::Upsert(set) => {
                set_key(&unescape(set.name()), set.r#type().as_str())
            }
            Wanted::Delete { name, kind } => set_key(name, kind.as_str()),
        }
    }

    fn needs_check(&self) -> bool {
        !matches!(self, Wanted::Upsert(_))
    }
}

/// A member's decision once it knows what exists under its name (`Checked`).
pub(crate) enum Decision {
    /// Send this change.
    Send(Box<Change>),
    /// Send nothing (adopted, refused or already gone).
    Nothing,
}

/// What exists under a member's name and type; `None` for upserts, which are not checked.
pub(crate) type Checked = Option<ResourceRecordSet>;

/// The error a batch step reports to each member, made the member's own error.
type Failure = (ErrorClass, String);

struct Member {
    wanted: Wanted,
    /// The check's answer, then the member's decision, then the result of sending it.
    checked: oneshot::Sender<std::result::Result<Checked, Failure>>,
    decision: oneshot::Receiver<Decision>,
    sent: oneshot::Sender<std::result::Result<(), Failure>>,
}

#[derive(Default)]
struct Queue {
    leading: bool,
    pending: Vec<Member>,
}

/// The batches being gathered, by hosted zone id.
#[derive(Default)]
pub(crate) struct RecordBatches {
    zones: Mutex<HashMap<String, Queue>>,
}

impl RecordBatches {
    /// Does `wanted` in `zone` as part of a batch: `decide` is called in the caller's own task
    /// with what exists under the name (for creates and deletes), records what must be recorded
    /// before the write, and says what to send; returns once that is INSYNC.
    pub(crate) async fn change<T>(
        &self,
        cx: &Cx<'_>,
        zone: &str,
        wanted: Wanted,
        operation: &'static str,
        decide: impl FnOnce(Checked) -> Result<(Decision, T)>,
    ) -> Result<T> {
        let (checked_tx, checked_rx) = oneshot::channel();
        let (decision_tx, decision_rx) = oneshot::channel();
        let (sent_tx, sent_rx) = oneshot::channel();
        let lead = {
            let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
            let queue = zones.entry(zone.to_string()).or_default();
            queue.pending.push(Member {
                wanted,
                checked: checked_tx,
                decision: decision_rx,
                sent: sent_tx,
            });
            !std::mem::replace(&mut queue.leading, true)
        };
        let abandoned = || {
            cx.error(
                ErrorClass::Retryable,
                operation,
                "the Route53 change batch this record was in stopped before it was sent",
            )
        };
        let as_error = |(class, message): Failure| cx.error(class, operation, message);
        let member = async {
            let checked = checked_rx
                .await
                .map_err(|_| abandoned())?
                .map_err(as_error)?;
            let (decision, value) = decide(checked)?;
            let sends = matches!(decision, Decision::Send(_));
            // A leader gone by now leaves nothing to wait for.
            if decision_tx.send(decision).is_err() {
                return Err(abandoned());
            }
            if sends {
                sent_rx.await.map_err(|_| abandoned())?.map_err(as_error)?;
            }
            Ok(value)
        };
        if lead {
            let (_, result) = tokio::join!(self.lead(cx, zone, operation), member);
            result
        } else {
            member.await
        }
    }

    /// Gathers the zone's members until arrivals stop, then checks, collects decisions and sends.
    async fn lead(&self, cx: &Cx<'_>, zone: &str, operation: &'static str) {
        let started = tokio::time::Instant::now();
        let mut seen = 0;
        loop {
            tokio::time::sleep(GATHER_QUIET).await;
            let now = self.pending(zone);
            if now == seen || started.elapsed() >= GATHER_MAX {
                break;
            }
            seen = now;
        }
        let members = {
            let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
            let queue = zones.entry(zone.to_string()).or_default();
            queue.leading = false;
            std::mem::take(&mut queue.pending)
        };
        let live = match check(cx, zone, &members, operation).await {
            Ok(live) => live,
            Err(e) => {
                for member in members {
                    let _ = member.checked.send(Err((e.class, e.message.clone())));
                }
                return;
            }
        };
        let mut decided = Vec::new();
        let mut waiting = Vec::new();
        for member in members {
            let checked = if member.wanted.needs_check() {
                live.get(&member.wanted.key()).cloned()
            } else {
                None
            };
            if member.checked.send(Ok(checked)).is_ok() {
                waiting.push((member.decision, member.sent));
            }
        }
        for (decision, sent) in waiting {
            // A member stopped meanwhile (its step was cancelled) sends nothing.
            if let Ok(Decision::Send(change)) = decision.await {
                let change = *change;
                decided.push((change, sent));
            }
        }
        send(cx, zone, decided, operation).await;
    }

    fn pending(&self, zone: &str) -> usize {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones.get(zone).map_or(0, |queue| queue.pending.len())
    }
}

/// The live sets under the names of the members that need checking, by `set_key`.
async fn check(
    cx: &Cx<'_>,
    zone: &str,
    members: &[Member],
    operation: &'static str,
) -> Result<HashMap<(String, String), ResourceRecordSet>> {
    let checked: Vec<&Wanted> = members
        .iter()
        .map(|m| &m.wanted)
        .filter(|w| w.needs_check())
        .collect();
    let mut live = HashMap::new();
    if checked.len() <= CHECK_BY_NAME {
        for wanted in checked {
            let (name, kind) = match wanted {
                Wanted::Create(set) => (unescape(set.name()), set.r#type().clone()),
                Wanted::Delete { name, kind } => (name.clone(), kind.clone()),
                Wanted::Upsert(_) => continue,
            };
            if let Some(set) = find_set(cx, zone, &name, &kind, operation).await? {
                live.insert(wanted.key(), set);
            }
        }
        return Ok(live);
    }
    let sets = match list_sets(cx, zone, None, operation).await {
        Err(e) if e.class == ErrorClass::NotFound => Vec::new(),
        other => other?,
    };
    for set in sets {
        // The first set of a name and type, as `find_set` takes it.
        live.entry(set_key(&unescape(set.name()), set.r#type().as_str()))
            .or_insert(set);
    }
    Ok(live)
}

type Decided = (Change, oneshot::Sender<std::result::Result<(), Failure>>);

/// Sends the decided changes in requests within Route53's limits; a refused request's changes
/// go again one by one.
async fn send(cx: &Cx<'_>, zone: &str, decided: Vec<Decided>, operation: &'static str) {
    for request in requests(decided) {
        let changes: Vec<Change> = request.iter().map(|(change, _)| change.clone()).collect();
        match send_request(cx, zone, changes, operation).await {
            Ok(()) => answer(request, Ok(())),
            Err(e)
                if e.message
                    .starts_with("ChangeResourceRecordSets: InvalidChangeBatch")
                    && request.len() > 1 =>
            {
                for (change, sent) in request {
                    let result = send_request(cx, zone, vec![change], operation).await;
                    let _ = sent.send(result.map_err(|e| (e.class, e.message)));
                }
            }
            Err(e) => answer(request, Err((e.class, e.message))),
        }
    }
}

fn answer(request: Vec<Decided>, result: std::result::Result<(), Failure>) {
    for (_, sent) in request {
        let _ = sent.send(result.clone());
    }
}

/// The decided changes split into requests Route53 accepts.
fn requests(decided: Vec<Decided>) -> Vec<Vec<Decided>> {
    let mut requests: Vec<Vec<Decided>> = Vec::new();
    let (mut elements, mut chars) = (0, 0);
    for decided in decided {
        let (e, c) = weight(&decided.0);
        let fits = requests.last().is_some_and(|last| {
            last.len() < MAX_CHANGES && elements + e <= MAX_ELEMENTS && chars + c <= MAX_VALUE_CHARS
        });
        if !fits {
            requests.push(Vec::new());
            (elements, chars) = (0, 0);
        }
        elements += e;
        chars += c;
        if let Some(last) = requests.last_mut() {
            last.push(decided);
        }
    }
    requests
}

/// A change's `ResourceRecord` elements and value characters as Route53 counts them.
fn weight(change: &Change) -> (usize, usize) {
    let set = change.resource_record_set();
    let records = set.map_or(&[][..], |s| s.resource_records());
    let elements = records.len().max(1);
    let chars: usize = records.iter().map(|r| r.value().len()).sum();
    let times = if *change.action() == ChangeAction::Upsert {
        2
    } else {
        1
    };
    (elements * times, chars * times)
}

/// One `ChangeResourceRecordSets`, waited for until INSYNC.
async fn send_request(
    cx: &Cx<'_>,
    zone: &str,
    changes: Vec<Change>,
    operation: &'static str,
) -> std::result::Result<(), ProviderError> {
    let count = changes.len();
    let batch = ChangeBatch::builder()
        .comment(format!("meshctl: {count} record change(s)"))
        .set_changes(Some(changes))
        .build()
        .map_err(|e| cx.error(ErrorClass::Permanent, operation, e.to_string()))?;
    let sent = cx
        .aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch)
        .send()
        .await
        .map_err(|error| {
            let (class, message) = classify(&error);
            cx.error(
                class,
                operation,
                format!("ChangeResourceRecordSets: {message}"),
            )
        })?;
    match sent.change_info() {
        Some(info) => wait_insync(cx, info, operation).await,
        None => Ok(()),
    }
}
