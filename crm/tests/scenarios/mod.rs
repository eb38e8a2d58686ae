//! Service scenarios run against every store: each adapter's test target calls [`run`], so the
//! facade is checked end to end on memory, sled and PostgreSQL alike.

use std::sync::atomic::{AtomicU64, Ordering};

use crm::{
    Contact, Crm, Customer, CustomerSearch, CustomerSort, CustomerStatus, DomainError, Error,
    Format, Interaction, Lang, Lead, LeadStatus, NewAttachment, Principal, RecordId, Relative,
    Role, SettingList, TenantId, Value,
};

mod finance;
mod forms;
mod pool;
mod sales;
mod workflow;

type Case = fn(&Crm);

/// Every scenario with its name.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("create_and_get_customer", create_and_get_customer),
        ("stale_update_is_a_conflict", stale_update_is_a_conflict),
        ("audit_records_field_changes", audit_records_field_changes),
        ("cycle_is_refused", cycle_is_refused),
        ("deep_chain_walks_without_recursion", deep_chain_walks_without_recursion),
        ("move_subtree_is_one_operation", move_subtree_is_one_operation),
        ("concurrent_opposite_moves_never_cycle", concurrent_opposite_moves_never_cycle),
        ("children_never_outlive_a_deleted_parent", children_never_outlive_a_deleted_parent),
        ("concurrent_bootstraps_agree_on_one_admin", concurrent_bootstraps_agree_on_one_admin),
        ("bulk_create_reports_the_first_bad_row", bulk_create_reports_the_first_bad_row),
        ("bulk_create_links_contacts_and_numbers", bulk_create_links_contacts_and_numbers),
        ("bulk_load_commits_chunk_after_chunk", bulk_load_commits_chunk_after_chunk),
        (
            "automatic_numbers_pass_numbers_given_by_hand",
            automatic_numbers_pass_numbers_given_by_hand,
        ),
        ("fuzzy_search_folds_and_is_literal", fuzzy_search_folds_and_is_literal),
        ("compound_filters_and_sorts", compound_filters_and_sorts),
        ("users_see_only_their_own", users_see_only_their_own),
        ("plain_users_find_pool_customers", pool::plain_users_find_pool_customers),
        (
            "pool_hierarchies_show_visible_members_only",
            pool::pool_hierarchies_show_visible_members_only,
        ),
        ("pool_customers_are_requested_not_edited", pool::pool_customers_are_requested_not_edited),
        (
            "organisation_tree_positions_and_supervisors",
            organisation_tree_positions_and_supervisors,
        ),
        ("tenants_are_isolated", tenants_are_isolated),
        ("contacts_and_relatives", contacts_and_relatives),
        ("settings_in_use_cannot_be_deleted", settings_in_use_cannot_be_deleted),
        ("lead_conversion_keeps_contact_records", lead_conversion_keeps_contact_records),
        ("import_is_all_or_nothing", import_is_all_or_nothing),
        ("import_dry_run_stores_nothing", import_dry_run_stores_nothing),
        ("export_round_trips", export_round_trips),
        ("demo_data_loads_northwind", demo_data_loads_northwind),
        ("duplicate_customer_number_is_refused", duplicate_customer_number_is_refused),
        ("assignment_is_approved_in_two_steps", workflow::assignment_is_approved_in_two_steps),
        ("rejected_assignment_leaves_the_owner", workflow::rejected_assignment_leaves_the_owner),
        ("departed_approver_falls_back", workflow::departed_approver_falls_back),
        ("racing_approvals_decide_once", workflow::racing_approvals_decide_once),
        ("outsiders_cannot_view_or_request", workflow::outsiders_cannot_view_or_request),
        (
            "files_are_attached_and_read_back_by_participants",
            workflow::files_are_attached_and_read_back_by_participants,
        ),
        ("a_file_goes_in_with_the_decision", workflow::a_file_goes_in_with_the_decision),
        ("tasks_are_reassigned_to_active_users", workflow::tasks_are_reassigned_to_active_users),
        (
            "assignment_requests_are_neither_doubled_nor_stale",
            workflow::assignment_requests_are_neither_doubled_nor_stale,
        ),
        (
            "expense_follows_its_approval_and_approver_edits",
            finance::expense_follows_its_approval_and_approver_edits,
        ),
        (
            "rejected_loan_is_edited_and_submitted_again",
            finance::rejected_loan_is_edited_and_submitted_again,
        ),
        (
            "finance_requests_are_private_and_checked",
            finance::finance_requests_are_private_and_checked,
        ),
        (
            "a_request_made_for_a_second_unit_goes_to_its_manager",
            finance::a_request_made_for_a_second_unit_goes_to_its_manager,
        ),
        (
            "an_edit_racing_a_submission_is_never_lost",
            finance::an_edit_racing_a_submission_is_never_lost,
        ),
        (
            "a_large_quote_needs_the_director_and_follows_its_approval",
            sales::a_large_quote_needs_the_director_and_follows_its_approval,
        ),
        (
            "a_rejected_contract_is_changed_and_approved",
            sales::a_rejected_contract_is_changed_and_approved,
        ),
        (
            "sales_documents_are_private_and_their_flows_checked",
            sales::sales_documents_are_private_and_their_flows_checked,
        ),
        (
            "host_code_follows_approvals_in_the_same_batch",
            sales::host_code_follows_approvals_in_the_same_batch,
        ),
        (
            "a_user_defined_form_is_filled_in_and_approved",
            forms::a_user_defined_form_is_filled_in_and_approved,
        ),
        (
            "a_rejected_form_entry_is_changed_and_submitted_again",
            forms::a_rejected_form_entry_is_changed_and_submitted_again,
        ),
        ("forms_and_their_entries_are_checked", forms::forms_and_their_entries_are_checked),
        (
            "a_form_changes_under_entries_without_stranding_them",
            forms::a_form_changes_under_entries_without_stranding_them,
        ),
    ]
}

