//! Demo data: the Northwind sample customers and suppliers, loaded through the same import
//! path users use.

use crm_domain::model::SettingList;
use crm_io::Format;

use crate::customers::CustomerSearch;
use crate::{Crm, Principal, Result};

/// What loading the demo data did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Customers created (0 when the tenant already had customers).
    pub customers: usize,
    /// Contacts created.
    pub contacts: usize,
    /// Leads created.
    pub leads: usize,
}

/// The settings values the demo files refer to, and a few more a new tenant finds useful:
/// (list, code, Chinese and English name).
const DEMO_SETTINGS: &[(SettingList, &str, &str)] = &[
    (SettingList::CustomerSource, "northwind", "Northwind 示例 / sample"),
    (SettingList::CustomerSource, "referral", "转介绍 / Referral"),
    (SettingList::CustomerSource, "web", "网站 / Web"),
    (SettingList::CustomerSource, "trade_show", "展会 / Trade show"),
    (SettingList::CustomerCategory, "europe", "欧洲客户 / Europe"),
    (SettingList::CustomerCategory, "north_america", "北美客户 / North America"),
    (SettingList::CustomerCategory, "latin_america", "拉美客户 / Latin America"),
    (SettingList::CustomerCategory, "key", "重点客户 / Key account"),
];

/// Loads the Northwind demo customers (with contacts) and suppliers (as leads) into the
/// principal's tenant, once: a tenant that already has customers is left as it is.
pub fn load(crm: &Crm, who: &Principal) -> Result<DemoReport> {
    let existing = crm.customers(who).search(&CustomerSearch { limit: 1, ..Default::default() })?;
    if existing.total > 0 {
        return Ok(DemoReport { customers: 0, contacts: 0, leads: 0 });
    }
    let settings = crm.settings(who);
    for (order, (list, code, name)) in DEMO_SETTINGS.iter().enumerate() {
        if !settings.list(*list)?.iter().any(|v| v.code == *code) {
            settings.add(*list, code, name, order as i64)?;
        }
    }
    let imports = crm.imports(who);
    let customers =
        imports.customers(crm_io::demo::DEMO_CUSTOMERS_CSV.as_bytes(), Format::Csv, false)?;
    let leads = imports.leads(crm_io::demo::DEMO_LEADS_CSV.as_bytes(), Format::Csv, false)?;
    tracing::info!(tenant = %who.tenant, customers = customers.created, leads = leads.created, "demo data loaded");
    Ok(DemoReport {
        customers: customers.created,
        contacts: customers.contacts,
        leads: leads.created,
    })
}

impl Crm {
    /// Loads the demo data; see [`load`].
    pub fn load_demo(&self, who: &Principal) -> Result<DemoReport> {
        load(self, who)
    }
}
