//! Text folding for search: the one definition of "these two strings look alike".

use unicode_normalization::UnicodeNormalization;

/// Folds text for matching: NFKC (full-width letters and digits become half-width) then
/// lowercase. Stored search text and every search term go through this same function, so a
/// substring test on folded strings is the fuzzy match of every store.
pub fn fold(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

/// Joins the folded, non-empty parts with a separator no folded term contains, so that a
/// match never spans two parts.
pub fn search_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\u{1f}');
        }
        out.push_str(&fold(part));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_and_case() {
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(fold("Alfreds Futterkiste"), "alfreds futterkiste");
        assert_eq!(fold("北京科技"), "北京科技");
    }

    #[test]
    fn search_text_separates_parts() {
        let text = search_text(["Ab", " ", "cD"]);
        assert_eq!(text, "ab\u{1f}cd");
        assert!(!text.contains("bc"));
    }
}