/// Runs every scenario as a trial named `<adapter>::<case>` and returns the conclusion.
pub fn run(adapter: &'static str, crm: Crm) -> libtest_mimic::Conclusion {
    let args = libtest_mimic::Arguments::from_args();
    let trials = cases()
        .into_iter()
        .map(|(name, case)| {
            let crm = crm.clone();
            libtest_mimic::Trial::test(format!("{adapter}::{name}"), move || {
                case(&crm);
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials)
}

fn fresh_admin(crm: &Crm) -> Principal {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tenant = TenantId::new(format!("s{}_{n}", std::process::id())).unwrap();
    crm.bootstrap_tenant(&tenant, "admin", "Administrator").unwrap()
}

fn customer(name: &str) -> Customer {
    Customer { name: name.to_owned(), ..Customer::default() }
}

fn contact(name: &str) -> Contact {
    Contact { name: name.to_owned(), ..Contact::default() }
}

fn names(page: &crm::Page<Customer>) -> Vec<String> {
    page.items.iter().map(|c| c.name.clone()).collect()
}

fn create_and_get_customer(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let mut input = customer("北京星辰科技有限公司");
    input.phone = "010-88886666".into();
    input.custom.insert("vip_level".into(), Value::Integer(3));
    let created = service.create(input, vec![contact("张伟")]).unwrap();
    assert_eq!(created.version, 1);
    assert!(created.code.starts_with('C'), "generated number: {}", created.code);
    assert_eq!(created.owner, Some(admin.user));
    let stored = service.get(created.id).unwrap();
    assert_eq!(stored, created);
    assert_eq!(stored.custom.get("vip_level"), Some(&Value::Integer(3)));
    assert_eq!(service.contacts(created.id).unwrap()[0].name, "张伟");
    let missing = service.get(RecordId(created.id.0 + 1000)).unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
}

fn stale_update_is_a_conflict(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let created = service.create(customer("Acme"), vec![]).unwrap();
    let mut first = created.clone();
    first.remarks = "first".into();
    let saved = service.update(first).unwrap();
    assert_eq!(saved.version, 2);
    let mut stale = created;
    stale.remarks = "second".into();
    let error = service.update(stale).unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert_eq!(service.get(saved.id).unwrap().remarks, "first");
}

fn audit_records_field_changes(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let created = service.create(customer("Old name"), vec![]).unwrap();
    let mut renamed = created.clone();
    renamed.name = "New name".into();
    service.update(renamed).unwrap();
    let history = service.history(created.id).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].action, crm::AuditAction::Create);
    assert_eq!(history[1].action, crm::AuditAction::Update);
    assert_eq!(history[1].actor, admin.user);
    let name_change = history[1].changes.iter().find(|c| c.field == "name").unwrap();
    assert_eq!((name_change.old.as_str(), name_change.new.as_str()), ("Old name", "New name"));
}

fn cycle_is_refused(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let a = service.create(customer("A"), vec![]).unwrap();
    let b = service.create(customer("B"), vec![]).unwrap();
    let c = service.create(customer("C"), vec![]).unwrap();
    service.set_parent(b.id, Some(a.id)).unwrap();
    service.set_parent(c.id, Some(b.id)).unwrap();
    for (child, parent) in [(a.id, c.id), (a.id, a.id), (b.id, c.id)] {
        let error = service.set_parent(child, Some(parent)).unwrap_err();
        assert!(matches!(error, Error::Domain(DomainError::Cycle { .. })), "{error}");
    }
    assert_eq!(service.get(a.id).unwrap().parent, None);
    assert_eq!(service.get(b.id).unwrap().parent, Some(a.id));
}

fn deep_chain_walks_without_recursion(crm: &Crm) {
    const DEPTH: usize = 10_000;
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let rows = (0..DEPTH).map(|i| (customer(&format!("Level {i:05}")), Vec::new())).collect();
    let chain = service.create_many(rows).unwrap();
    let mut previous = None;
    let mut linked = Vec::with_capacity(DEPTH);
    for mut node in chain {
        node.parent = previous;
        previous = Some(node.id);
        linked.push(node);
    }
    link_chain(crm, &admin, &linked);
    let top = linked[0].id;
    let bottom = linked[DEPTH - 1].id;
    let ancestors = service.ancestors(bottom).unwrap();
    assert_eq!(ancestors.len(), DEPTH - 1);
    assert_eq!(ancestors[0].id, linked[DEPTH - 2].id);
    assert_eq!(ancestors[DEPTH - 2].id, top);
    let descendants = service.descendants(top).unwrap();
    assert_eq!(descendants.len(), DEPTH - 1);
    let error = service.set_parent(top, Some(bottom)).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::Cycle { .. })), "{error}");
}

/// Stores parent links for a prepared chain in one batch through the store, as a migration
/// would; the services are then checked on the result.
fn link_chain(crm: &Crm, who: &Principal, chain: &[Customer]) {
    use crm::Entity;
    let mut batch = crm_domain::Batch::new();
    for node in chain.iter().filter(|n| n.parent.is_some()) {
        let mut record = node.to_record().unwrap();
        record.version = node.version;
        batch.update(Customer::desc(), record);
    }
    crm.store().commit(&who.tenant, &batch).unwrap();
}

