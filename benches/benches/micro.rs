//! Micro benchmarks of the hot small steps under the macro figures: text folding, the
//! customer ↔ record mapping, and a point read from sled, raw and through the store.
//!
//! Run with `cargo bench -p crm-benches --bench micro`. Without `--bench` (under
//! `cargo test --benches`) criterion runs each function once as a smoke test.

#![forbid(unsafe_code)]
#![expect(missing_docs, reason = "criterion_group! generates undocumented public functions")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use crm::{Crm, Customer, Entity, RecordId, Store, TenantId};
use crm_benches::data::{self, XorShift, SEED};
use crm_benches::{raw_pg, raw_sled};
use crm_domain::text::{fold, search_text};
use crm_storage::SledStore;

/// Customers loaded for the point reads.
const LOADED: usize = 2_000;

fn folding(c: &mut Criterion) {
    let mut group = c.benchmark_group("fold");
    let inputs = [
        ("ascii", "Northwind Trading Ltd"),
        ("accents", "São Paulo Comércio S.A."),
        ("chinese", "北京华信科技股份有限公司"),
        ("full_width", "ＮＯＲＴＨＷＩＮＤ　０１０－６５２３"),
    ];
    for (name, text) in inputs {
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| fold(black_box(text)))
        });
    }
    let rows = data::generate(1, SEED);
    let (customer, contacts) = &rows[0];
    group.bench_function("search_text_customer_2_contacts", |b| {
        b.iter(|| {
            let mut parts = vec![
                customer.name.as_str(),
                customer.short_name.as_str(),
                customer.code.as_str(),
                customer.phone.as_str(),
                customer.email.as_str(),
            ];
            for contact in contacts {
                parts.extend([contact.name.as_str(), contact.mobile.as_str()]);
                parts.extend([contact.phone.as_str(), contact.email.as_str()]);
            }
            search_text(black_box(parts))
        })
    });
    group.finish();
}

fn mapping(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_mapping");
    let rows = data::generate(1, SEED);
    let (customer, contacts) = &rows[0];
    let mut customer = customer.clone();
    customer.id = RecordId(42);
    customer.refresh_search(contacts);
    let record = customer.to_record().expect("a generated customer maps onto a record");
    group.bench_function("customer_to_record", |b| b.iter(|| black_box(&customer).to_record()));
    group.bench_function("customer_from_record", |b| {
        b.iter(|| Customer::from_record(black_box(&record)))
    });
    let raw = data::raw_rows(&rows, chrono::Utc::now());
    let raw_customer = &raw[0].customer;
    let bytes = postcard::to_stdvec(raw_customer).expect("raw customers encode");
    group.bench_function("raw_customer_postcard_encode", |b| {
        b.iter(|| postcard::to_stdvec(black_box(raw_customer)))
    });
    group.bench_function("raw_customer_postcard_decode", |b| {
        b.iter(|| postcard::from_bytes::<data::RawCustomer>(black_box(&bytes)))
    });
    group.finish();
}

fn point_reads(c: &mut Criterion) {
    let rows = data::generate(LOADED, SEED);
    let raw = data::raw_rows(&rows, chrono::Utc::now());

    let raw_dir = tempfile::tempdir().expect("temp dir");
    let raw_db = sled::Config::new().path(raw_dir.path()).open().expect("raw sled opens");
    raw_sled::insert_all(&raw_db, &raw, 500).expect("raw rows insert");

    let engine_dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledStore::open(engine_dir.path()).expect("sled store opens"));
    let crm = Crm::open(Arc::clone(&store) as Arc<dyn Store>).expect("engine opens");
    let tenant = TenantId::new(raw_pg::TENANT).expect("valid tenant");
    let admin = crm.bootstrap_tenant(&tenant, "admin", "Bench administrator").expect("tenant");
    let created = crm.customers(&admin).create_many(rows).expect("customers insert");
    let ids: Vec<RecordId> = created.iter().map(|c| c.id).collect();

    let mut group = c.benchmark_group("sled_get");
    let mut rng = XorShift::new(SEED);
    group.bench_function("raw_get_decode", |b| {
        b.iter(|| {
            let id = 1 + rng.below(LOADED as u64) as i64;
            raw_sled::get_customer(&raw_db, black_box(id))
        })
    });
    let mut rng = XorShift::new(SEED);
    group.bench_function("store_get_record", |b| {
        b.iter(|| {
            let id = *rng.pick(&ids);
            store.get(&tenant, Customer::desc(), black_box(id))
        })
    });
    let mut rng = XorShift::new(SEED);
    group.bench_function("service_get_customer", |b| {
        b.iter(|| {
            let id = *rng.pick(&ids);
            crm.customers(&admin).get(black_box(id))
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = folding, mapping, point_reads
}
criterion_main!(benches);
