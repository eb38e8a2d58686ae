//! Text folding for search: the one definition of "these two strings look alike".

use unicode_normalization::UnicodeNormalization;

/// The first character of `text` that reorders how the text around it reads (U+202A–U+202E,
/// U+2066–U+2069): with one, a title can show another amount than the one stored.
pub fn direction_control(text: &str) -> Option<char> {
    text.chars().find(|c| matches!(u32::from(*c), 0x202A..=0x202E | 0x2066..=0x2069))
}

/// `text` with every line break as one `\n`: browsers send a text area's line breaks as
/// `\r\n`, and text typed elsewhere has `\n`; kept one way, the two compare equal.
pub fn unix_line_breaks(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Folds text for matching: NFKC (full-width letters and digits become half-width) then
/// lowercase. Stored search text and every search term go through this same function, so a
/// substring test on folded strings is the fuzzy match of every store.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    fold_into(text, &mut out);
    out
}

/// Appends the folded `text` to `out`. Text of ASCII and unified CJK ideographs only is its
/// own NFKC form (neither has a decomposition, and no two of them compose), and only its
/// ASCII letters change case: it is copied whole and its ASCII bytes lowered in place (the
/// bytes of other characters are never ASCII in UTF-8). Anything else goes through NFKC.
fn fold_into(text: &str, out: &mut String) {
    if text.is_ascii() || text.chars().all(|c| c.is_ascii() || is_unified_ideograph(c)) {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(text.nfkc().flat_map(char::to_lowercase));
    }
}

/// A CJK unified ideograph of the basic block or extension A, the characters of almost every
/// Chinese name. The compatibility ideographs (U+F900 on) are left out: NFKC maps them.
fn is_unified_ideograph(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Joins the folded, non-empty parts with a separator no folded term contains, so that a
/// match never spans two parts.
pub fn search_text<'a>(parts: impl IntoIterator<Item = &'a str> + Clone) -> String {
    // Folding rarely lengthens text, so one allocation usually holds it all.
    let mut out = String::with_capacity(parts.clone().into_iter().map(|p| p.len() + 1).sum());
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\u{1f}');
        }
        fold_into(part, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_direction_controls() {
        assert_eq!(unix_line_breaks("a\r\nb\rc\nd"), "a\nb\nc\nd");
        assert!(matches!(unix_line_breaks("a\nb"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(direction_control("报销 \u{202E}001"), Some('\u{202E}'));
        assert_eq!(direction_control("مرحبا 北京"), None);
    }

    #[test]
    fn folds_width_and_case() {
        assert_eq!(fold("ＡＢＣ１２３"), "abc123");
        assert_eq!(fold("Alfreds Futterkiste"), "alfreds futterkiste");
        assert_eq!(fold("北京科技"), "北京科技");
        assert_eq!(fold("São Paulo ＳＴ"), "são paulo st");
    }

    #[test]
    fn the_ascii_path_agrees_with_nfkc() {
        let ascii: String = (0u8..128).map(char::from).collect();
        let by_nfkc: String = ascii.nfkc().flat_map(char::to_lowercase).collect();
        assert_eq!(fold(&ascii), by_nfkc);
    }

    #[test]
    fn the_ideograph_path_agrees_with_nfkc() {
        let ideographs: String = ('\u{3400}'..='\u{4DBF}').chain('\u{4E00}'..='\u{9FFF}').collect();
        let mixed = format!("Ab{ideographs}Z9 北京 HUA");
        for text in [ideographs.as_str(), mixed.as_str()] {
            let by_nfkc: String = text.nfkc().flat_map(char::to_lowercase).collect();
            assert_eq!(fold(text), by_nfkc);
        }
        // Just outside the ranges, NFKC still runs: a compatibility ideograph is mapped.
        assert_eq!(fold("\u{F900}"), "\u{8C48}");
        assert_eq!(fold("（北京）"), "(北京)");
    }

    proptest::proptest! {
        #[test]
        fn folding_agrees_with_nfkc_then_lowercase(text in "\\PC{0,40}") {
            let by_nfkc: String = text.nfkc().flat_map(char::to_lowercase).collect();
            proptest::prop_assert_eq!(fold(&text), by_nfkc);
        }
    }

    #[test]
    fn search_text_separates_parts() {
        let text = search_text(["Ab", " ", "cD"]);
        assert_eq!(text, "ab\u{1f}cd");
        assert!(!text.contains("bc"));
    }
}
