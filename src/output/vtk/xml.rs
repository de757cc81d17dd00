//! A minimal XML tokenizer: enough XML to read VTK files back.
//!
//! It splits text into start tags (with attributes), end tags and character data, and skips
//! the XML declaration and comments. DTDs, CDATA sections and entity expansion are not
//! supported, as VTK's writers and [`super::write_vti_fields`] never produce them; names are
//! checked against a simplified XML name rule (letters, digits, `_:-.`). Nesting is left to the
//! caller, which knows the elements it expects.

/// A start tag, `<name a="v" …>` or `<name … />`.
pub(super) struct Tag<'t> {
    pub(super) name: &'t str,
    attributes: Vec<(&'t str, &'t str)>,
    /// Self-closing (`/>`): no content and no end tag.
    pub(super) empty: bool,
    /// Byte offset of its `<`.
    pub(super) offset: usize,
}

impl<'t> Tag<'t> {
    /// The value of attribute `name`, if present.
    pub(super) fn attribute(&self, name: &str) -> Option<&'t str> {
        self.attributes
            .iter()
            .find(|(key, _)| *key == name)
            .map(|&(_, value)| value)
    }
}

/// One piece of XML, in document order.
pub(super) enum Event<'t> {
    /// `<name …>` or `<name … />`.
    Start(Tag<'t>),
    /// `</name>`, whose `<` is at byte `offset`.
    End { name: &'t str, offset: usize },
    /// Character data between tags; `to_end` when no tag follows it.
    Text { content: &'t str, to_end: bool },
}

/// Why the text cannot be split into events.
pub(super) enum ScanError {
    /// The text ends inside a tag, comment or declaration.
    UnexpectedEnd,
    /// Not XML at byte `offset`, or XML this tokenizer does not read.
    Malformed {
        offset: usize,
        problem: &'static str,
    },
}

/// Splits XML text into [`Event`]s, front to back.
pub(super) struct Scanner<'t> {
    text: &'t str,
    /// Byte offset of the next unread character.
    pos: usize,
}

impl<'t> Scanner<'t> {
    /// A scanner at the start of `text`.
    pub(super) fn new(text: &'t str) -> Self {
        Self { text, pos: 0 }
    }

    /// The next event, or `None` at the end of the text.
    pub(super) fn next_event(&mut self) -> Result<Option<Event<'t>>, ScanError> {
        loop {
            let rest = &self.text[self.pos..];
            if rest.is_empty() {
                return Ok(None);
            }
            if !rest.starts_with('<') {
                let len = rest.find('<').unwrap_or(rest.len());
                self.pos += len;
                return Ok(Some(Event::Text {
                    content: &rest[..len],
                    to_end: len == rest.len(),
                }));
            }
            let offset = self.pos;
            if let Some(body) = rest.strip_prefix("<?") {
                self.pos += 2 + past(body, "?>")?;
            } else if let Some(body) = rest.strip_prefix("<!--") {
                self.pos += 4 + past(body, "-->")?;
            } else if rest.starts_with("<!") {
                return Err(ScanError::Malformed {
                    offset,
                    problem: "DOCTYPE and CDATA sections are not supported",
                });
            } else if let Some(body) = rest.strip_prefix("</") {
                let name = leading_name(body);
                let after = body[name.len()..].trim_start();
                if after.is_empty() {
                    return Err(ScanError::UnexpectedEnd);
                }
                if name.is_empty() || !after.starts_with('>') {
                    return Err(ScanError::Malformed {
                        offset,
                        problem: "invalid closing tag",
                    });
                }
                self.pos = self.text.len() - after.len() + 1;
                return Ok(Some(Event::End { name, offset }));
            } else {
                return self.start_tag().map(Some);
            }
        }
    }

    /// Reads `<name a="v" …>` or `<name … />` at `self.pos`.
    fn start_tag(&mut self) -> Result<Event<'t>, ScanError> {
        let text = self.text;
        let offset = self.pos;
        let malformed = |problem| ScanError::Malformed { offset, problem };
        let after_open = &text[offset + 1..];
        let name = leading_name(after_open);
        if after_open.is_empty() {
            return Err(ScanError::UnexpectedEnd);
        }
        if name.is_empty() {
            return Err(malformed("invalid tag name"));
        }
        let mut rest = &text[offset + 1 + name.len()..];
        let mut attributes = Vec::new();
        loop {
            let trimmed = rest.trim_start();
            let separated = trimmed.len() < rest.len();
            rest = trimmed;
            let empty = rest.starts_with("/>");
            if empty || rest.starts_with('>') {
                self.pos = text.len() - rest.len() + if empty { 2 } else { 1 };
                return Ok(Event::Start(Tag {
                    name,
                    attributes,
                    empty,
                    offset,
                }));
            }
            if rest.is_empty() || rest == "/" {
                return Err(ScanError::UnexpectedEnd);
            }
            let key = leading_name(rest);
            if key.is_empty() || !separated {
                return Err(malformed("invalid character in a tag"));
            }
            let after_key = rest[key.len()..].trim_start();
            let Some(after_eq) = after_key.strip_prefix('=') else {
                return Err(if after_key.is_empty() {
                    ScanError::UnexpectedEnd
                } else {
                    malformed("attribute without a value")
                });
            };
            let after_eq = after_eq.trim_start();
            let quote = match after_eq.chars().next() {
                Some(quote @ ('"' | '\'')) => quote,
                Some(_) => return Err(malformed("attribute value without quotes")),
                None => return Err(ScanError::UnexpectedEnd),
            };
            let body = &after_eq[1..];
            let close = body.find(quote).ok_or(ScanError::UnexpectedEnd)?;
            let value = &body[..close];
            // XML forbids a raw '<' in attribute values; it usually means a missing quote.
            if value.contains('<') {
                return Err(malformed("'<' in an attribute value"));
            }
            attributes.push((key, value));
            rest = &body[close + 1..];
        }
    }
}

