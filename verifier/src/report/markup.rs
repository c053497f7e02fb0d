//! Escaping of report text for the two markup renderers (HTML and JUnit
//! XML): the five special characters become entities, and characters the
//! dialect cannot carry are dropped rather than passed through.

/// Which markup the text goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// HTML content and double-quoted attributes: `'` as `&#39;`; control
    /// characters other than newline are dropped.
    Html,
    /// XML 1.0 content and attributes: `'` as `&apos;`; tab, newline and
    /// carriage return are kept, other C0 controls, U+FFFE and U+FFFF (which
    /// XML 1.0 cannot carry at all) are dropped.
    Xml,
}

impl Dialect {
    fn apos(self) -> &'static str {
        match self {
            Dialect::Html => "&#39;",
            Dialect::Xml => "&apos;",
        }
    }

    fn drops(self, c: char) -> bool {
        match self {
            Dialect::Html => c.is_control() && c != '\n',
            Dialect::Xml => {
                !matches!(c, '\t' | '\n' | '\r')
                    && ((c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}')
            }
        }
    }
}

/// `s` with `& < > " '` as entities and the characters `dialect` cannot
/// carry removed.
pub fn escape(s: &str, dialect: Dialect) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str(dialect.apos()),
            c if dialect.drops(c) => {}
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_differ_only_where_the_markup_does() {
        let s = "a&<>\"'\t\n\r\u{1}\u{7f}\u{fffe}z";
        assert_eq!(escape(s, Dialect::Html), "a&amp;&lt;&gt;&quot;&#39;\n\u{fffe}z");
        assert_eq!(escape(s, Dialect::Xml), "a&amp;&lt;&gt;&quot;&apos;\t\n\r\u{7f}z");
    }
}
