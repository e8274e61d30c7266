//! Which step starts when: the scheduled nodes of a plan (a replacement that deletes first is
//! two) and the order between them.

use meshctl_model::record::NodeRecord;
use meshctl_model::Address;
use meshctl_plan::{Action, ResourceChange};
use std::collections::{HashMap, HashSet};

/// Which part of a step a scheduled node runs. A replacement that deletes first runs as two
/// nodes, so that replacements chained through dependencies delete dependents first and create
/// them last (a VPC's cluster is deleted before the VPC, and created after the new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Phase {
    Whole,
    /// Delete the old objects of a replaced resource.
    Destroy,
    /// Create the new ones.
    Create,
}

/// One schedulable unit: a step, or one phase of a replacement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Node {
    pub(super) step: usize,
    pub(super) phase: Phase,
}

/// The scheduled nodes: one per step, two for a replacement that deletes first (and has
/// something recorded to delete).
pub(super) fn nodes(steps: &[ResourceChange], prior: &HashMap<Address, NodeRecord>) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (step, change) in steps.iter().enumerate() {
        if change.action == Action::Replace
            && !change.create_before_destroy
            && prior.contains_key(&change.address)
        {
            nodes.push(Node {
                step,
                phase: Phase::Destroy,
            });
            nodes.push(Node {
                step,
                phase: Phase::Create,
            });
        } else {
            nodes.push(Node {
                step,
                phase: Phase::Whole,
            });
        }
    }
    nodes
}

/// For each node, how many nodes it waits for, and which nodes wait for it. Creates, updates and
/// reads follow what they depend on (a replaced dependency once its new object exists);
/// deletions of resources that left the stack follow every other node (something may still use
/// them until it is updated) and the deletions of what depended on them; the old objects of a
/// replaced resource are deleted after those of replaced resources that depend on it, and
/// created again after they are deleted.
pub(super) fn order(steps: &[ResourceChange], nodes: &[Node]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let index: HashMap<&Address, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.address, i))
        .collect();
    let positions: HashMap<(usize, Phase), usize> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| ((node.step, node.phase), n))
        .collect();
    let node_of = |step: usize, phase: Phase| positions.get(&(step, phase)).copied();
    // The node after which a step's new outputs exist, and the one that deletes its old objects.
    let ready_node: Vec<usize> = (0..steps.len())
        .map(|i| {
            node_of(i, Phase::Create)
                .or_else(|| node_of(i, Phase::Whole))
                .unwrap_or(0)
        })
        .collect();
    let destroy_node: Vec<Option<usize>> = (0..steps.len())
        .map(|i| node_of(i, Phase::Destroy))
        .collect();
    let mut waits: Vec<HashSet<usize>> = vec![HashSet::new(); nodes.len()];
    let keeps: Vec<usize> = (0..nodes.len())
        .filter(|n| steps[nodes[*n].step].action != Action::Delete)
        .collect();
    for (n, node) in nodes.iter().enumerate() {
        let step = &steps[node.step];
        match node.phase {
            _ if step.action == Action::Delete => {
                waits[n].extend(keeps.iter().copied());
                // A deletion waits for the deletions of what depended on it.
                for dep in &step.depends_on {
                    if let Some(&j) = index.get(dep) {
                        if steps[j].action == Action::Delete {
                            waits[ready_node[j]].insert(n);
                        }
                    }
                }
            }
            Phase::Destroy => {}
            Phase::Whole | Phase::Create => {
                for dep in &step.depends_on {
                    if let Some(&j) = index.get(dep) {
                        if steps[j].action != Action::Delete {
                            waits[n].insert(ready_node[j]);
                        }
                    }
                }
                if let Some(destroy) = destroy_node[node.step] {
                    waits[n].insert(destroy);
                    // The old objects of what this depends on go after this one's old objects.
                    for dep in &step.depends_on {
                        if let Some(dep_destroy) = index.get(dep).and_then(|&j| destroy_node[j]) {
                            waits[dep_destroy].insert(destroy);
                        }
                    }
                }
            }
        }
    }
    let mut dependents = vec![Vec::new(); nodes.len()];
    for (i, w) in waits.iter().enumerate() {
        for &j in w {
            dependents[j].push(i);
        }
    }
    (waits.iter().map(HashSet::len).collect(), dependents)
}

/// For each node, how many nodes the longest path from it to the end of the walk holds, itself
/// included. Ready nodes start longest first, so the long chain of a stack (VPC, cluster,
/// nodegroups, mesh, gateways) never queues behind its leaves (hundreds of DNS records).
pub(super) fn remaining_path(waiting_on: &[usize], dependents: &[Vec<usize>]) -> Vec<usize> {
    // Kahn's order, then the longest paths from the last node back.
    let mut waiting = waiting_on.to_vec();
    let mut order: Vec<usize> = (0..waiting.len()).filter(|&n| waiting[n] == 0).collect();
    let mut next = 0;
    while next < order.len() {
        for &dependent in &dependents[order[next]] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                order.push(dependent);
            }
        }
        next += 1;
    }
    let mut remaining = vec![1; waiting_on.len()];
    for &n in order.iter().rev() {
        remaining[n] = 1 + dependents[n]
            .iter()
            .map(|&d| remaining[d])
            .max()
            .unwrap_or(0);
    }
    remaining
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remaining_path_counts_the_longest_chain_from_each_node() {
        // 0 -> 1 -> 2 -> 3 and 0 -> 4; 5 alone.
        let dependents = vec![vec![1, 4], vec![2], vec![3], vec![], vec![], vec![]];
        let waiting_on = vec![0, 1, 1, 1, 1, 0];
        assert_eq!(
            remaining_path(&waiting_on, &dependents),
            vec![4, 3, 2, 1, 1, 1]
        );
    }
}
