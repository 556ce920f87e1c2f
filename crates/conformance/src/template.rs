//! `{{name}}` placeholders in corpus sources and expectations.
//!
//! A placeholder is `{{` + one or more of `[a-z_]` + `}}`. Anything else
//! (such as C's `{{0}}`) is literal text. Unknown names are an error so a
//! typo never silently reaches a box.

use std::collections::BTreeMap;

/// Every placeholder the runner knows.
pub const PLACEHOLDERS: [&str; 4] = ["host_port", "host_secret", "host_secret_path", "host_abstract_socket"];

/// A placeholder that is not in [`PLACEHOLDERS`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown placeholder {{{{{0}}}}} (known: host_port, host_secret, host_secret_path, host_abstract_socket)")]
pub struct UnknownPlaceholder(pub String);

/// Values substituted for the placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateVars {
    values: BTreeMap<&'static str, String>,
}

impl TemplateVars {
    /// Values for every placeholder.
    pub fn new(
        host_port: u16,
        host_secret: impl Into<String>,
        host_secret_path: impl Into<String>,
        host_abstract_socket: impl Into<String>,
    ) -> Self {
        let mut values = BTreeMap::new();
        values.insert("host_port", host_port.to_string());
        values.insert("host_secret", host_secret.into());
        values.insert("host_secret_path", host_secret_path.into());
        values.insert("host_abstract_socket", host_abstract_socket.into());
        TemplateVars { values }
    }

    /// Stand-in values, for validating the corpus without a host context.
    pub fn example() -> Self {
        TemplateVars::new(
            40_404,
            "bbx-example-secret-0123456789abcdef",
            "/tmp/bytesbox-conformance-secret-example",
            "bytesbox-conformance-example",
        )
    }

    /// The value of one placeholder.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// One piece of a template: literal text or a placeholder name.
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let name_len = after.bytes().take_while(|b| b.is_ascii_lowercase() || *b == b'_').count();
        if name_len > 0 && after[name_len..].starts_with("}}") {
            out.push(Piece::Text(&rest[..start]));
            out.push(Piece::Placeholder(&after[..name_len]));
            rest = &after[name_len + 2..];
        } else {
            // Not a placeholder: keep one `{` and look again after it.
            out.push(Piece::Text(&rest[..=start]));
            rest = &rest[start + 1..];
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// The placeholder names used in `text`, in order of appearance.
pub fn placeholders(text: &str) -> Vec<&str> {
    pieces(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Substitutes every placeholder in `text`.
pub fn render(text: &str, vars: &TemplateVars) -> Result<String, UnknownPlaceholder> {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(name) => match vars.get(name) {
                Some(value) => out.push_str(value),
                None => return Err(UnknownPlaceholder(name.to_string())),
            },
        }
    }
    Ok(out)
}

/// Renders every string inside a TOML value (keys are left alone).
pub fn render_toml(value: &mut toml::Value, vars: &TemplateVars) -> Result<(), UnknownPlaceholder> {
    match value {
        toml::Value::String(s) => *s = render(s, vars)?,
        toml::Value::Array(items) => {
            for item in items {
                render_toml(item, vars)?;
            }
        }
        toml::Value::Table(table) => {
            for (_, item) in table.iter_mut() {
                render_toml(item, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_placeholders() {
        let vars = TemplateVars::new(1234, "s3cr3t", "/tmp/f", "abs");
        let text = "port={{host_port}} secret={{host_secret}} path={{host_secret_path}} {{host_abstract_socket}}";
        assert_eq!(render(text, &vars).unwrap(), "port=1234 secret=s3cr3t path=/tmp/f abs");
        assert_eq!(render("{{host_port}}{{host_port}}", &vars).unwrap(), "12341234");
    }

    #[test]
    fn leaves_non_placeholders_alone() {
        let vars = TemplateVars::example();
        for literal in ["int a[1][1] = {{0}};", "{{ host_port }}", "{{Host}}", "{{", "}}", "{{}}", "f'{x}'", ""] {
            assert_eq!(render(literal, &vars).unwrap(), literal);
            assert!(placeholders(literal).is_empty(), "{literal}");
        }
        assert_eq!(render("{{{host_port}}}", &vars).unwrap(), "{40404}");
    }

    #[test]
    fn unknown_placeholders_are_errors() {
        let err = render("a {{host_prot}} b", &TemplateVars::example()).unwrap_err();
        assert_eq!(err, UnknownPlaceholder("host_prot".into()));
        assert!(err.to_string().contains("{{host_prot}}"), "{err}");
        assert_eq!(placeholders("x {{host_port}} {{nope}}"), vec!["host_port", "nope"]);
    }

    #[test]
    fn renders_nested_toml_strings() {
        let mut value: toml::Value =
            toml::from_str("a = '{{host_port}}'\nb = ['{{host_secret}}', 3]\n[c]\nd = 'x{{host_port}}'").unwrap();
        render_toml(&mut value, &TemplateVars::new(9, "S", "/p", "n")).unwrap();
        assert_eq!(value["a"].as_str(), Some("9"));
        assert_eq!(value["b"][0].as_str(), Some("S"));
        assert_eq!(value["b"][1].as_integer(), Some(3));
        assert_eq!(value["c"]["d"].as_str(), Some("x9"));
    }
}