/// Length of `body` up to and including the first `terminator`.
fn past(body: &str, terminator: &str) -> Result<usize, ScanError> {
    body.find(terminator)
        .map(|i| i + terminator.len())
        .ok_or(ScanError::UnexpectedEnd)
}

/// The longest prefix of `text` made of XML name characters (letters, digits, `_:-.`).
fn leading_name(text: &str) -> &str {
    let len = text
        .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')))
        .unwrap_or(text.len());
    &text[..len]
}

/// 1-based line of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Byte offset of `part`, a slice of `text`, within `text`.
pub(super) fn offset_of(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of `text` in a compact notation: `<a k=v>`, `<a/>`, `</a>`, `"text"`.
    fn events(text: &str) -> Result<Vec<String>, ScanError> {
        let mut scanner = Scanner::new(text);
        let mut out = Vec::new();
        while let Some(event) = scanner.next_event()? {
            out.push(match event {
                Event::Start(tag) => {
                    let attributes: String = tag
                        .attributes
                        .iter()
                        .map(|(k, v)| format!(" {k}={v}"))
                        .collect();
                    let close = if tag.empty { "/>" } else { ">" };
                    format!("<{}{attributes}{close}@{}", tag.name, tag.offset)
                }
                Event::End { name, offset } => format!("</{name}>@{offset}"),
                Event::Text { content, to_end } => {
                    format!("{content:?}{}", ["", "$"][usize::from(to_end)])
                }
            });
        }
        Ok(out)
    }

    #[test]
    fn splits_tags_attributes_and_text() {
        let text =
            "<?xml version=\"1.0\"?><!-- <not a tag> --><a k=\"1 2\" j = 'x>y'>\n 3 <b/></a >";
        assert_eq!(
            events(text).ok().expect("well-formed"),
            ["<a k=1 2 j=x>y>@41", "\"\\n 3 \"", "<b/>@66", "</a>@70",]
        );
        assert_eq!(
            events("<a>1.5").ok().expect("tokens"),
            ["<a>@0", "\"1.5\"$"]
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for text in [
            "<>",
            "< a>",
            "<a b>",
            "<a b=1>",
            "<a b=\"1\"c=\"2\">",
            "<a b=\"<\">",
            "</>",
            "</a b>",
            "<!DOCTYPE a>",
        ] {
            assert!(
                matches!(events(text), Err(ScanError::Malformed { offset: 0, .. })),
                "{text}"
            );
        }
        for text in [
            "<", "<a", "<a b", "<a b=", "<a b=\"1", "<a/", "</a", "<?xml", "<!-- a -",
        ] {
            assert!(
                matches!(events(text), Err(ScanError::UnexpectedEnd)),
                "{text}"
            );
        }
    }

    #[test]
    fn lines_and_offsets() {
        let text = "a\nbc\n\nd";
        assert_eq!(
            [0, 1, 2, 4, 6, 7].map(|o| line_of(text, o)),
            [1, 1, 2, 2, 4, 4]
        );
        assert_eq!(offset_of(text, &text[5..]), 5);
    }
}