fn move_subtree_is_one_operation(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let root1 = service.create(customer("Root one"), vec![]).unwrap();
    let root2 = service.create(customer("Root two"), vec![]).unwrap();
    let mid = service.create(customer("Middle"), vec![]).unwrap();
    let leaf = service.create(customer("Leaf"), vec![]).unwrap();
    service.set_parent(mid.id, Some(root1.id)).unwrap();
    service.set_parent(leaf.id, Some(mid.id)).unwrap();
    service.set_parent(mid.id, Some(root2.id)).unwrap();
    let ancestors: Vec<RecordId> =
        service.ancestors(leaf.id).unwrap().iter().map(|c| c.id).collect();
    assert_eq!(ancestors, vec![mid.id, root2.id]);
    assert!(service.descendants(root1.id).unwrap().is_empty());
    assert_eq!(service.descendants(root2.id).unwrap().len(), 2);
    let error = service.delete(root2.id).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::InUse { .. })), "{error}");
}

fn concurrent_opposite_moves_never_cycle(crm: &Crm) {
    let admin = fresh_admin(crm);
    for round in 0..20 {
        let service = crm.customers(&admin);
        let a = service.create(customer(&format!("A{round}")), vec![]).unwrap();
        let b = service.create(customer(&format!("B{round}")), vec![]).unwrap();
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<bool> = std::thread::scope(|scope| {
            let moves = [(a.id, b.id), (b.id, a.id)].map(|(child, parent)| {
                let barrier = &barrier;
                let admin = &admin;
                scope.spawn(move || {
                    barrier.wait();
                    crm.customers(admin).set_parent(child, Some(parent)).is_ok()
                })
            });
            moves.map(|m| m.join().unwrap()).to_vec()
        });
        let a_parent = service.get(a.id).unwrap().parent;
        let b_parent = service.get(b.id).unwrap().parent;
        assert!(!(a_parent == Some(b.id) && b_parent == Some(a.id)), "cycle in round {round}");
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "round {round}: {results:?}");
    }
}

/// A parent deleted while children are created under it: either the delete is refused (a
/// child came first) or the children are (the parent went first), never a child without its
/// parent. Edits to the parent meanwhile refuse nothing.
fn children_never_outlive_a_deleted_parent(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    for round in 0..20 {
        let parent = service.create(customer(&format!("Parent {round}")), vec![]).unwrap();
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|scope| {
            let (admin, barrier, id) = (&admin, &barrier, parent.id);
            scope.spawn(move || {
                barrier.wait();
                for n in 0..5 {
                    let name = format!("Child {round}.{n}");
                    let child = Customer { parent: Some(id), ..customer(&name) };
                    if crm.customers(admin).create_many(vec![(child, vec![])]).is_err() {
                        break;
                    }
                }
            });
            scope.spawn(move || {
                barrier.wait();
                for n in 0..5 {
                    let Ok(mut edited) = crm.customers(admin).get(id) else { break };
                    edited.phone = format!("010-{n}");
                    // A lost race to the delete or another edit is fine; the creates are not
                    // to be refused for it.
                    let _ = crm.customers(admin).update(edited);
                }
            });
            barrier.wait();
            let _ = crm.customers(admin).delete(id);
        });
        let text = Some(format!("Child {round}."));
        let children = service.search(&CustomerSearch { text, ..CustomerSearch::default() });
        let children = children.unwrap().items;
        if service.get(parent.id).is_err() {
            assert_eq!(children, [], "round {round}: children of a deleted parent");
        } else {
            // The parent stayed: every child the first thread tried was stored.
            assert_eq!(
                children.len(),
                5,
                "round {round}: creates refused though the parent stayed"
            );
        }
    }
}

fn concurrent_bootstraps_agree_on_one_admin(crm: &Crm) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tenant = TenantId::new(format!("b{}_{n}", std::process::id())).unwrap();
    let barrier = std::sync::Barrier::new(4);
    let admins: Vec<Principal> = std::thread::scope(|scope| {
        let started: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, tenant) = (&barrier, &tenant);
                scope.spawn(move || {
                    barrier.wait();
                    crm.bootstrap_tenant(tenant, "admin", "Administrator")
                })
            })
            .collect();
        started.into_iter().map(|t| t.join().unwrap().unwrap()).collect()
    });
    assert!(admins.windows(2).all(|w| w[0].user == w[1].user), "{admins:?}");
    let again = crm.bootstrap_tenant(&tenant, "admin", "Administrator").unwrap();
    assert_eq!(again.user, admins[0].user);
}

