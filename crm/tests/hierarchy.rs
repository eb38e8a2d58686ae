//! Property test: whatever sequence of parent moves people try through the service, the
//! customer hierarchy never holds a cycle and every refusal leaves it unchanged.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::collections::HashMap;
use std::sync::Arc;

use crm::{Crm, Customer, CustomerSearch, DomainError, Error, RecordId, TenantId};
use proptest::prelude::*;

const NODES: usize = 8;

fn parents(crm: &Crm, who: &crm::Principal) -> HashMap<RecordId, Option<RecordId>> {
    let all = crm
        .customers(who)
        .search(&CustomerSearch { limit: 100, ..CustomerSearch::default() })
        .unwrap();
    all.items.into_iter().map(|c| (c.id, c.parent)).collect()
}

fn has_cycle(parents: &HashMap<RecordId, Option<RecordId>>) -> bool {
    parents.keys().any(|start| {
        let mut current = parents[start];
        for _ in 0..=parents.len() {
            match current {
                None => return false,
                Some(id) if id == *start => return true,
                Some(id) => current = parents[&id],
            }
        }
        true
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn moves_never_make_a_cycle(moves in prop::collection::vec((0..NODES, 0..=NODES), 1..40)) {
        let crm = Crm::open(Arc::new(crm_storage::MemoryStore::new())).unwrap();
        let tenant = TenantId::new("props").unwrap();
        let admin = crm.bootstrap_tenant(&tenant, "admin", "Admin").unwrap();
        let rows = (0..NODES)
            .map(|i| (Customer { name: format!("N{i}"), ..Customer::default() }, vec![]))
            .collect();
        let ids: Vec<RecordId> =
            crm.customers(&admin).create_many(rows).unwrap().iter().map(|c| c.id).collect();
        for (child, parent) in moves {
            let before = parents(&crm, &admin);
            let parent = ids.get(parent).copied();
            match crm.customers(&admin).set_parent(ids[child], parent) {
                Ok(moved) => prop_assert_eq!(moved.parent, parent),
                Err(Error::Domain(DomainError::Cycle { .. })) => {
                    prop_assert_eq!(&parents(&crm, &admin), &before);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
            prop_assert!(!has_cycle(&parents(&crm, &admin)));
        }
    }
}
