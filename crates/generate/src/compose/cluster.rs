//! The cluster resources of a generated stack: add-ons, Istio and its gateways, balancers made
//! from Ingresses and Services, issuers, certificates and the mesh's objects.

use crate::Facts;

/// Appends the cluster resources `facts` hold to `out`.
pub fn compose(_facts: &Facts, _out: &mut String) {}
