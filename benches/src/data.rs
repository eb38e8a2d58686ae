//! The benchmark data set: deterministic customers with two contacts each, and the same rows
//! in the plain shape the raw baselines store.
//!
//! Names mix English and Chinese companies (and a few of both), phones keep their leading
//! zeros, cities carry accents, so folding and substring search meet what real imports bring.
//! A tiny xorshift generator with a fixed seed makes every run store the same bytes, which is
//! what lets two runs, or two stores in one run, be compared at all.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use crm_domain::model::{Contact, Customer, CustomerStatus};
use crm_domain::text::search_text;
use serde::{Deserialize, Serialize};

/// The seed every benchmark uses, so runs are comparable.
pub const SEED: u64 = 0x5eed_c0de_2024_0001;

/// Contacts generated per customer.
pub const CONTACTS_PER_CUSTOMER: usize = 2;

/// A xorshift64* generator: small, fast and the same on every platform.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator started from `seed` (a zero seed is replaced, xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0); the slight modulo bias does not matter here.
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0, "below(0) has no value to return");
        self.next_u64() % bound.max(1)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        debug_assert!(!items.is_empty(), "pick from an empty slice");
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// `count` decimal digits, leading zeros allowed.
    pub fn digits(&mut self, count: usize) -> String {
        (0..count).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

/// English company name words: first word, line of business, legal form.
pub const EN_FIRST: &[&str] = &[
    "Northwind",
    "Silver",
    "Harbor",
    "Maple",
    "Granite",
    "Blue",
    "Golden",
    "Pacific",
    "Atlas",
    "Crescent",
    "Evergreen",
    "Summit",
    "Riverside",
    "Orion",
    "Falcon",
    "Meridian",
    "Aurora",
    "Cedar",
    "Pioneer",
    "Lotus",
];
/// Lines of business of English company names.
pub const EN_TRADE: &[&str] = &[
    "Trading",
    "Foods",
    "Logistics",
    "Textiles",
    "Electronics",
    "Machinery",
    "Pharma",
    "Software",
    "Imports",
    "Furniture",
    "Motors",
    "Ceramics",
    "Optics",
    "Paper",
    "Steel",
];
/// Legal forms of English company names.
pub const EN_FORM: &[&str] = &["Ltd", "GmbH", "Inc.", "S.A.", "Co.", "LLC", "AB", "K.K."];
/// Cities of English-named customers, accents included, with their country and dialling area.
pub const EN_CITY: &[(&str, &str, &str)] = &[
    ("Berlin", "Germany", "030"),
    ("London", "UK", "020"),
    ("Seattle", "USA", "206"),
    ("Lyon", "France", "04"),
    ("Madrid", "Spain", "091"),
    ("São Paulo", "Brazil", "011"),
    ("México D.F.", "Mexico", "055"),
    ("Tokyo", "Japan", "03"),
    ("Singapore", "Singapore", "065"),
    ("Zürich", "Switzerland", "044"),
    ("Toronto", "Canada", "0416"),
    ("Oslo", "Norway", "022"),
];

/// Chinese cities with their pinyin (for emails and codes) and dialling area.
pub const ZH_CITY: &[(&str, &str, &str)] = &[
    ("北京", "bj", "010"),
    ("上海", "sh", "021"),
    ("广州", "gz", "020"),
    ("深圳", "sz", "0755"),
    ("杭州", "hz", "0571"),
    ("成都", "cd", "028"),
    ("武汉", "wh", "027"),
    ("南京", "nj", "025"),
    ("西安", "xa", "029"),
    ("重庆", "cq", "023"),
    ("苏州", "su", "0512"),
    ("天津", "tj", "022"),
];
/// Trade names of Chinese companies with their pinyin.
pub const ZH_BRAND: &[(&str, &str)] = &[
    ("华信", "huaxin"),
    ("东方", "dongfang"),
    ("金桥", "jinqiao"),
    ("长江", "changjiang"),
    ("恒通", "hengtong"),
    ("瑞丰", "ruifeng"),
    ("新世纪", "xinshiji"),
    ("天成", "tiancheng"),
    ("宏达", "hongda"),
    ("远航", "yuanhang"),
    ("明珠", "mingzhu"),
    ("博雅", "boya"),
];
/// Lines of business of Chinese company names.
pub const ZH_TRADE: &[&str] =
    &["科技", "贸易", "食品", "物流", "电子", "机械", "医药", "纺织", "软件", "建材"];
/// Legal forms of Chinese company names.
pub const ZH_FORM: &[&str] = &["有限公司", "股份有限公司", "集团", "商行"];

/// Chinese family names of contacts.
pub const ZH_SURNAME: &[&str] =
    &["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"];
/// Chinese given names of contacts.
pub const ZH_GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛",
    "明辉", "晓燕", "建国",
];
/// English given names of contacts.
pub const EN_GIVEN: &[&str] = &[
    "Maria", "Thomas", "Anna", "Peter", "Laura", "Hans", "Sofia", "Carlos", "Yoshi", "Elena",
    "Martin", "Paula",
];
/// English family names of contacts.
pub const EN_SURNAME: &[&str] = &[
    "Anders", "Berg", "Moreno", "Hardy", "Larsson", "Keller", "Santos", "Nagase", "Fonseca",
    "Weber", "Dubois", "Novak",
];
/// Job titles of contacts.
pub const TITLES: &[&str] =
    &["采购经理", "总经理", "Sales Manager", "Owner", "Accounting Manager", "市场总监", "Buyer"];
