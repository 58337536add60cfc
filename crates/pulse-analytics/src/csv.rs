//! Minimal CSV writing (RFC 4180): fields containing a comma, a quote, a carriage return or a line
//! feed are quoted, quotes doubled; a field starting with `=`, `+`, `-` or `@` is prefixed with a
//! single quote so spreadsheets do not evaluate it as a formula.

/// A row type that can be written as CSV.
pub trait CsvRow {
    /// Column names.
    fn header() -> &'static [&'static str];
    /// The fields, in header order.
    fn fields(&self) -> Vec<String>;
}

/// One CSV field.
pub fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A header line plus one line per row, CRLF-terminated.
pub fn render<T: CsvRow>(rows: &[T]) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| cells.join(",") + "\r\n";
    out.push_str(&line(T::header().iter().map(|h| field(h)).collect()));
    for r in rows {
        out.push_str(&line(r.fields().iter().map(|f| field(f)).collect()));
    }
    out
}

/// An optional value as a field (empty when absent).
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(&'static str, i32);
    impl CsvRow for R {
        fn header() -> &'static [&'static str] {
            &["name", "n"]
        }
        fn fields(&self) -> Vec<String> {
            vec![self.0.to_string(), self.1.to_string()]
        }
    }

    #[test]
    fn quotes_what_needs_quoting() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=1+1"), "'=1+1");
        let text = render(&[R("Revert \"x\", again", -1)]);
        assert_eq!(text, "name,n\r\n\"Revert \"\"x\"\", again\",'-1\r\n");
        assert_eq!(opt::<i32>(&None), "");
    }
}
