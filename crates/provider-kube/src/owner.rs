//! Who owns a live object: the stack and resource address meshctl marks every object, Helm
//! release and Istio install with, read back so that one stack never takes over, upgrades or
//! deletes what another stack on the same cluster owns.

use serde_json::Value;

use crate::render::{ADDRESS_ANNOTATION, KIND_LABEL, STACK_LABEL};

/// The owner a live object is marked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub stack: String,
    /// `kind.name`, when the object says.
    pub address: Option<String>,
}

impl Owner {
    /// The owner marked on a live object (its `metadata`), or `None` when it carries no stack
    /// mark: made by hand, by another tool, or by a meshctl from before the marks.
    pub fn of(object: &Value) -> Option<Owner> {
        let metadata = &object["metadata"];
        let stack = metadata["labels"][STACK_LABEL].as_str()?;
        Some(Owner {
            stack: stack.to_string(),
            address: metadata["annotations"][ADDRESS_ANNOTATION]
                .as_str()
                .map(str::to_string),
        })
    }

    /// The owner of a Helm release, from the labels of its storage Secret.
    pub fn of_release(labels: &Value, release: &str) -> Option<Owner> {
        let stack = labels[STACK_LABEL].as_str()?;
        Some(Owner {
            stack: stack.to_string(),
            address: labels[KIND_LABEL]
                .as_str()
                .map(|kind| format!("{kind}.{release}")),
        })
    }

    /// Whether this is another stack than `stack`.
    pub fn is_other_than(&self, stack: &str) -> bool {
        self.stack != stack
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.address {
            Some(address) => write!(f, "stack `{}` ({address})", self.stack),
            None => write!(f, "stack `{}`", self.stack),
        }
    }
}

/// The owner of `object` when it is a stack other than `stack`.
pub fn other_stack(object: &Value, stack: &str) -> Option<Owner> {
    Owner::of(object).filter(|owner| owner.is_other_than(stack))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_owner_is_read_from_the_stack_label_and_address_annotation() {
        let object = json!({"metadata": {"name": "web",
            "labels": {"meshctl.io/stack": "shop", "app.kubernetes.io/managed-by": "meshctl"},
            "annotations": {"meshctl.io/address": "manifest.web"}}});
        let owner = Owner::of(&object).unwrap();
        assert_eq!(owner.to_string(), "stack `shop` (manifest.web)");
        assert_eq!(other_stack(&object, "shop"), None);
        assert_eq!(other_stack(&object, "blog"), Some(owner));
        // Hand-made, or marked before stacks were: nobody's.
        let unmarked = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "meshctl"}}});
        assert_eq!(Owner::of(&unmarked), None);
        assert_eq!(Owner::of(&json!(null)), None);
    }

    #[test]
    fn a_release_owner_is_its_stack_and_kind_with_the_release_name() {
        let labels =
            json!({"owner": "helm", "meshctl.io/stack": "shop", "meshctl.io/kind": "helm_release"});
        assert_eq!(
            Owner::of_release(&labels, "kiali").unwrap().to_string(),
            "stack `shop` (helm_release.kiali)"
        );
        assert_eq!(Owner::of_release(&json!({"owner": "helm"}), "kiali"), None);
    }
}
