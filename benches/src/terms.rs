//! The fixed list of fuzzy search terms every store is timed with.
//!
//! The terms are what people type into a search box: parts of names in lower, upper and mixed
//! case, full-width forms that a Chinese input method produces, Chinese substrings, phone and
//! email fragments, customer numbers, and a few that match nothing (the worst case for an
//! index that has to prove absence, the best for a scan that stops early, which none does).

use crate::data::{
    EN_FIRST, EN_GIVEN, EN_SURNAME, EN_TRADE, ZH_BRAND, ZH_CITY, ZH_SURNAME, ZH_TRADE,
};

/// Terms that match no generated customer.
pub const NO_MATCH: &[&str] = &[
    "zzqx",
    "不存在的公司",
    "ｘｙｚｚｙ",
    "qwertyuiop",
    "北极熊贸易",
    "9999999999999",
    "@example.org",
    "Nonexistent GmbH",
];

/// Turns printable ASCII into its full-width form (`A` → `Ａ`, space → ideographic space).
pub fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' => '\u{3000}',
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xff01).unwrap_or(c),
            other => other,
        })
        .collect()
}

/// Alternates upper and lower case, starting upper: `maple` → `MaPlE`.
fn mixed_case(text: &str) -> String {
    text.chars()
        .enumerate()
        .flat_map(|(i, c)| {
            if i % 2 == 0 {
                c.to_uppercase().collect::<Vec<_>>()
            } else {
                c.to_lowercase().collect::<Vec<_>>()
            }
        })
        .collect()
}

/// The 200 search terms, always in the same order.
pub fn search_terms() -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();

    // English name parts as typed: lower case, mixed case, upper case and word fragments.
    for word in EN_FIRST {
        terms.push(word.to_lowercase());
    }
    for word in EN_FIRST.iter().step_by(2) {
        terms.push(mixed_case(word));
    }
    for word in EN_TRADE.iter().step_by(3) {
        terms.push(word.to_uppercase());
    }
    for word in EN_TRADE {
        let fragment: String = word.chars().skip(1).take(4).collect();
        terms.push(fragment);
    }
    for (first, trade) in EN_FIRST.iter().zip(EN_TRADE.iter()).take(8) {
        terms.push(format!("{first} {trade}"));
    }

    // Full-width forms of Latin names and digits.
    for word in EN_FIRST.iter().take(10) {
        terms.push(full_width(word));
    }
    for word in EN_TRADE.iter().take(5) {
        terms.push(full_width(&word.to_lowercase()));
    }
    terms.extend(["０１０", "０７５５－", "ＢＪ－００"].map(String::from));

    // Chinese substrings: cities, trade names, lines of business, name fragments.
    for (city, _, _) in ZH_CITY {
        terms.push((*city).to_owned());
    }
    for (brand, _) in ZH_BRAND {
        terms.push((*brand).to_owned());
    }
    for trade in ZH_TRADE {
        terms.push((*trade).to_owned());
    }
    for ((city, _, _), (brand, _)) in ZH_CITY.iter().zip(ZH_BRAND.iter()).take(8) {
        terms.push(format!("{city}{brand}"));
    }
    for ((brand, _), trade) in ZH_BRAND.iter().zip(ZH_TRADE.iter()).take(8) {
        terms.push(format!("{brand}{trade}"));
    }
    terms.extend(["有限", "股份", "科技有限", "集团", "商行"].map(String::from));
    for surname in ZH_SURNAME.iter().take(6) {
        terms.push(format!("{surname}伟"));
    }

    // Contact names in Latin script.
    for name in EN_GIVEN.iter().take(6) {
        terms.push(name.to_lowercase());
    }
    for name in EN_SURNAME.iter().take(6) {
        terms.push((*name).to_owned());
    }

    // Phone fragments, leading zeros included, and mobile prefixes.
    terms.extend(
        [
            "010-", "021-6", "0755-8", "0571", "028-1", "030 ", "(0", "020", "0512-", "022-9",
            "138", "1391", "15", "5550", "00", "12345", "8888", "0044",
        ]
        .map(String::from),
    );

    // Email, web and customer number fragments.
    for (_, pinyin) in ZH_BRAND.iter().take(6) {
        terms.push(format!("{pinyin}-"));
    }
    terms.extend(
        [
            "info1",
            "info12345",
            "@maple",
            ".cn",
            "maria.",
            "hans.weber",
            "BJ-",
            "sh-000",
            "C00001",
            "c0000999",
            "SZ-0001",
            "Gz-00",
        ]
        .map(String::from),
    );

    terms.extend(NO_MATCH.iter().map(|t| (*t).to_owned()));

    // Top up with two-word Chinese names until there are exactly 200 terms.
    let mut fill = ZH_CITY.iter().cycle().zip(ZH_TRADE.iter().cycle());
    while terms.len() < 200 {
        let Some(((city, _, _), trade)) = fill.next() else { break };
        terms.push(format!("{city}{trade}"));
    }
    terms.truncate(200);
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_maps_ascii() {
        assert_eq!(full_width("Ab 1-"), "Ａｂ\u{3000}１－");
        assert_eq!(full_width("北京"), "北京");
    }

    #[test]
    fn mixed_case_alternates() {
        assert_eq!(mixed_case("maple"), "MaPlE");
    }

    #[test]
    fn two_hundred_varied_terms() {
        let terms = search_terms();
        assert_eq!(terms.len(), 200);
        assert_eq!(terms, search_terms(), "the list is fixed");
        assert!(terms.iter().all(|t| !t.trim().is_empty()));
        assert!(terms.iter().any(|t| t == "ＮＯＲＴＨＷＩＮＤ" || t == "Ｎｏｒｔｈｗｉｎｄ"));
        assert!(terms.iter().any(|t| t == "北京"));
        assert!(terms.iter().any(|t| t == "010-"));
        assert!(terms.iter().any(|t| t == "MaPlE" || t == "GoLdEn"));
        assert!(terms.iter().any(|t| t == "zzqx"));
    }
}
