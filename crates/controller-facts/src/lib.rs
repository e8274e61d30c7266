//! Facts about the controllers meshctl installs, taken from their upstream docs and charts, in one
//! place that the renderer's tests and the sandbox both read: the AWS Load Balancer Controller's
//! annotation names and value formats (`annotations`) and the values each pinned Helm chart
//! accepts (`helm_values`). Pure data and checks: no IO.

pub mod annotations;
mod charts;
pub mod helm_values;

pub use annotations::{check_annotation, lookup_annotation, Annotation, AnnotationError, Format};
pub use helm_values::{chart_values, ChartValues};