/// A bulk create large enough to be prepared on several threads still reports the first bad
/// row, stores nothing when one is bad, and keeps the rows' order in ids and numbers.
/// A large batch is checked while its ids are reserved: every contact still lands on its own
/// customer, ids run in row order, numbered and unnumbered rows mix, and the batch leaves one
/// audit entry per kind. A refused small create takes no ids and no numbers.
fn bulk_create_links_contacts_and_numbers(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let first = service.create(customer("First"), vec![contact("First person")]).unwrap();
    let mut deep = serde_json::json!(1);
    for _ in 0..70 {
        deep = serde_json::json!([deep]);
    }
    let refused = [
        Customer { email: "not an address".into(), ..customer("Bad email") },
        Customer { category: "no such category".into(), ..customer("Bad category") },
        Customer { parent: Some(RecordId(u64::MAX / 2)), ..customer("Unknown parent") },
        Customer {
            custom: [("deep".to_owned(), Value::Json(deep))].into(),
            ..customer("Deep custom value")
        },
    ];
    for bad in refused {
        assert!(service.create(bad, vec![contact("Nobody")]).is_err());
    }
    // A number a customer holds, beside a row numbered automatically.
    let taken = vec![
        (Customer { code: first.code.clone(), ..customer("Taken number") }, vec![]),
        (customer("Would be numbered"), vec![]),
    ];
    let error = service.create_many(taken).unwrap_err().to_string();
    assert!(error.contains(&format!("{:?} is already taken", first.code)), "{error}");
    let rows: Vec<(Customer, Vec<Contact>)> = (0..600)
        .map(|i| {
            // Every third row brings its own number; the others are numbered automatically.
            let code = if i % 3 == 0 { format!("HAND-{i:03}") } else { String::new() };
            let contacts = (0..i % 4).map(|n| contact(&format!("Person {i}.{n}"))).collect();
            (Customer { code, ..customer(&format!("Row {i:03}")) }, contacts)
        })
        .collect();
    let created = service.create_many(rows).unwrap();
    let ids: Vec<u64> = created.iter().map(|c| c.id.0).collect();
    assert_eq!(ids, (first.id.0 + 1..=first.id.0 + 600).collect::<Vec<_>>(), "ids in row order");
    let mut automatic = 1;
    for (i, created) in created.iter().enumerate() {
        let stored = service.get(created.id).unwrap();
        assert_eq!(stored.name, format!("Row {i:03}"));
        if i % 3 == 0 {
            assert_eq!(stored.code, format!("HAND-{i:03}"));
        } else {
            automatic += 1;
            assert_eq!(stored.code, format!("C{automatic:06}"), "row {i}");
        }
        let contacts: Vec<String> =
            service.contacts(created.id).unwrap().into_iter().map(|c| c.name).collect();
        let expected: Vec<String> = (0..i % 4).map(|n| format!("Person {i}.{n}")).collect();
        assert_eq!(contacts, expected, "contacts of row {i}");
        if i == 5 {
            // The search text holds the automatic number and the contacts.
            let found = service
                .search(&CustomerSearch {
                    text: Some("person 5.0".into()),
                    ..CustomerSearch::default()
                })
                .unwrap();
            assert_eq!(names(&found), ["Row 005"]);
            let by_code =
                CustomerSearch { text: Some(stored.code.clone()), ..CustomerSearch::default() };
            assert_eq!(names(&service.search(&by_code).unwrap()), ["Row 005"]);
        }
    }
    let history = service.history(created[0].id).unwrap();
    assert_eq!(history.len(), 1, "one entry covers the run of new customers: {history:?}");
    assert_eq!(history[0].record_last, Some(created[599].id));

    // A row whose place in the batch equals its parent's id is no cycle.
    let place = usize::try_from(first.id.0).unwrap();
    let mut children: Vec<(Customer, Vec<Contact>)> =
        (0..=place).map(|i| (customer(&format!("Child {i}")), vec![])).collect();
    children[place].0.parent = Some(first.id);
    let children = service.create_many(children).unwrap();
    assert_eq!(service.get(children[place].id).unwrap().parent, Some(first.id));
}

/// A bulk load in chunks: every chunk commits on its own, chunks naming parents from the
/// chunk before and chunks numbered automatically come out right (they wait for it where the
/// store overlaps chunks), and the first chunk refused stops the load, saying which it was
/// and what the chunks before it created.
fn bulk_load_commits_chunk_after_chunk(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let numbered = |chunk: usize, rows: usize| -> Vec<(Customer, Vec<Contact>)> {
        (0..rows)
            .map(|i| {
                let code = format!("LOAD-{chunk}-{i:03}");
                let row = Customer { code, ..customer(&format!("Load {chunk}.{i:03}")) };
                (row, vec![contact(&format!("Loader {chunk}.{i}"))])
            })
            .collect()
    };
    let count = |text: &str| {
        let search = CustomerSearch { text: Some(text.into()), ..CustomerSearch::default() };
        service.search(&search).unwrap().total
    };
    assert_eq!(service.create_chunks(Vec::new()).unwrap(), 0);
    let created = service.create_chunks(vec![numbered(0, 300), numbered(1, 300)]).unwrap();
    assert_eq!(created, 600);
    assert_eq!(count("load 1.299"), 1);

    // Children of the chunk before, numbered automatically.
    let parent = service
        .search(&CustomerSearch { text: Some("LOAD-1-299".into()), ..CustomerSearch::default() });
    let parent = parent.unwrap().items[0].id;
    let children: Vec<(Customer, Vec<Contact>)> = (0..300)
        .map(|i| (Customer { parent: Some(parent), ..customer(&format!("Kid {i}")) }, vec![]))
        .collect();
    let mut bad = numbered(4, 300);
    bad[10].0.email = "not an address".into();
    let chunks = vec![numbered(2, 300), children, bad, numbered(5, 300)];
    let refused = service.create_chunks(chunks).unwrap_err();
    assert_eq!((refused.chunk, refused.row, refused.created), (2, Some(10), 600), "{refused}");
    assert!(refused
        .to_string()
        .starts_with("chunk 3 of the load (its row 11) was refused after 600 "));
    assert!(
        matches!(&refused.error, Error::Domain(DomainError::Invalid { field, .. }) if field == "email"),
        "{refused}"
    );
    assert_eq!(count("load 2.299"), 1, "the chunks before the refused one stay");
    assert_eq!(service.children(parent).unwrap().len(), 300);
    assert_eq!((count("load 4."), count("load 5.")), (0, 0), "nothing from the refused on");

    // A number an earlier chunk gave is refused in a later one, named.
    let mut again = numbered(6, 300);
    again[299].0.code = "LOAD-0-007".into();
    let refused = service.create_chunks(vec![numbered(7, 300), again]).unwrap_err();
    assert_eq!((refused.chunk, refused.row, refused.created), (1, None, 300));
    assert!(refused.to_string().contains("\"LOAD-0-007\" is already taken"), "{refused}");
    assert_eq!(count("load 6."), 0);
}

