//! `meshctl generate`: turns the facts discovered in a live AWS account and cluster
//! (`facts`, gathered by provider-aws's and provider-kube's `discover` modules) into a stack file
//! that validates, uses typed references instead of copied ids, and carries `import:` on every
//! resource (`compose`). Pure: no IO.

pub mod compose;
pub mod facts;

pub use compose::compose;
pub use facts::Facts;
