//! Full-text matching on a field without a text index, as Qdrant does it: both the query and the
//! value are split into lowercase words (maximal runs of alphanumeric characters) and compared as
//! words, never as raw substrings. An empty query (no words) matches nothing.

use std::collections::HashSet;

use quiver_types::{TextRules, WordMode, WordQuery};

/// The lowercase words of `text`: maximal runs of alphanumeric characters, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    tokenize_with(text, &TextRules::default())
}

/// The words of `text` under a text index's rules: alphanumeric runs, lowercased when asked,
/// without those shorter than `min_token_len` or longer than `max_token_len` characters.
pub fn tokenize_with(text: &str, rules: &TextRules) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| {
            let n = w.chars().count();
            n > 0 && rules.min_token_len.is_none_or(|m| n >= m) && rules.max_token_len.is_none_or(|m| n <= m)
        })
        .map(|w| {
            if rules.lowercase {
                w.to_lowercase()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// A text query under its field's rules (see [`WordMode`]); a query without words matches nothing.
pub(super) fn words_match(value: &str, q: &WordQuery) -> bool {
    let query = tokenize_with(&q.text, &q.rules);
    if query.is_empty() {
        return false;
    }
    let words = tokenize_with(value, &q.rules);
    match q.mode {
        WordMode::All => {
            let set: HashSet<&String> = words.iter().collect();
            query.iter().all(|w| set.contains(w))
        }
        WordMode::Any => {
            let set: HashSet<&String> = words.iter().collect();
            query.iter().any(|w| set.contains(w))
        }
        WordMode::Phrase => words.windows(query.len()).any(|w| w == query.as_slice()),
    }
}

/// Every word of `query` is a word of `value` (in any order).
pub(super) fn all_words(value: &str, query: &str) -> bool {
    let query = tokenize(query);
    if query.is_empty() {
        return false;
    }
    let words: HashSet<String> = tokenize(value).into_iter().collect();
    query.iter().all(|w| words.contains(w))
}

/// At least one word of `query` is a word of `value`.
pub(super) fn any_word(value: &str, query: &str) -> bool {
    let words: HashSet<String> = tokenize(value).into_iter().collect();
    tokenize(query).iter().any(|w| words.contains(w))
}

/// The words of `phrase` occur in `value` consecutively and in order.
pub(super) fn phrase(value: &str, phrase: &str) -> bool {
    let phrase = tokenize(phrase);
    if phrase.is_empty() {
        return false;
    }
    tokenize(value)
        .windows(phrase.len())
        .any(|w| w == phrase.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_change_case_and_drop_words_by_length() {
        let rules = TextRules {
            lowercase: false,
            min_token_len: Some(3),
            max_token_len: Some(5),
        };
        assert_eq!(
            tokenize_with("A Fox jumped, Over it", &rules),
            vec!["Fox", "Over"]
        );
        let q = |text: &str, mode| WordQuery {
            text: text.into(),
            mode,
            rules,
        };
        assert!(
            words_match("The Fox", &q("a Fox", WordMode::All)),
            "'a' is dropped"
        );
        assert!(!words_match("The Fox", &q("fox", WordMode::All)), "case kept");
        assert!(
            !words_match("The Fox", &q("a it", WordMode::Any)),
            "no words left"
        );
        assert!(words_match("big Red Fox", &q("Red, Fox", WordMode::Phrase)));
        assert!(!words_match("Fox Red", &q("Red Fox", WordMode::Phrase)));
    }

    #[test]
    fn tokenizes_on_non_alphanumerics_and_lowercases() {
        assert_eq!(tokenize("Hello, wörld_42!  x"), vec!["hello", "wörld", "42", "x"]);
        assert!(tokenize(" ,.;_ ").is_empty());
    }

    #[test]
    fn all_words_needs_whole_words_in_any_order() {
        assert!(all_words("The quick brown fox", "fox QUICK"));
        assert!(!all_words("The quick brown fox", "qui"), "no substring match");
        assert!(!all_words("The quick brown fox", "fox cat"));
        assert!(!all_words("anything", ""), "empty query matches nothing");
        assert!(!all_words("anything", "  !! "));
    }

    #[test]
    fn any_word_needs_one_word() {
        assert!(any_word("red green", "blue green"));
        assert!(!any_word("red green", "blue gre"));
        assert!(!any_word("red green", ""));
    }

    #[test]
    fn phrase_needs_adjacent_words_in_order() {
        assert!(phrase("a quick brown fox", "Quick, brown"));
        assert!(!phrase("a quick brown fox", "brown quick"));
        assert!(!phrase("a quick red brown fox", "quick brown"));
        assert!(!phrase("quick", "quick brown"));
        assert!(!phrase("quick", ""));
    }
}