fn bulk_create_reports_the_first_bad_row(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let rows = |count: usize| -> Vec<(Customer, Vec<Contact>)> {
        (0..count)
            .map(|i| (customer(&format!("Bulk {i:04}")), vec![contact(&format!("Person {i}"))]))
            .collect()
    };
    let mut bad = rows(1500);
    bad[1400].1[0].email = "not an address".into();
    bad[900].0.email = "also not an address".into();
    bad[1200].0.parent = Some(RecordId(u64::MAX));
    match service.create_many(bad) {
        Err(Error::Domain(DomainError::Invalid { field, .. })) => assert_eq!(field, "email"),
        other => panic!("expected the email of row 900 to be refused: {other:?}"),
    }
    let mut bad = rows(1500);
    bad[1200].0.parent = Some(RecordId(u64::MAX));
    bad[1400].1[0].email = "not an address".into();
    assert!(service.create_many(bad).is_err());
    assert_eq!(service.search(&CustomerSearch::default()).unwrap().total, 0, "nothing stored");

    // A number taken when the batch commits is named.
    let mut taken = rows(300);
    taken[299].0.code = "TAKEN-1".into();
    service.create(Customer { code: "TAKEN-1".into(), ..customer("Holder") }, vec![]).unwrap();
    match service.create_many(taken) {
        Err(Error::Domain(DomainError::Invalid { field, reason })) => {
            assert_eq!(field, "code");
            assert!(reason.contains("\"TAKEN-1\""), "{reason}");
        }
        other => panic!("expected the taken number to be named: {other:?}"),
    }
    let holder = service.search(&CustomerSearch::default()).unwrap();
    assert_eq!(holder.total, 1, "only the holder is stored");
    // An edit to a taken number is named too; other refusals keep their own words.
    let mover = service.create(Customer { code: "MOVER".into(), ..customer("Mover") }, vec![]);
    let mover = mover.unwrap();
    let moved = service.update(Customer { code: "TAKEN-1".into(), ..mover.clone() });
    assert!(moved.is_err_and(|e| e.to_string().contains("\"TAKEN-1\" is already taken")));
    let mut odd = customer("Odd custom name");
    odd.custom.insert("tag\u{0}".into(), Value::Text("vip".into()));
    match service.create_many(vec![(odd, vec![])]) {
        Err(Error::Domain(DomainError::Invalid { field, reason })) => {
            assert_eq!(field, "custom");
            assert!(reason.contains("U+0000"), "{reason}");
        }
        other => panic!("expected the custom field name to be refused: {other:?}"),
    }
    service.delete(mover.id).unwrap();
    service.delete(holder.items[0].id).unwrap();

    let created = service.create_many(rows(1500)).unwrap();
    assert!(created.windows(2).all(|w| w[0].id.0 + 1 == w[1].id.0 && w[0].code < w[1].code));
    assert!(created.iter().enumerate().all(|(i, c)| c.name == format!("Bulk {i:04}")));
    let last = service.get(created[1499].id).unwrap();
    let parts: Vec<&str> = last.search.split('\u{1f}').collect();
    assert_eq!(parts, ["bulk 1499", last.code.to_lowercase().as_str(), "person 1499"]);
    let contacts = service.contacts(created[1499].id).unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].name, "Person 1499");
}

fn fuzzy_search_folds_and_is_literal(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    for name in ["Alfreds Futterkiste", "北京星辰科技", "100% Natural_Foods", "O'Brien \\ Sons"]
    {
        service.create(customer(name), vec![]).unwrap();
    }
    let mut with_contact = customer("Quiet Co");
    with_contact.email = "info@quiet.cn".into();
    service
        .create(with_contact, vec![Contact { phone: "0755-1234567".into(), ..contact("李娜") }])
        .unwrap();
    let find = |text: &str| names(&service.search(&CustomerSearch::text(text)).unwrap());
    assert_eq!(find("alfreds"), ["Alfreds Futterkiste"]);
    assert_eq!(find("ＡＬＦＲＥＤＳ"), ["Alfreds Futterkiste"]);
    assert_eq!(find("星辰"), ["北京星辰科技"]);
    assert_eq!(find("%"), ["100% Natural_Foods"]);
    assert_eq!(find("_"), ["100% Natural_Foods"]);
    assert_eq!(find("'"), ["O'Brien \\ Sons"]);
    assert_eq!(find("\\"), ["O'Brien \\ Sons"]);
    assert_eq!(find("李娜"), ["Quiet Co"]);
    assert_eq!(find("1234567"), ["Quiet Co"]);
    assert_eq!(find("quiet.cn"), ["Quiet Co"]);
    assert!(find("nothing like this").is_empty());
    assert_eq!(find("alf\u{0}reds"), ["Alfreds Futterkiste"]);
    let bad = Customer { address: "line\u{0}two".into(), ..customer("Nul Co") };
    let error = service.create(bad, vec![]).unwrap_err();
    assert!(
        matches!(error, Error::Domain(DomainError::Invalid { ref field, .. }) if field == "address"),
        "{error}"
    );
}

