//! `crm quotes …` and `crm contracts …`: sales documents (报价单 / 合同) that go through the
//! approval flow bound to `quote` or `contract`.

use std::io::Write;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use crm::{
    ApprovalStatus, Contract, ContractDraft, Crm, DomainError, Principal, Quote, QuoteDraft,
    QuoteLine, RecordId, SalesFilter,
};
use rust_decimal::Decimal;

/// Subcommands of `crm quotes`.
#[derive(Debug, Subcommand)]
pub(crate) enum QuoteCommand {
    /// Write a new quote as a draft.
    New {
        /// The customer it is for (one you can see).
        #[arg(long)]
        customer: RecordId,
        /// A one-line subject.
        #[arg(long)]
        title: String,
        /// A line as `PRODUCT;QUANTITY;UNIT_PRICE[;DISCOUNT_%]`, e.g. `"滤芯;3;1,099.50"`
        /// (quote it for the shell; numbers may carry thousands separators); repeat for
        /// more lines.
        #[arg(long = "line", value_name = "LINE", required = true)]
        lines: Vec<String>,
        /// The last day the offer holds (YYYY-MM-DD).
        #[arg(long)]
        valid_until: Option<NaiveDate>,
        /// ISO currency code; CNY by default.
        #[arg(long)]
        currency: Option<String>,
        /// Terms, delivery, anything else.
        #[arg(long, default_value = "")]
        remarks: String,
    },
    /// List your quotes (an administrator: everyone's), newest first.
    List {
        /// Only quotes of this customer.
        #[arg(long)]
        customer: Option<RecordId>,
        /// Only this status: draft, pending, approved, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one quote with its lines.
    Show {
        /// The quote id.
        id: RecordId,
    },
    /// Submit your draft (or rejected / withdrawn quote) for approval.
    Submit {
        /// The quote id.
        id: RecordId,
        /// Make it for this one of your units instead of your home unit.
        #[arg(long)]
        unit: Option<RecordId>,
    },
    /// Delete your draft that was never submitted.
    Delete {
        /// The quote id.
        id: RecordId,
    },
}

/// Subcommands of `crm contracts`.
#[derive(Debug, Subcommand)]
pub(crate) enum ContractCommand {
    /// Write a new contract as a draft.
    New {
        /// The customer it is with (one you can see).
        #[arg(long)]
        customer: RecordId,
        /// A one-line subject.
        #[arg(long)]
        title: String,
        /// The contract's value, e.g. 8000 or 8,000.00.
        #[arg(long)]
        amount: String,
        /// ISO currency code; CNY by default.
        #[arg(long)]
        currency: Option<String>,
        /// The quote it follows (the same customer's).
        #[arg(long)]
        quote: Option<RecordId>,
        /// The day it is (to be) signed (YYYY-MM-DD).
        #[arg(long)]
        signed_on: Option<NaiveDate>,
        /// The first day it runs (YYYY-MM-DD).
        #[arg(long)]
        starts_on: Option<NaiveDate>,
        /// The last day it runs (YYYY-MM-DD).
        #[arg(long)]
        ends_on: Option<NaiveDate>,
        /// How and when the customer pays.
        #[arg(long, default_value = "")]
        payment_terms: String,
        /// Anything else.
        #[arg(long, default_value = "")]
        remarks: String,
    },
    /// List your contracts (an administrator: everyone's), newest first.
    List {
        /// Only contracts of this customer.
        #[arg(long)]
        customer: Option<RecordId>,
        /// Only this status: draft, pending, approved, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one contract.
    Show {
        /// The contract id.
        id: RecordId,
    },
    /// Submit your draft (or rejected / withdrawn contract) for approval.
    Submit {
        /// The contract id.
        id: RecordId,
        /// Make it for this one of your units instead of your home unit.
        #[arg(long)]
        unit: Option<RecordId>,
    },
    /// Delete your draft that was never submitted.
    Delete {
        /// The contract id.
        id: RecordId,
    },
}

/// Reads an amount as typed (`8000`, `8,000.50`), naming `field` when it is not one.
fn amount(field: &str, text: &str) -> anyhow::Result<Decimal> {
    crm::finance::parse_amount(text)
        .ok_or_else(|| DomainError::invalid(field, format!("{text:?} is not a number")).into())
}

/// Reads `PRODUCT;QUANTITY;UNIT_PRICE[;DISCOUNT_%]` as the `at`-th line (from 1); a
/// full-width `；` separates as well. Commas belong to the numbers (`1,200.50`).
fn quote_line(at: usize, text: &str) -> anyhow::Result<QuoteLine> {
    let parts: Vec<&str> = text.split([';', '；']).map(str::trim).collect();
    let (product, quantity, price, discount) = match parts.as_slice() {
        [product, quantity, price] => (*product, *quantity, *price, "0"),
        [product, quantity, price, discount] => (*product, *quantity, *price, *discount),
        _ => anyhow::bail!(
            "--line {at} {text:?}: write PRODUCT;QUANTITY;UNIT_PRICE[;DISCOUNT_%], e.g. \"滤芯;3;99.50\""
        ),
    };
    Ok(QuoteLine {
        product: product.to_owned(),
        quantity: amount(&format!("lines[{at}].quantity"), quantity)?,
        unit_price: amount(&format!("lines[{at}].unit_price"), price)?,
        discount: amount(&format!("lines[{at}].discount"), discount)?,
    })
}

pub(crate) fn status(text: Option<&str>) -> anyhow::Result<Option<ApprovalStatus>> {
    text.map(|t| {
        ApprovalStatus::parse(t).with_context(|| {
            format!("{t:?} is not a status; use draft, pending, approved, rejected or withdrawn")
        })
    })
    .transpose()
}

pub(crate) fn submitted(
    out: &mut impl Write,
    code: &str,
    status: ApprovalStatus,
    instance: Option<RecordId>,
) -> anyhow::Result<()> {
    let instance = instance.map(|i| i.to_string()).unwrap_or_default();
    writeln!(out, "{code} is {status} as instance {instance}")?;
    Ok(())
}

/// Runs `crm quotes …`.
pub(crate) fn quotes(
    crm: &Crm,
    who: &Principal,
    command: QuoteCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.quotes(who);
    match command {
        QuoteCommand::New { customer, title, lines, valid_until, currency, remarks } => {
            let lines = lines
                .iter()
                .enumerate()
                .map(|(at, text)| quote_line(at + 1, text))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let draft = QuoteDraft {
                customer,
                title,
                currency: currency.unwrap_or_default(),
                valid_until,
                lines,
                remarks,
            };
            let quote = service.create(draft)?;
            writeln!(
                out,
                "quote {} (id {}) written as a draft, total {} {}",
                quote.code, quote.id, quote.total, quote.currency
            )?;
        }
        QuoteCommand::List { customer, status: wanted } => {
            let filter =
                SalesFilter { customer, status: status(wanted.as_deref())?, limit: 500, offset: 0 };
            let page = service.list(&filter)?;
            for q in &page.items {
                writeln!(
                    out,
                    "{:>6}  {:<9} {:>8} {:>14} {:<4} {:<10} {}",
                    q.id.0,
                    q.code,
                    q.customer.0,
                    q.total,
                    q.currency,
                    q.status.as_str(),
                    q.title
                )?;
            }
            writeln!(out, "{} quote(s)", page.total)?;
        }
        QuoteCommand::Show { id } => print_quote(crm, who, out, &service.get(id)?)?,
        QuoteCommand::Submit { id, unit } => {
            let quote = service.get(id)?;
            let quote = service.submit(id, quote.version, unit)?;
            submitted(out, &format!("quote {}", quote.code), quote.status, quote.instance)?;
        }
        QuoteCommand::Delete { id } => {
            let quote = service.get(id)?;
            service.delete(id, quote.version)?;
            writeln!(out, "deleted quote {}", quote.code)?;
        }
    }
    Ok(())
}

fn print_quote(
    crm: &Crm,
    who: &Principal,
    out: &mut impl Write,
    quote: &Quote,
) -> anyhow::Result<()> {
    writeln!(out, "{} {} (quote)", quote.code, quote.title)?;
    writeln!(out, "  id:          {}", quote.id)?;
    writeln!(out, "  customer:    {}", quote.customer)?;
    writeln!(out, "  total:       {} {}", quote.total, quote.currency)?;
    writeln!(out, "  status:      {}", quote.status)?;
    writeln!(out, "  owner:       {}", crate::user_label(crm, who, quote.owner))?;
    if let Some(date) = quote.valid_until {
        writeln!(out, "  valid until: {date}")?;
    }
    for (at, line) in quote.lines.iter().enumerate() {
        writeln!(
            out,
            "  {:>3}. {} × {} @ {} less {}% = {}",
            at + 1,
            line.product,
            line.quantity,
            line.unit_price,
            line.discount,
            line.amount()
        )?;
    }
    if !quote.remarks.is_empty() {
        writeln!(out, "  remarks:     {}", quote.remarks)?;
    }
    if let Some(instance) = quote.instance {
        writeln!(out, "  approval:    instance {instance} (crm instance {instance})")?;
    }
    Ok(())
}

/// Runs `crm contracts …`.
pub(crate) fn contracts(
    crm: &Crm,
    who: &Principal,
    command: ContractCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let service = crm.contracts(who);
    match command {
        ContractCommand::New {
            customer,
            title,
            amount: typed,
            currency,
            quote,
            signed_on,
            starts_on,
            ends_on,
            payment_terms,
            remarks,
        } => {
            let draft = ContractDraft {
                customer,
                title,
                amount: amount("amount", &typed)?,
                currency: currency.unwrap_or_default(),
                quote,
                signed_on,
                starts_on,
                ends_on,
                payment_terms,
                remarks,
            };
            let contract = service.create(draft)?;
            writeln!(out, "contract {} (id {}) written as a draft", contract.code, contract.id)?;
        }
        ContractCommand::List { customer, status: wanted } => {
            let filter =
                SalesFilter { customer, status: status(wanted.as_deref())?, limit: 500, offset: 0 };
            let page = service.list(&filter)?;
            for c in &page.items {
                writeln!(
                    out,
                    "{:>6}  {:<9} {:>8} {:>14} {:<4} {:<10} {}",
                    c.id.0,
                    c.code,
                    c.customer.0,
                    c.amount,
                    c.currency,
                    c.status.as_str(),
                    c.title
                )?;
            }
            writeln!(out, "{} contract(s)", page.total)?;
        }
        ContractCommand::Show { id } => print_contract(crm, who, out, &service.get(id)?)?,
        ContractCommand::Submit { id, unit } => {
            let contract = service.get(id)?;
            let contract = service.submit(id, contract.version, unit)?;
            let code = format!("contract {}", contract.code);
            submitted(out, &code, contract.status, contract.instance)?;
        }
        ContractCommand::Delete { id } => {
            let contract = service.get(id)?;
            service.delete(id, contract.version)?;
            writeln!(out, "deleted contract {}", contract.code)?;
        }
    }
    Ok(())
}

fn print_contract(
    crm: &Crm,
    who: &Principal,
    out: &mut impl Write,
    contract: &Contract,
) -> anyhow::Result<()> {
    writeln!(out, "{} {} (contract)", contract.code, contract.title)?;
    writeln!(out, "  id:        {}", contract.id)?;
    writeln!(out, "  customer:  {}", contract.customer)?;
    writeln!(out, "  amount:    {} {}", contract.amount, contract.currency)?;
    writeln!(out, "  status:    {}", contract.status)?;
    writeln!(out, "  owner:     {}", crate::user_label(crm, who, contract.owner))?;
    if let Some(quote) = contract.quote {
        writeln!(out, "  quote:     {quote}")?;
    }
    for (label, date) in [
        ("signed on:", contract.signed_on),
        ("starts on:", contract.starts_on),
        ("ends on:", contract.ends_on),
    ] {
        if let Some(date) = date {
            writeln!(out, "  {label:<10} {date}")?;
        }
    }
    for (label, text) in [("terms:", &contract.payment_terms), ("remarks:", &contract.remarks)] {
        if !text.is_empty() {
            writeln!(out, "  {label:<10} {text}")?;
        }
    }
    if let Some(instance) = contract.instance {
        writeln!(out, "  approval:  instance {instance} (crm instance {instance})")?;
    }
    Ok(())
}
