//! Text normalisation: natural English made to look like the public corpus.
//!
//! The public help-desk corpus was released lowercase, with punctuation, digits,
//! names and most stop words removed. A ticket typed by a person has none of
//! that done. Both go through [`normalise`], which is idempotent on corpus text,
//! so training data and live tickets meet the model in one form.

/// Stop words removed from every text.
///
/// These are the words of the common English stop list (NLTK's) that are rare in
/// the public corpus: fewer than 2,000 occurrences in its 47,837 documents (against
/// 70,212 for `please`), i.e. words its cleaning removed. Stop words the corpus
/// kept (`for`, `with`, `to`, `you`, `have`, `can`, ...) are kept here too, so a
/// natural ticket keeps the same words a corpus ticket does. Sorted, for
/// binary search.
const STOP_WORDS: &[&str] = &[
    "a",
    "above",
    "against",
    "ain",
    "all",
    "am",
    "an",
    "and",
    "are",
    "aren",
    "as",
    "at",
    "been",
    "before",
    "being",
    "between",
    "both",
    "couldn",
    "d",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "few",
    "from",
    "had",
    "hadn",
    "hasn",
    "haven",
    "having",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "i",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "ma",
    "me",
    "mightn",
    "most",
    "mustn",
    "my",
    "myself",
    "needn",
    "no",
    "nor",
    "not",
    "now",
    "o",
    "of",
    "off",
    "once",
    "only",
    "our",
    "ours",
    "ourselves",
    "over",
    "own",
    "s",
    "shan",
    "shouldn",
    "so",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "they",
    "this",
    "those",
    "through",
    "too",
    "until",
    "up",
    "ve",
    "very",
    "wasn",
    "were",
    "weren",
    "what",
    "where",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "won",
    "wouldn",
    "y",
    "yours",
    "yourself",
    "yourselves",
];

/// Is `word` (already lowercase) one of the dropped stop words?
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Lowercases `text`, turns every character that is not a letter into a word
/// break (punctuation, digits, symbols: the corpus has no digits at all, so
/// numbers are dropped), and drops stop words and one-letter words. Returns the
/// words joined by single spaces.
///
/// Idempotent: `normalise(&normalise(t)) == normalise(t)`.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_word(text, |w| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    });
    out
}

/// Calls `f` with each normalised word of `text`, in order, without building the
/// joined string (the hot path of feature extraction).
pub fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    fn flush(word: &mut String, f: &mut dyn FnMut(&str)) {
        // One-letter words carry nothing (the corpus has only a stray `a`).
        if word.chars().nth(1).is_some() && !is_stop_word(word) {
            f(word);
        }
        word.clear();
    }
    let mut word = String::with_capacity(32);
    for c in text.chars() {
        if c.is_ascii_lowercase() {
            word.push(c);
        } else if c.is_ascii_uppercase() {
            word.push(c.to_ascii_lowercase());
        } else if c == '\'' || c == '\u{2019}' {
            // An apostrophe joins (`don't` -> `dont`), as the corpus has `dont`-like
            // forms rather than a stray `t`.
        } else if c.is_alphabetic() {
            // Only letters survive lowercasing (`İ` lowercases to `i` and a combining dot).
            word.extend(c.to_lowercase().filter(|l| l.is_alphabetic()));
        } else if !word.is_empty() {
            flush(&mut word, &mut f);
        }
    }
    if !word.is_empty() {
        flush(&mut word, &mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn natural_english_looks_like_the_corpus() {
        let cases = [
            ("Hi, I can't log in to Jira since 10:30!! Please help.", "hi cant log to jira since please help"),
            ("RE: FW: Access to the Finance share (\\\\srv01\\fin)", "re fw access to finance share srv fin"),
            ("Need Windows 10 upgrade", "need windows upgrade"),
            ("  ", ""),
            ("Café: naïve résumé", "café naïve résumé"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input), want, "input {input:?}");
        }
    }

    #[test]
    fn corpus_text_is_unchanged() {
        let doc = "connection with icon icon dear please setup icon per icon engineers please let other details needed thanks lead";
        assert_eq!(normalise(doc), doc);
    }

    proptest! {
        #[test]
        fn normalise_is_idempotent(text in "\\PC{0,80}") {
            let once = normalise(&text);
            prop_assert_eq!(normalise(&once), once);
        }
    }
}