fn compound_filters_and_sorts(crm: &Crm) {
    let admin = fresh_admin(crm);
    let settings = crm.settings(&admin);
    settings.add(SettingList::CustomerCategory, "key", "重点客户", 1).unwrap();
    settings.add(SettingList::CustomerCategory, "regular", "普通客户", 2).unwrap();
    settings.add(SettingList::CustomerSource, "web", "网站", 1).unwrap();
    let service = crm.customers(&admin);
    let mut rows = Vec::new();
    for (name, category, source, tier) in [
        ("Delta Trading", "key", "web", 1),
        ("Alpha Trading", "key", "", 2),
        ("Charlie Trading", "regular", "web", 1),
        ("Bravo Foods", "key", "web", 1),
    ] {
        let mut c = customer(name);
        c.category = category.into();
        c.source = source.into();
        c.custom.insert("tier".into(), Value::Integer(tier));
        rows.push((c, vec![]));
    }
    service.create_many(rows).unwrap();
    let search = CustomerSearch {
        text: Some("trading".into()),
        category: Some("key".into()),
        ..CustomerSearch::default()
    };
    assert_eq!(names(&service.search(&search).unwrap()), ["Alpha Trading", "Delta Trading"]);
    let search = CustomerSearch { sort: CustomerSort::NameDesc, ..search };
    assert_eq!(names(&service.search(&search).unwrap()), ["Delta Trading", "Alpha Trading"]);
    let search = CustomerSearch {
        source: Some("web".into()),
        custom: vec![("tier".into(), Value::Integer(1))],
        ..CustomerSearch::default()
    };
    assert_eq!(
        names(&service.search(&search).unwrap()),
        ["Bravo Foods", "Charlie Trading", "Delta Trading"]
    );
    let paged = service
        .search(&CustomerSearch { offset: 1, limit: 2, ..CustomerSearch::default() })
        .unwrap();
    assert_eq!(paged.total, 4);
    assert_eq!(names(&paged), ["Bravo Foods", "Charlie Trading"]);
    let all = service.search(&CustomerSearch::default()).unwrap();
    let from = all.items.iter().map(|c| c.created_at).min().unwrap();
    let ranged = CustomerSearch {
        created_from: Some(from),
        created_to: Some(from),
        ..CustomerSearch::default()
    };
    assert_eq!(service.search(&ranged).unwrap().total, 4);
    let unknown = service.create(Customer { category: "nope".into(), ..customer("X") }, vec![]);
    assert!(
        matches!(unknown, Err(Error::Domain(DomainError::Invalid { ref field, .. })) if field == "category")
    );
}

fn users_see_only_their_own(crm: &Crm) {
    let admin = fresh_admin(crm);
    let unit = crm.org(&admin).units().unwrap()[0].id;
    let alice = crm.org(&admin).add_user("alice", "Alice", unit, Role::User).unwrap();
    let bob = crm.org(&admin).add_user("bob", "Bob", unit, Role::User).unwrap();
    let alice = crm.org(&admin).principal(alice.id).unwrap().unwrap();
    let bob = crm.org(&admin).principal(bob.id).unwrap().unwrap();
    let mine = crm.customers(&alice).create(customer("Alice's shop"), vec![]).unwrap();
    crm.customers(&bob).create(customer("Bob's shop"), vec![]).unwrap();
    assert_eq!(
        names(&crm.customers(&alice).search(&CustomerSearch::default()).unwrap()),
        ["Alice's shop"]
    );
    assert_eq!(
        names(&crm.customers(&alice).search(&CustomerSearch::text("shop")).unwrap()),
        ["Alice's shop"]
    );
    assert!(crm.customers(&bob).get(mine.id).unwrap_err().is_not_found());
    assert_eq!(crm.customers(&admin).search(&CustomerSearch::default()).unwrap().total, 2);
    let foreign = Customer { owner: Some(bob.user), ..customer("Sneaky") };
    assert!(matches!(
        crm.customers(&alice).create(foreign, vec![]),
        Err(Error::Domain(DomainError::Forbidden(_)))
    ));
}

fn organisation_tree_positions_and_supervisors(crm: &Crm) {
    use crm::UnitKind;
    let admin = fresh_admin(crm);
    let org = crm.org(&admin);
    let root = org.units().unwrap()[0].id;
    let branch = org.add_unit("华东分公司", UnitKind::Branch, root).unwrap();
    let sales = org.add_unit("销售部", UnitKind::Department, branch.id).unwrap();
    let team = org.add_unit("大客户组", UnitKind::Workgroup, sales.id).unwrap();
    let error = org.move_unit(branch.id, team.id).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::Cycle { .. })), "{error}");
    org.add_position("sales_manager", "销售经理").unwrap();
    assert!(org.add_position("sales_manager", "again").is_err());
    let manager = org.add_user("liu", "刘经理", sales.id, Role::User).unwrap();
    let seller = org.add_user("chen", "陈销售", team.id, Role::User).unwrap();
    org.add_membership(manager.id, sales.id, "sales_manager").unwrap();
    org.add_membership(manager.id, team.id, "").unwrap();
    assert!(org.add_membership(seller.id, sales.id, "no_such_position").is_err());
    let holders: Vec<String> =
        org.holders("sales_manager", sales.id).unwrap().into_iter().map(|u| u.login).collect();
    assert_eq!(holders, ["liu"]);
    assert_eq!(org.memberships_of(manager.id).unwrap().len(), 2);
    org.set_manager(sales.id, Some(manager.id)).unwrap();
    assert_eq!(org.unit(sales.id).unwrap().manager, Some(manager.id));
    org.set_supervisor(seller.id, Some(manager.id)).unwrap();
    let error = org.set_supervisor(manager.id, Some(seller.id)).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::Cycle { .. })), "{error}");
    org.set_active(manager.id, false).unwrap();
    assert!(org.holders("sales_manager", sales.id).unwrap().is_empty());
    assert!(org.principal(manager.id).unwrap().is_none());
    let moved = org.move_unit(team.id, branch.id).unwrap();
    assert_eq!(moved.parent, Some(branch.id));
}

fn tenants_are_isolated(crm: &Crm) {
    let a = fresh_admin(crm);
    let b = fresh_admin(crm);
    let created = crm.customers(&a).create(customer("Only in A"), vec![]).unwrap();
    assert_eq!(crm.customers(&b).search(&CustomerSearch::default()).unwrap().total, 0);
    assert!(crm.customers(&b).get(created.id).is_err());
}

