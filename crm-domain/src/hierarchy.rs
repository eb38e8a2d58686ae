//! The rule every hierarchy obeys: at most one parent, and no cycles.

use crate::error::DomainError;
use crate::ids::RecordId;

/// Refuses `parent` as the new parent of `child` when `child` is `parent` itself or one of
/// its ancestors. `ancestors_of_parent` lists the parent's ancestors, nearest first.
pub fn check_new_parent(
    kind: &str,
    child: RecordId,
    parent: RecordId,
    ancestors_of_parent: impl IntoIterator<Item = RecordId>,
) -> Result<(), DomainError> {
    let cycle = DomainError::Cycle { kind: kind.to_owned(), child, parent };
    if child == parent {
        return Err(cycle);
    }
    if ancestors_of_parent.into_iter().any(|ancestor| ancestor == child) {
        return Err(cycle);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn refuses_self_and_descendant() {
        assert!(check_new_parent("customer", RecordId(1), RecordId(1), []).is_err());
        assert!(check_new_parent("customer", RecordId(1), RecordId(3), [RecordId(2), RecordId(1)])
            .is_err());
        assert!(check_new_parent("customer", RecordId(1), RecordId(3), [RecordId(2)]).is_ok());
    }

    fn ancestors(parents: &HashMap<u64, u64>, id: u64) -> Vec<RecordId> {
        let mut out = Vec::new();
        let mut current = id;
        while let Some(&parent) = parents.get(&current) {
            out.push(RecordId(parent));
            current = parent;
            assert!(out.len() <= parents.len(), "cycle slipped through");
        }
        out
    }

    proptest! {
        /// Whatever parent assignments are tried, those the rule accepts never form a cycle.
        #[test]
        fn accepted_parents_never_cycle(moves in prop::collection::vec((0u64..12, 0u64..12), 0..80)) {
            let mut parents: HashMap<u64, u64> = HashMap::new();
            for (child, parent) in moves {
                let ok = check_new_parent(
                    "customer",
                    RecordId(child),
                    RecordId(parent),
                    ancestors(&parents, parent),
                )
                .is_ok();
                if ok {
                    parents.insert(child, parent);
                }
                for node in 0..12 {
                    let chain = ancestors(&parents, node);
                    prop_assert!(!chain.contains(&RecordId(node)));
                }
            }
        }
    }
}
