//! The stack language of meshctl: schema, addresses, references, vars, validation and diagnostics.
//!
//! Pure: it reads text it is given and never touches the network, the disk or an async runtime,
//! so the planner and tests can use it anywhere.

pub mod de;
pub mod diagnostic;
pub mod fmt;
pub mod interpolate;
pub mod kinds;
pub mod lifecycle;
pub mod limits;
pub mod link;
pub mod load;
pub mod path;
pub mod record;
pub mod redact;
pub mod span;
pub mod stack;
pub mod validate;
pub mod values;
pub mod vars;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use kinds::{Kind, Spec};
pub use load::{load, read_header, read_header_with, Loaded};
pub use path::FieldPath;
pub use span::{SourceFile, Span};
pub use stack::{Address, Resource, Stack};
pub use vars::VarOverrides;
