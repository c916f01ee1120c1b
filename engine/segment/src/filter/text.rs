//! Full-text matching on a field without a text index, as Qdrant does it: both the query and the
//! value are split into lowercase words (maximal runs of alphanumeric characters) and compared as
//! words, never as raw substrings. An empty query (no words) matches nothing.

use std::collections::HashSet;

/// The lowercase words of `text`: maximal runs of alphanumeric characters, in order.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
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
