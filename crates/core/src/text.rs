//! Free text that people write into the evidence chain: justifications,
//! reasons, notes, evidence, tickets. One rule for all of it, so the API's
//! schema can state it once: at most a given number of characters, no control
//! characters but tab and line breaks (they could rewrite what a terminal or a
//! log shows), kept trimmed; a required text must have something visible.

use crate::DomainError;

/// The most characters of a justification, a reason or a note.
pub const MAX_TEXT: usize = 4_000;
/// The most characters of the evidence of a change made by hand.
pub const MAX_EVIDENCE: usize = 10_000;
/// The most characters of a ticket reference.
pub const MAX_TICKET: usize = 200;

/// Characters refused anywhere in free text: C0 controls but tab, line feed
/// and carriage return; DEL and the C1 controls; and the bidirectional
/// embedding, override and isolate controls, which reorder what a terminal
/// or a page shows (an approver could read a different reason than stored).
pub fn is_refused(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `raw`, trimmed, checked: at most `max` characters, no refused character.
/// May be empty.
pub fn optional(field: &str, raw: &str, max: usize) -> Result<String, DomainError> {
    if let Some(c) = raw.chars().find(|&c| is_refused(c)) {
        return Err(DomainError::invalid(field, format!("contains the control character U+{:04X}: write plain text", u32::from(c))));
    }
    let count = raw.chars().count();
    if count > max {
        return Err(DomainError::invalid(field, format!("is {count} characters long; at most {max} are allowed")));
    }
    Ok(raw.trim().to_owned())
}

/// As [`optional`], and not empty (nor only blanks): `hint` says what to write.
pub fn required(field: &str, raw: &str, max: usize, hint: &str) -> Result<String, DomainError> {
    let text = optional(field, raw, max)?;
    if text.is_empty() {
        return Err(DomainError::invalid(field, format!("is required: {hint}")));
    }
    Ok(text)
}

/// As [`required`], on one line: no tab or line break either (a ticket
/// reference, a name).
pub fn line(field: &str, raw: &str, max: usize, hint: &str) -> Result<String, DomainError> {
    if raw.contains(['\t', '\n', '\r']) {
        return Err(DomainError::invalid(field, format!("must be one line without tabs: {hint}")));
    }
    required(field, raw, max, hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_is_trimmed_and_needs_something_visible() {
        assert_eq!(required("reason", "  on call\n", 10, "say why").unwrap(), "on call");
        for blank in ["", "   ", "\t\n", "\u{a0}\u{3000}"] {
            let e = required("reason", blank, 10, "say why").unwrap_err().to_string();
            assert!(e.contains("reason") && e.contains("say why"), "{e}");
        }
        assert_eq!(optional("reason", " ", 10).unwrap(), "");
        assert_eq!(line("ticket", " INC-1 ", 10, "e.g. INC-1").unwrap(), "INC-1");
        assert!(line("ticket", "INC\n1", 10, "e.g. INC-1").unwrap_err().to_string().contains("one line"));
    }

    #[test]
    fn controls_are_refused_but_tabs_and_line_breaks_are_not() {
        assert!(optional("note", "a\tb\r\nc", 10).is_ok());
        for bad in ["\u{1b}[2J", "a\u{0}b", "\u{7f}", "\u{85}", "\u{1c}", "ok\u{202e}evil", "\u{2066}x"] {
            let e = optional("note", bad, 10).unwrap_err().to_string();
            assert!(e.contains("note") && e.contains("character U+"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(optional("ticket", &"é".repeat(200), MAX_TICKET).is_ok());
        let e = optional("ticket", &"é".repeat(201), MAX_TICKET).unwrap_err().to_string();
        assert!(e.contains("201 characters") && e.contains("at most 200"), "{e}");
    }
}