fn contacts_and_relatives(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let created = service.create(customer("Family Firm"), vec![]).unwrap();
    let added = service
        .add_contact(Contact {
            customer: created.id,
            mobile: "013800138000".into(),
            ..contact("王芳")
        })
        .unwrap();
    assert_eq!(names(&service.search(&CustomerSearch::text("王芳")).unwrap()), ["Family Firm"]);
    assert_eq!(
        names(&service.search(&CustomerSearch::text("013800138000")).unwrap()),
        ["Family Firm"]
    );
    let relative = service
        .add_relative(Relative {
            contact: added.id,
            relation: "配偶".into(),
            name: "李强".into(),
            birthday: chrono::NaiveDate::from_ymd_opt(1985, 2, 28),
            ..Relative::default()
        })
        .unwrap();
    assert_eq!(service.relatives(added.id).unwrap(), vec![relative.clone()]);
    let renamed =
        service.update_contact(Contact { name: "王芳芳".into(), ..added.clone() }).unwrap();
    assert_eq!(renamed.version, 2);
    assert!(service.search(&CustomerSearch::text("王芳芳")).unwrap().total == 1);
    let stale = service.update_contact(Contact { title: "经理".into(), ..added.clone() });
    assert!(stale.unwrap_err().is_conflict());
    let edited =
        service.update_relative(Relative { phone: "139".into(), ..relative.clone() }).unwrap();
    assert_eq!(service.relative(relative.id).unwrap(), edited);
    assert!(service.update_relative(relative.clone()).unwrap_err().is_conflict());
    service.delete_contact(added.id).unwrap();
    assert!(service.contacts(created.id).unwrap().is_empty());
    assert!(service.relatives(added.id).unwrap().is_empty());
    assert_eq!(service.search(&CustomerSearch::text("王芳")).unwrap().total, 0);
}

fn settings_in_use_cannot_be_deleted(crm: &Crm) {
    let admin = fresh_admin(crm);
    let settings = crm.settings(&admin);
    let web = settings.add(SettingList::CustomerSource, "web", "网站", 1).unwrap();
    let fair = settings.add(SettingList::CustomerSource, "fair", "展会", 2).unwrap();
    assert!(settings.add(SettingList::CustomerSource, "web", "again", 3).is_err());
    crm.customers(&admin)
        .create(Customer { source: "web".into(), ..customer("Webby") }, vec![])
        .unwrap();
    let error = settings.delete(web.id).unwrap_err();
    assert!(matches!(error, Error::Domain(DomainError::InUse { .. })), "{error}");
    settings.delete(fair.id).unwrap();
    let renamed = settings.update(web.id, "官网", 5).unwrap();
    assert_eq!(renamed.name, "官网");
    let codes: Vec<String> =
        settings.list(SettingList::CustomerSource).unwrap().into_iter().map(|v| v.code).collect();
    assert_eq!(codes, ["web"]);
}

/// Automatic numbers skip numbers given by hand in the automatic form (`C` and six digits),
/// in the same batch or stored, for creates and lead conversions; a refused call moves
/// nothing.
fn automatic_numbers_pass_numbers_given_by_hand(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    let code_of = |c: &Customer| c.code.clone();
    let first = service.create(customer("First"), vec![]).unwrap();
    assert_eq!(first.code, "C000001");
    let given: Vec<(Customer, Vec<Contact>)> = ["C000002", "C000003", " C000005 "]
        .iter()
        .map(|code| (Customer { code: (*code).into(), ..customer(code.trim()) }, vec![]))
        .chain([(customer("Automatic in the same batch"), vec![])])
        .collect();
    let created = service.create_many(given).unwrap();
    assert_eq!(
        created.iter().map(code_of).collect::<Vec<_>>(),
        ["C000002", "C000003", "C000005", "C000004"]
    );
    assert_eq!(service.create(customer("Next"), vec![]).unwrap().code, "C000006");

    // A number far ahead, typed by hand (also in a refused call), moves nothing: automatic
    // numbering skips it when it gets there.
    let refused = Customer { code: "C999999999".into(), email: "bad".into(), ..customer("X") };
    assert!(service.create(refused, vec![]).is_err());
    let mut edited = service.get(first.id).unwrap();
    edited.code = "C000008".into();
    service.update(edited).unwrap();
    let two = vec![(customer("Seventh"), vec![]), (customer("Ninth"), vec![])];
    let codes: Vec<String> = service.create_many(two).unwrap().iter().map(code_of).collect();
    assert_eq!(codes, ["C000007", "C000009"]);

    // A conversion skips a number a customer holds.
    service.create(Customer { code: "C000010".into(), ..customer("Typed") }, vec![]).unwrap();
    let leads = crm.leads(&admin);
    let lead =
        leads.create(Lead { name: "陈".into(), company: "转化".into(), ..Lead::default() });
    let (converted, _) = leads.convert(lead.unwrap().id).unwrap();
    assert_eq!(converted.code, "C000011");
}

