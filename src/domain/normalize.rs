//! Normalisation applied to every submitted field before it is validated.
//!
//! Village clerks type on Chinese input methods, paste from Excel and scan from
//! printed forms, so the same value arrives in many shapes: full-width digits
//! (`１１０１…`), the ideographic space U+3000, stray zero-width characters, and
//! half a dozen different "middle dots" in minority names. Validation works on
//! the normalised text only; the caller keeps the original as submitted.
//!
//! * [`normalize_text`]: drop zero-width characters, apply Unicode NFKC (full-width
//!   letters and digits become ASCII, U+3000 becomes a space), trim, and collapse
//!   every run of white space into one ASCII space.
//! * [`normalize_name`]: [`normalize_text`] plus every middle-dot variant mapped to
//!   U+00B7 and the spaces around a middle dot removed.
//!
//! NFKC leaves U+00B7, U+2022, U+2027 and U+30FB alone, turns U+FF0E into `.`,
//! U+FF65 into U+30FB and U+0387 into U+00B7; the dot mapping runs after NFKC
//! so that all of them end up as U+00B7 (the tests pin each case).

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// The middle dot (U+00B7) that separates the parts of a transliterated
/// minority name, e.g. 阿依古丽·买买提. It is the dot the household register,
/// the ID card and GB 18030 (0xA1A4) use.
pub const MIDDLE_DOT: char = '\u{00B7}';

/// Whether `c` is one of the invisible characters dropped by normalisation:
/// zero width space, non-joiner and joiner (U+200B..=U+200D), word joiner
/// (U+2060) and the byte order mark / zero width no-break space (U+FEFF).
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Whether `c` is one of the characters people type for the middle dot of a
/// minority name: `·` U+00B7, `•` U+2022, `‧` U+2027, `・` U+30FB, `．` U+FF0E,
/// `･` U+FF65, `.`, Greek ano teleia U+0387, and the math operators U+2219 and
/// U+22C5 that some input methods offer for "dot".
pub fn is_middle_dot_variant(c: char) -> bool {
    matches!(
        c,
        '\u{00B7}'
            | '\u{2022}'
            | '\u{2027}'
            | '\u{30FB}'
            | '\u{FF0E}'
            | '\u{FF65}'
            | '.'
            | '\u{0387}'
            | '\u{2219}'
            | '\u{22C5}'
    )
}

/// Printable ASCII and the CJK Unified Ideographs (the basic block and extension A):
/// none of them has a decomposition or a combining class, so NFKC leaves them alone.
fn is_plain(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}')
}

/// Normalises a free-text or code field: zero-width characters dropped, NFKC,
/// leading and trailing white space removed and inner runs of white space
/// (including U+3000, tabs and line breaks) collapsed into one ASCII space.
pub fn normalize_text(input: &str) -> String {
    normalized(input).into_owned()
}

/// [`normalize_text`], borrowing the input when it is already normal (most fields are):
/// for fields that are only checked or mapped to a code, which then cost no copy.
pub fn normalized(input: &str) -> Cow<'_, str> {
    // The commonest cases by far (codes, numbers, dates, Chinese names and addresses):
    // printable ASCII and CJK ideographs, with single inner spaces, are their own normal
    // form. Every one of these characters is NFKC-stable and combines with nothing.
    if input.chars().all(is_plain) && !input.starts_with(' ') && !input.ends_with(' ') && !input.contains("  ") {
        return Cow::Borrowed(input);
    }
    // Most fields (ASCII codes, common Chinese characters) are already NFKC with no
    // zero-width character: the quick check says so without building a copy, and
    // this runs several times for every field of every uploaded row.
    let already = !input.chars().any(is_zero_width)
        && unicode_normalization::is_nfkc_quick(input.chars()) == unicode_normalization::IsNormalized::Yes;
    let nfkc: Cow<'_, str> = if already {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(input.chars().filter(|c| !is_zero_width(*c)).nfkc().collect())
    };
    // NFKC never produces a zero-width character from a visible one, so one
    // filtering pass before it is enough; `split_whitespace` follows the
    // Unicode White_Space property, which includes U+3000 and U+00A0.
    let mut out = String::with_capacity(nfkc.len());
    for (i, word) in nfkc.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// Normalises a person's name: [`normalize_text`], then every middle-dot
