//! `meshctl verify`: for every host a stack serves, the live traffic path checked link by link
//! (record, balancer, listener and certificate, target group health, gateway pods, Gateway
//! server and TLS Secret, VirtualService, destination Services), naming the first that breaks.
//!
//! `read` reads the world in batches into a `snapshot::Snapshot`; `check` judges it without IO
//! against the stack's traffic model (`meshctl_graph::traffic`) into a `report::Report`, which
//! `render` prints and `last` keeps for the picture.

pub mod check;
pub mod last;
pub mod read;
pub mod render;
pub mod report;
pub mod snapshot;

pub use check::check;
pub use report::{Report, Status};
