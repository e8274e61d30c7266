//! The census of the cluster: namespaces labelled `meshctl.io/stack` with this stack, for the
//! engine to compare with the state before creating anything (a missing or wrong state would
//! otherwise take them over as new).

use super::{Call, KubeProvider};
use crate::objects::ObjectRef;
use crate::owner::Owner;
use crate::render::STACK_LABEL;
use meshctl_model::Address;
use meshctl_provider::{Found, Inputs, Progress, ProviderError};

/// Nothing to report: the census waits for no long operation.
struct Silent;

impl Progress for Silent {
    fn update(&self, _address: &Address, _message: &str) {}
}

impl KubeProvider {
    /// The stack's labelled namespaces. A cluster this stack creates itself
    /// (`kube.from_cluster`) is the AWS census's to find, and cannot be reached before its
    /// outputs are known; a cluster that cannot be reached holds nothing meshctl could take over
    /// now (apply fails on it first), so both find nothing here.
    pub(super) async fn census_namespaces(
        &self,
        address: &Address,
    ) -> Result<Vec<Found>, ProviderError> {
        if self.cluster_address().is_some() {
            return Ok(Vec::new());
        }
        let Ok(connected) = self.connect(address, &Inputs::new(), "census").await else {
            return Ok(Vec::new());
        };
        let call = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "census",
            progress: &Silent,
        };
        let selector = format!("{STACK_LABEL}={}", self.settings.stack);
        let namespaces = connected
            .objects
            .list("v1", "Namespace", None, &selector)
            .await
            .map_err(|e| call.object_error(e))?;
        Ok(namespaces
            .iter()
            .filter_map(|namespace| {
                let owner = Owner::of(namespace)?;
                (owner.stack == self.settings.stack).then_some(Found {
                    object: ObjectRef::of(namespace)?.owned(),
                    address: owner.address,
                })
            })
            .collect())
    }
}