/// Industries.
pub const INDUSTRIES: &[&str] = &["制造业", "零售", "Wholesale", "IT", "医疗", "Food service"];
/// Grades.
pub const GRADES: &[&str] = &["A", "B", "C"];

/// Generates `count` customers with [`CONTACTS_PER_CUSTOMER`] contacts each from `seed`.
///
/// Ids, versions, owners, timestamps and search text are left for the engine to fill; the
/// customer number is given (unique: it ends in the row number) as an import would give it.
pub fn generate(count: usize, seed: u64) -> Vec<(Customer, Vec<Contact>)> {
    let mut rng = XorShift::new(seed);
    (0..count).map(|row| generate_one(&mut rng, row)).collect()
}

fn generate_one(rng: &mut XorShift, row: usize) -> (Customer, Vec<Contact>) {
    let chinese = rng.chance(50);
    let mut customer = Customer { status: CustomerStatus::Private, ..Customer::default() };
    let domain;
    if chinese {
        let (city, city_pinyin, area) = *rng.pick(ZH_CITY);
        let (brand, brand_pinyin) = *rng.pick(ZH_BRAND);
        let trade = rng.pick(ZH_TRADE);
        let form = rng.pick(ZH_FORM);
        customer.name = if rng.chance(10) {
            // Some companies carry a Latin trade name inside the Chinese one.
            format!("{city}{} {brand}{trade}{form}", rng.pick(EN_FIRST))
        } else {
            format!("{city}{brand}{trade}{form}")
        };
        customer.short_name = format!("{brand}{trade}");
        customer.code = format!("{}-{:07}", city_pinyin.to_uppercase(), row + 1);
        customer.city = city.to_owned();
        customer.country = "中国".to_owned();
        customer.address = format!("{city}市{}路{}号", rng.pick(ZH_BRAND).0, 1 + rng.below(300));
        customer.phone = format!("{area}-{}", rng.digits(8));
        domain = format!("{brand_pinyin}-{city_pinyin}.cn");
    } else {
        let (city, country, area) = *rng.pick(EN_CITY);
        let first = rng.pick(EN_FIRST);
        let trade = rng.pick(EN_TRADE);
        let form = rng.pick(EN_FORM);
        customer.name = format!("{first} {trade} {form}");
        customer.short_name = format!("{first} {trade}");
        customer.code = format!("C{:07}", row + 1);
        customer.city = city.to_owned();
        customer.country = country.to_owned();
        customer.address = format!("{} {} Street", 1 + rng.below(200), rng.pick(EN_SURNAME));
        customer.phone = format!("{area} {} {}", rng.digits(3), rng.digits(4));
        domain = format!("{}-{}.com", first.to_lowercase(), trade.to_lowercase());
    }
    customer.email = format!("info{}@{domain}", row + 1);
    customer.website = format!("https://www.{domain}");
    customer.industry = rng.pick(INDUSTRIES).to_string();
    customer.grade = rng.pick(GRADES).to_string();

    let contacts = (0..CONTACTS_PER_CUSTOMER)
        .map(|_| {
            let (name, local) = if chinese && rng.chance(80) {
                let name = format!("{}{}", rng.pick(ZH_SURNAME), rng.pick(ZH_GIVEN));
                (name, format!("c{}", rng.digits(5)))
            } else {
                let given = rng.pick(EN_GIVEN);
                let family = rng.pick(EN_SURNAME);
                (format!("{given} {family}"), format!("{given}.{family}").to_lowercase())
            };
            let birthday = if rng.chance(60) {
                NaiveDate::from_ymd_opt(
                    1960 + rng.below(40) as i32,
                    1 + rng.below(12) as u32,
                    1 + rng.below(28) as u32,
                )
            } else {
                None
            };
            let area_digits = 2 + rng.below(2) as usize;
            Contact {
                name,
                title: rng.pick(TITLES).to_string(),
                department: String::new(),
                mobile: format!("1{}{}", 3 + rng.below(7), rng.digits(9)),
                phone: format!("0{}-{}", rng.digits(area_digits), rng.digits(8)),
                email: format!("{local}@{domain}"),
                birthday,
                ..Contact::default()
            }
        })
        .collect();
    (customer, contacts)
}