/// variant becomes U+00B7 and white space next to a middle dot is removed
/// (`阿依古丽 • 买买提` becomes `阿依古丽·买买提`).
pub fn normalize_name(input: &str) -> String {
    let text = normalize_text(input);
    // Most names have no space and no dot other than U+00B7: nothing to map or remove.
    if !text.chars().any(|c| c == ' ' || (c != MIDDLE_DOT && is_middle_dot_variant(c))) {
        return text;
    }
    let dotted: String = text.chars().map(|c| if is_middle_dot_variant(c) { MIDDLE_DOT } else { c }).collect();
    // After normalize_text the only white space left is a single ASCII space.
    let chars: Vec<char> = dotted.chars().collect();
    let mut out = String::with_capacity(dotted.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev_is_dot = i.checked_sub(1).and_then(|p| chars.get(p)) == Some(&MIDDLE_DOT);
            let next_is_dot = chars.get(i + 1) == Some(&MIDDLE_DOT);
            if prev_is_dot || next_is_dot {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_width_digits_and_letters_become_ascii() {
        assert_eq!(normalize_text("１１０１０５１９４９１２３１００２ｘ"), "11010519491231002x");
        assert_eq!(normalize_text("ＡＢＣ１２３"), "ABC123");
    }

    #[test]
    fn white_space_is_trimmed_and_collapsed_including_ideographic_space() {
        assert_eq!(normalize_text("\u{3000}王\u{3000}\u{3000}小明\t\n "), "王 小明");
        assert_eq!(normalize_text("  a \u{00A0} b  "), "a b");
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text(" \u{3000}\t"), "");
    }

    #[test]
    fn zero_width_characters_are_dropped() {
        assert_eq!(normalize_text("\u{FEFF}11\u{200B}01\u{200C}0\u{200D}5\u{2060}"), "110105");
        // A zero-width character between two spaces must not keep them apart.
        assert_eq!(normalize_text("a \u{200B} b"), "a b");
    }

    #[test]
    fn nfkc_behaviour_on_each_dot_variant_is_as_documented() {
        let nfkc = |c: char| c.to_string().nfkc().collect::<String>();
        assert_eq!(nfkc('\u{00B7}'), "\u{00B7}", "NFKC must keep the middle dot");
        assert_eq!(nfkc('\u{2022}'), "\u{2022}");
        assert_eq!(nfkc('\u{2027}'), "\u{2027}");
        assert_eq!(nfkc('\u{30FB}'), "\u{30FB}");
        assert_eq!(nfkc('\u{FF0E}'), ".");
        assert_eq!(nfkc('\u{FF65}'), "\u{30FB}");
        assert_eq!(nfkc('\u{0387}'), "\u{00B7}");
    }

    #[test]
    fn every_dot_variant_becomes_u00b7_in_names() {
        for dot in [
            '\u{00B7}', '\u{2022}', '\u{2027}', '\u{30FB}', '\u{FF0E}', '\u{FF65}', '.', '\u{0387}', '\u{2219}',
            '\u{22C5}',
        ] {
            let input = format!("阿依古丽{dot}买买提");
            assert_eq!(normalize_name(&input), "阿依古丽·买买提", "variant U+{:04X}", dot as u32);
        }
    }

    #[test]
    fn spaces_around_a_dot_are_removed_in_names_but_other_spaces_stay() {
        assert_eq!(normalize_name(" 阿依古丽 • 买买提 "), "阿依古丽·买买提");
        assert_eq!(normalize_name("阿依古丽\u{3000}·\u{3000}买买提"), "阿依古丽·买买提");
        assert_eq!(normalize_name("王 小明"), "王 小明");
    }

    #[test]
    fn text_normalisation_leaves_dots_alone() {
        assert_eq!(normalize_text("a.b"), "a.b");
        assert_eq!(normalize_text("阿依古丽•买买提"), "阿依古丽•买买提");
    }

    #[test]
    fn cjk_compatibility_ideographs_become_unified_ideographs() {
        // U+F900 is a compatibility form of U+8C48; NFKC (and NFC) unify it.
        assert_eq!(normalize_text("\u{F900}"), "\u{8C48}");
    }

    #[test]
    fn normal_input_is_borrowed_and_anything_else_copied() {
        for normal in ["", "王明", "210804199001011234", "辽宁省营口市 站前区", "2026-01-02"] {
            assert!(matches!(normalized(normal), Cow::Borrowed(s) if s == normal), "{normal:?}");
        }
        for (input, expected) in [("１２３", "123"), (" 王明", "王明"), ("王\u{200B}明", "王明"), ("a  b", "a b")]
        {
            assert!(matches!(normalized(input), Cow::Owned(ref s) if s == expected), "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in any::<String>()) {
            let once = normalize_text(&s);
            prop_assert_eq!(normalize_text(&once), once.clone());
            let name = normalize_name(&s);
            prop_assert_eq!(normalize_name(&name), name.clone());
        }

        #[test]
        fn plain_text_is_what_full_normalisation_gives(s in "[ -~\u{3400}-\u{4DBF}\u{4E00}-\u{9FFF}]{0,30}") {
            // The fast path must agree with NFKC and white-space collapsing.
            let full: String = s.nfkc().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
            prop_assert_eq!(normalize_text(&s), full);
        }

        #[test]
        fn ascii_text_is_only_trimmed_and_collapsed(s in "[ -~\t]{0,40}") {
            let collapsed: Vec<&str> = s.split_whitespace().collect();
            prop_assert_eq!(normalize_text(&s), collapsed.join(" "));
        }

        #[test]
        fn output_has_no_zero_width_and_no_outer_or_double_space(s in any::<String>()) {
            let out = normalize_text(&s);
            prop_assert!(!out.chars().any(is_zero_width));
            prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            prop_assert!(!out.contains("  "));
            prop_assert!(!out.chars().any(|c| c.is_whitespace() && c != ' '));
        }
    }
}
