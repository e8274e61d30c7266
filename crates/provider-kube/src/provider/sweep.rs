//! The sweep after an interrupted run: what carries this stack's owner marks and this resource's
//! address on the cluster but is not among the objects state knows. Creates and updates record
//! every object before making it, so a killed run normally leaves nothing to find; this catches
//! what was made anyway without a record (a state write lost with the process, a run by a
//! meshctl from before updates were journaled) so that the next run removes it rather than
//! leaving it on the cluster for good.

use meshctl_model::record::OwnedObject;
use meshctl_model::Address;
use meshctl_provider::{Inputs, Progress, ProviderError};

use super::installs::install_recorded_by;
use super::{Call, KubeProvider};
use crate::objects::{Listed, ObjectRef};
use crate::owner::Owner;
use crate::render::{MANAGED_BY, MANAGED_BY_LABEL, STACK_LABEL};

impl KubeProvider {
    /// Deletes the objects marked as `address`'s of this stack that `keep` does not name (an
    /// Istio install found by istioctl's record of it is uninstalled), namespaced objects first
    /// and the namespaces they may live in last.
    pub(super) async fn sweep_unrecorded(
        &self,
        address: &Address,
        keep: &[OwnedObject],
        inputs: &Inputs,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let connected = self.connect(address, inputs, "sweep").await?;
        let cx = Call {
            provider: self,
            connected: &connected,
            address,
            operation: "sweep",
            progress,
        };
        let selector = format!(
            "{MANAGED_BY_LABEL}={MANAGED_BY},{STACK_LABEL}={}",
            self.settings.stack
        );
        let listed = connected
            .objects
            .list_labelled(&selector)
            .await
            .map_err(|e| cx.object_error(e))?;
        for unread in &listed.unread {
            progress.update(
                address,
                &format!("not looked at for what an interrupted run left: {unread}"),
            );
        }
        let kept: Vec<ObjectRef> = keep.iter().filter_map(ObjectRef::from_owned).collect();
        let mut orphans = unrecorded(address, &listed.found, keep, &kept);
        if orphans.is_empty() {
            return Ok(());
        }
        progress.update(
            address,
            &format!(
                "removing {} object(s) an interrupted run left behind",
                orphans.len()
            ),
        );
        // `delete_all` deletes last-listed first.
        orphans.sort_by_key(|(rank, _)| *rank);
        let orphans: Vec<OwnedObject> = orphans.into_iter().map(|(_, object)| object).collect();
        cx.delete_all(&orphans).await
    }
}

/// The marked objects of `address` that state does not know, each with its rank in the order of
/// deleting (highest first): namespaced objects, then installs, then cluster-scoped objects, then
/// namespaces.
fn unrecorded(
    address: &Address,
    found: &[Listed],
    keep: &[OwnedObject],
    kept: &[ObjectRef],
) -> Vec<(u8, OwnedObject)> {
    let address = address.to_string();
    found
        .iter()
        .filter(|listed| {
            Owner::of(&listed.object).and_then(|owner| owner.address) == Some(address.clone())
        })
        .filter_map(|listed| match install_recorded_by(&listed.reference) {
            Some(install) => (!keep.contains(&install)).then_some((2, install)),
            None => {
                let recorded = kept
                    .iter()
                    .any(|kept| listed.reference.is(kept, listed.namespaced));
                let rank = match (listed.namespaced, listed.reference.kind.as_str()) {
                    (true, _) => 3,
                    (false, "Namespace") => 0,
                    (false, _) => 1,
                };
                (!recorded).then(|| (rank, listed.reference.owned()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshctl_model::Kind;
    use serde_json::json;

    fn listed(api_version: &str, kind: &str, namespace: Option<&str>, address: &str) -> Listed {
        Listed {
            reference: ObjectRef {
                api_version: api_version.into(),
                kind: kind.into(),
                namespace: namespace.map(str::to_string),
                name: "web".into(),
            },
            namespaced: namespace.is_some(),
            object: json!({"metadata": {
                "labels": {"meshctl.io/stack": "shop", "app.kubernetes.io/managed-by": "meshctl"},
                "annotations": {"meshctl.io/address": address}}}),
        }
    }

    #[test]
    fn only_this_resources_unrecorded_objects_are_swept_whatever_version_state_wrote() {
        let address = Address::new(Kind::Manifest, "web");
        let found = [
            // Recorded as v1beta1, served as v1: the same object.
            listed(
                "networking.istio.io/v1",
                "Gateway",
                Some("default"),
                "manifest.web",
            ),
            listed("v1", "ConfigMap", Some("default"), "manifest.web"),
            listed("v1", "ConfigMap", Some("default"), "manifest.other"),
            listed("v1", "Namespace", None, "manifest.web"),
        ];
        let keep = [ObjectRef {
            api_version: "networking.istio.io/v1beta1".into(),
            kind: "Gateway".into(),
            namespace: None,
            name: "web".into(),
        }
        .owned()];
        let kept: Vec<ObjectRef> = keep.iter().filter_map(ObjectRef::from_owned).collect();
        let mut swept = unrecorded(&address, &found, &keep, &kept);
        swept.sort_by_key(|(rank, _)| *rank);
        let swept: Vec<String> = swept
            .iter()
            .map(|(_, o)| format!("{} {}", o.kind, o.id))
            .collect();
        assert_eq!(
            swept,
            ["k8s:v1/Namespace web", "k8s:v1/ConfigMap default/web"]
        );
    }

    #[test]
    fn an_istio_install_is_known_by_istioctls_record_of_it() {
        let address = Address::new(Kind::Istio, "mesh");
        let record = Listed {
            reference: ObjectRef {
                api_version: "install.istio.io/v1alpha1".into(),
                kind: "IstioOperator".into(),
                namespace: Some("istio-system".into()),
                name: "installed-state-mesh-1-22".into(),
            },
            namespaced: true,
            object: json!({"metadata": {
                "labels": {"meshctl.io/stack": "shop"},
                "annotations": {"meshctl.io/address": "istio.mesh"}}}),
        };
        let install = OwnedObject {
            kind: "istio:operator".into(),
            id: "istio-system/mesh-1-22".into(),
        };
        let found = [record];
        assert_eq!(
            unrecorded(&address, &found, std::slice::from_ref(&install), &[]),
            Vec::new()
        );
        assert_eq!(unrecorded(&address, &found, &[], &[]), vec![(2, install)]);
    }
}
