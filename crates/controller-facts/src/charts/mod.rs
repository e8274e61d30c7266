//! The value paths of each chart version in the table, generated from the upstream values.yaml by
//! `scripts/values_paths.py` (regenerate, never edit by hand).

mod cert_manager_1_14_4;
mod cert_manager_1_15_0;
mod lb_controller_1_7_2;

pub(crate) use cert_manager_1_14_4::CERT_MANAGER_1_14_4;
pub(crate) use cert_manager_1_15_0::CERT_MANAGER_1_15_0;
pub(crate) use lb_controller_1_7_2::LB_CONTROLLER_1_7_2;

/// A key of a chart's values: a branch (a mapping whose keys the chart lists) or a leaf (the chart
/// takes any value there, mappings included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Branch,
    Leaf,
}