/// A customer as the raw baselines keep it: a plain struct with typed columns, no maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawCustomer {
    /// Key.
    pub id: i64,
    /// Customer number.
    pub code: String,
    /// Full name.
    pub name: String,
    /// Short name.
    pub short_name: String,
    /// Category code.
    pub category: String,
    /// Source code.
    pub source: String,
    /// Industry.
    pub industry: String,
    /// Grade.
    pub grade: String,
    /// Address.
    pub address: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: String,
    /// Web site.
    pub website: String,
    /// Owning user.
    pub owner: Option<i64>,
    /// `private` or `pool`.
    pub status: String,
    /// Parent customer.
    pub parent: Option<i64>,
    /// Remarks.
    pub remarks: String,
    /// Folded search text, computed the way the engine computes it.
    pub search: String,
    /// Created at, microseconds since the Unix epoch.
    pub created_at_us: i64,
    /// Updated at, microseconds since the Unix epoch.
    pub updated_at_us: i64,
}

/// A contact as the raw baselines keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawContact {
    /// Key.
    pub id: i64,
    /// The customer's key.
    pub customer: i64,
    /// Name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Department.
    pub department: String,
    /// Mobile.
    pub mobile: String,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: String,
    /// Birthday as days from 0001-01-01 (CE day 1).
    pub birthday_days: Option<i32>,
    /// Remarks.
    pub remarks: String,
}

impl RawContact {
    /// The birthday as a date.
    pub fn birthday(&self) -> Option<NaiveDate> {
        self.birthday_days.and_then(NaiveDate::from_num_days_from_ce_opt)
    }
}

/// One customer with its contacts, in raw shape: the unit a raw batch writes together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    /// The customer.
    pub customer: RawCustomer,
    /// Its contacts.
    pub contacts: Vec<RawContact>,
}

/// The owner id the raw rows carry, standing in for the engine's administrator.
pub const RAW_OWNER: i64 = 1;

/// The generated rows in raw shape, with ids 1.. for customers and contacts in order and the
/// search text the engine would compute, all stamped with `at`.
pub fn raw_rows(rows: &[(Customer, Vec<Contact>)], at: DateTime<Utc>) -> Vec<RawRow> {
    let at_us = at.timestamp_micros();
    let mut contact_id = 0i64;
    rows.iter()
        .enumerate()
        .map(|(index, (customer, contacts))| {
            let id = index as i64 + 1;
            let mut searchable = customer.clone();
            searchable.refresh_search(contacts);
            let contacts = contacts
                .iter()
                .map(|contact| {
                    contact_id += 1;
                    RawContact {
                        id: contact_id,
                        customer: id,
                        name: contact.name.clone(),
                        title: contact.title.clone(),
                        department: contact.department.clone(),
                        mobile: contact.mobile.clone(),
                        phone: contact.phone.clone(),
                        email: contact.email.clone(),
                        birthday_days: contact.birthday.map(|d| d.num_days_from_ce()),
                        remarks: contact.remarks.clone(),
                    }
                })
                .collect();
            let customer = RawCustomer {
                id,
                code: customer.code.clone(),
                name: customer.name.clone(),
                short_name: customer.short_name.clone(),
                category: customer.category.clone(),
                source: customer.source.clone(),
                industry: customer.industry.clone(),
                grade: customer.grade.clone(),
                address: customer.address.clone(),
                city: customer.city.clone(),
                country: customer.country.clone(),
                phone: customer.phone.clone(),
                email: customer.email.clone(),
                website: customer.website.clone(),
                owner: Some(RAW_OWNER),
                status: customer.status.as_str().to_owned(),
                parent: customer.parent.map(|p| p.0 as i64),
                remarks: customer.remarks.clone(),
                search: searchable.search,
                created_at_us: at_us,
                updated_at_us: at_us,
            };
            RawRow { customer, contacts }
        })
        .collect()
}