fn lead_conversion_keeps_contact_records(crm: &Crm) {
    let admin = fresh_admin(crm);
    let leads = crm.leads(&admin);
    let lead = leads
        .create(Lead {
            name: "赵敏".into(),
            company: "明教贸易".into(),
            phone: "021-5555".into(),
            ..Lead::default()
        })
        .unwrap();
    let interaction = leads
        .add_interaction(
            Interaction {
                lead: Some(lead.id),
                subject: "首次电话".into(),
                content: "有采购意向".into(),
                contact_at: chrono::Utc::now(),
                effect: 4,
                ..Interaction::default()
            },
            vec![NewAttachment {
                file_name: "call.mp3".into(),
                content_type: "audio/mpeg".into(),
                bytes: vec![1, 2, 3, 0, 255],
            }],
        )
        .unwrap();
    assert_eq!(leads.get(lead.id).unwrap().status, LeadStatus::Contacted);
    let attachments = leads.attachments(interaction.id).unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].bytes, vec![1, 2, 3, 0, 255]);
    let (customer, contact) = leads.convert(lead.id).unwrap();
    assert_eq!(customer.name, "明教贸易");
    assert_eq!(contact.name, "赵敏");
    let converted = leads.get(lead.id).unwrap();
    assert_eq!((converted.status, converted.customer), (LeadStatus::Converted, Some(customer.id)));
    let moved = leads.customer_interactions(customer.id).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].subject, "首次电话");
    assert!(leads.convert(lead.id).is_err());
    let bad = leads.add_interaction(
        Interaction {
            lead: Some(lead.id),
            subject: "x".into(),
            effect: 3,
            ..Interaction::default()
        },
        vec![],
    );
    assert!(bad.is_err());
}

const GOOD_CSV: &str = "\u{feff}Code,Name,Phone,Contact name,Birthday\nK1,Good One,010-1,甲,1990-01-02\nK2,Good Two,020-2,乙,\n";
const BAD_CSV: &str =
    "客户编号,客户名称,联系人,生日\nK3,Fine,丙,1990-01-02\nK4,Broken,丁,2023-02-30\n";

fn import_is_all_or_nothing(crm: &Crm) {
    let admin = fresh_admin(crm);
    let imports = crm.imports(&admin);
    let error = imports.customers(BAD_CSV.as_bytes(), Format::Csv, false).unwrap_err();
    let Error::Import(rows) = error else { panic!("expected row errors, got {error}") };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row, 3);
    assert_eq!(rows[0].column, "生日");
    assert_eq!(crm.customers(&admin).search(&CustomerSearch::default()).unwrap().total, 0);
    let report = imports.customers(GOOD_CSV.as_bytes(), Format::Csv, false).unwrap();
    assert_eq!((report.created, report.contacts), (2, 2));
    let again = imports.customers(GOOD_CSV.as_bytes(), Format::Csv, false).unwrap_err();
    assert!(matches!(again, Error::Import(ref rows) if rows.len() == 2), "{again}");
    assert_eq!(crm.customers(&admin).search(&CustomerSearch::default()).unwrap().total, 2);

    // Errors found after reading name the columns as the file does, and count rows, not
    // cells.
    let chinese =
        "客户编号,客户名称,客户类别,客户来源\nK1,Again,没有这个类别,没有这个来源\nK9,New,,\n";
    let error = imports.customers(chinese.as_bytes(), Format::Csv, false).unwrap_err();
    assert!(error.to_string().starts_with("import refused: 1 bad row(s); first: row 2"), "{error}");
    let Error::Import(rows) = error else { panic!("expected row errors") };
    let columns: Vec<&str> = rows.iter().map(|r| r.column.as_str()).collect();
    assert_eq!(columns, ["客户来源", "客户类别", "客户编号"], "{rows:?}");
}

fn import_dry_run_stores_nothing(crm: &Crm) {
    let admin = fresh_admin(crm);
    let report = crm.imports(&admin).customers(GOOD_CSV.as_bytes(), Format::Csv, true).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.created, 2);
    assert_eq!(crm.customers(&admin).search(&CustomerSearch::default()).unwrap().total, 0);
}

fn export_round_trips(crm: &Crm) {
    let admin = fresh_admin(crm);
    let mut tricky = customer("=HYPERLINK(\"http://x\")");
    tricky.phone = "00861012345".into();
    crm.customers(&admin).create(tricky, vec![contact("甲"), contact("乙")]).unwrap();
    let bytes = crm.imports(&admin).export_customers(Format::Xlsx, Lang::Zh).unwrap();
    let other = fresh_admin(crm);
    let report = crm.imports(&other).customers(&bytes, Format::Xlsx, false).unwrap();
    assert_eq!((report.created, report.contacts), (1, 2));
    let copy = &crm.customers(&other).search(&CustomerSearch::default()).unwrap().items[0];
    assert_eq!(copy.name, "=HYPERLINK(\"http://x\")");
    assert_eq!(copy.phone, "00861012345");
}

fn demo_data_loads_northwind(crm: &Crm) {
    let admin = fresh_admin(crm);
    let report = crm.load_demo(&admin).unwrap();
    assert_eq!((report.customers, report.contacts, report.leads), (91, 91, 29));
    let found = crm.customers(&admin).search(&CustomerSearch::text("futterkiste")).unwrap();
    assert_eq!(names(&found), ["Alfreds Futterkiste"]);
    assert_eq!(crm.load_demo(&admin).unwrap().customers, 0);
    let pool = CustomerSearch { status: Some(CustomerStatus::Pool), ..CustomerSearch::default() };
    assert_eq!(crm.customers(&admin).search(&pool).unwrap().total, 0);
}

fn duplicate_customer_number_is_refused(crm: &Crm) {
    let admin = fresh_admin(crm);
    let service = crm.customers(&admin);
    service.create(Customer { code: "ALFKI".into(), ..customer("One") }, vec![]).unwrap();
    let error =
        service.create(Customer { code: "ALFKI".into(), ..customer("Two") }, vec![]).unwrap_err();
    assert!(
        matches!(error, Error::Domain(DomainError::Invalid { ref field, .. }) if field == "code"),
        "{error}"
    );
    assert_eq!(service.search(&CustomerSearch::default()).unwrap().total, 1);
    assert_eq!(service.by_code("ALFKI").unwrap().map(|c| c.name), Some("One".to_owned()));
    assert_eq!(service.by_code("NOPE").unwrap(), None);
}