/// The search text of a raw row, for tests that check it matches the engine's definition.
pub fn raw_search_text(row: &RawRow) -> String {
    let customer = &row.customer;
    let mut parts = vec![
        customer.name.as_str(),
        customer.short_name.as_str(),
        customer.code.as_str(),
        customer.city.as_str(),
        customer.phone.as_str(),
        customer.email.as_str(),
    ];
    for contact in &row.contacts {
        parts.extend([
            contact.name.as_str(),
            contact.mobile.as_str(),
            contact.phone.as_str(),
            contact.email.as_str(),
        ]);
    }
    search_text(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = generate(50, SEED);
        let b = generate(50, SEED);
        assert_eq!(a, b);
        let c = generate(50, SEED + 1);
        assert_ne!(a, c);
    }

    #[test]
    fn xorshift_known_sequence() {
        let mut rng = XorShift::new(1);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        let mut again = XorShift::new(1);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_eq!(first[0], 5_180_492_295_206_395_165);
        assert!(first.iter().all(|&x| x != 0));
    }

    #[test]
    fn rows_cover_the_interesting_shapes() {
        let rows = generate(500, SEED);
        assert_eq!(rows.len(), 500);
        assert!(rows.iter().all(|(_, contacts)| contacts.len() == CONTACTS_PER_CUSTOMER));
        let chinese = rows.iter().filter(|(c, _)| c.name.contains("公司")).count();
        assert!(chinese > 100, "only {chinese} Chinese company names");
        assert!(rows.iter().any(|(c, _)| c.name.contains("Ltd")));
        let leading_zero = rows.iter().filter(|(c, _)| c.phone.starts_with('0')).count();
        assert!(leading_zero > 400, "only {leading_zero} phones keep a leading zero");
        assert!(rows.iter().any(|(c, _)| c.city == "São Paulo" || c.city == "Zürich"));
        for (customer, contacts) in &rows {
            customer.validate().expect("generated customers are valid");
            for contact in contacts {
                contact.validate().expect("generated contacts are valid");
                assert!(contact.phone.starts_with('0'));
            }
        }
        let mut codes: Vec<&str> = rows.iter().map(|(c, _)| c.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 500, "customer numbers are unique");
    }

    #[test]
    fn raw_rows_number_and_fold_like_the_engine() {
        let rows = generate(20, SEED);
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("valid instant");
        let raw = raw_rows(&rows, at);
        assert_eq!(raw[0].customer.id, 1);
        assert_eq!(raw[19].customer.id, 20);
        assert_eq!(raw[0].contacts[0].id, 1);
        assert_eq!(raw[19].contacts[1].id, 40);
        assert_eq!(raw[3].contacts[1].customer, 4);
        for row in &raw {
            assert_eq!(row.customer.search, raw_search_text(row));
            assert_eq!(row.customer.search, row.customer.search.to_lowercase());
            assert_eq!(row.customer.created_at_us, 1_700_000_000_000_000);
        }
        let with_birthday =
            raw.iter().flat_map(|r| &r.contacts).find(|c| c.birthday_days.is_some());
        let contact = with_birthday.expect("some contact has a birthday");
        let date = contact.birthday().expect("the day number is a date");
        assert!((1960..2000).contains(&date.year()));
    }
}
