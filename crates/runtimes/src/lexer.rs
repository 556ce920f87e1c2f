//! A small lexer for C-family source text (Java, C, C++, Go, Rust, JS):
//! enough to read a Java `package` declaration and to find a token sequence
//! such as `void main (`, ignoring comments, strings and spacing. It is a
//! heuristic for choosing files, never a parser; an explicit entry always
//! wins.

/// Splits source text into identifier/number words and single punctuation
/// characters, dropping whitespace, comments and string/char literals.
pub(crate) fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(body) = rest.strip_prefix("/*") {
            i += body.find("*/").map_or(rest.len(), |end| end + 4);
        } else if let Some(body) = rest.strip_prefix("\"\"\"") {
            // A Java text block.
            i += body.find("\"\"\"").map_or(rest.len(), |end| end + 6);
        } else if c == '"' || c == '`' {
            i += skip_quoted(rest, c);
        } else if c == '\'' {
            // A char literal if it closes soon ('x', '\n', '\u0041'),
            // otherwise a lone quote (a Rust lifetime): punctuation.
            match char_literal_len(rest) {
                Some(len) => i += len,
                None => {
                    out.push(&rest[..1]);
                    i += 1;
                }
            }
        } else if is_word_char(c) {
            let len = rest.find(|ch: char| !is_word_char(ch)).unwrap_or(rest.len());
            out.push(&rest[..len]);
            i += len;
        } else {
            out.push(&rest[..c.len_utf8()]);
            i += c.len_utf8();
        }
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Length in bytes of a quoted literal that starts `rest` with `quote`,
/// escapes honoured; an unclosed one runs to the end of the line (of the
/// text, for template literals).
fn skip_quoted(rest: &str, quote: char) -> usize {
    let mut chars = rest.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '\n' if quote != '`' => return at,
            c if c == quote => return at + 1,
            _ => {}
        }
    }
    rest.len()
}

/// Length in bytes of a char literal at the start of `rest` ('x', '\n',
/// '\u0041'), or `None` when the quote does not open one.
fn char_literal_len(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    let (_, first) = chars.next()?;
    if first == '\\' {
        // An escape: the escaped character, then up to 7 more ('\u0041').
        chars.next()?;
        chars.take(8).find(|(_, c)| *c == '\'').map(|(at, _)| at + 1)
    } else {
        chars.next().filter(|(_, c)| *c == '\'').map(|(at, _)| at + 1)
    }
}

/// Whether `needle` (lexed the same way) occurs as consecutive tokens.
pub(crate) fn contains_sequence(haystack: &[&str], needle: &[&str]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The Java package declared by a compilation unit: `package a.b;` before
/// any other declaration (annotations may precede it). `Ok(None)` when
/// there is none; `Err` when the declaration is malformed.
pub(crate) fn java_package(tokens: &[&str]) -> Result<Option<String>, String> {
    let mut i = 0;
    // Annotations such as `@Deprecated` or `@A(x = "y")` before `package`.
    while tokens.get(i) == Some(&"@") && tokens.get(i + 1).is_some_and(|t| is_java_identifier(t)) {
        i += 2;
        while tokens.get(i) == Some(&".") && tokens.get(i + 1).is_some_and(|t| is_java_identifier(t)) {
            i += 2;
        }
        if tokens.get(i) == Some(&"(") {
            let mut depth = 0;
            while let Some(t) = tokens.get(i) {
                i += 1;
                match *t {
                    "(" => depth += 1,
                    ")" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if tokens.get(i) != Some(&"package") {
        return Ok(None);
    }
    i += 1;
    let mut parts = Vec::new();
    loop {
        match tokens.get(i) {
            Some(t) if is_java_identifier(t) => parts.push(*t),
            other => return Err(format!("expected a package name part, found {:?}", other.unwrap_or(&"the end"))),
        }
        i += 1;
        match tokens.get(i) {
            Some(&".") => i += 1,
            Some(&";") => return Ok(Some(parts.join("."))),
            other => return Err(format!("expected `.` or `;`, found {:?}", other.unwrap_or(&"the end"))),
        }
    }
}

/// Whether the unit declares a top-level-looking type named `name`.
pub(crate) fn java_declares_type(tokens: &[&str], name: &str) -> bool {
    tokens.windows(2).any(|w| matches!(w[0], "class" | "interface" | "enum" | "record") && w[1] == name)
}

/// A Java identifier (letters, digits, `_`, `$`; not starting with a digit;
/// not a keyword). Class and package names are built from these only, so
/// they are safe as argv items.
pub(crate) fn is_java_identifier(word: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "abstract",
        "assert",
        "boolean",
        "break",
        "byte",
        "case",
        "catch",
        "char",
        "class",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extends",
        "final",
        "finally",
        "float",
        "for",
        "goto",
        "if",
        "implements",
        "import",
        "instanceof",
        "int",
        "interface",
        "long",
        "native",
        "new",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "short",
        "static",
        "strictfp",
        "super",
        "switch",
        "synchronized",
        "this",
        "throw",
        "throws",
        "transient",
        "try",
        "void",
        "volatile",
        "while",
        "true",
        "false",
        "null",
        "_",
    ];
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_' || first == '$') && chars.all(is_word_char) && !KEYWORDS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(text: &str) -> Result<Option<String>, String> {
        java_package(&tokens(text))
    }

    #[test]
    fn packages_are_read_past_comments_and_annotations() {
        assert_eq!(package("package a;\nclass Main {}").unwrap().as_deref(), Some("a"));
        assert_eq!(
            package("// header\n/* block\n package fake.one; */\n  package  com . example.app ;\nimport x.Y;")
                .unwrap()
                .as_deref(),
            Some("com.example.app")
        );
        assert_eq!(
            package("/** doc */ @Deprecated @SuppressWarnings(value = {\"a\"}) package p.q;").unwrap().as_deref(),
            Some("p.q")
        );
        assert_eq!(package("package\n\tdeep.nested.pkg.v2;").unwrap().as_deref(), Some("deep.nested.pkg.v2"));
    }

    #[test]
    fn no_package_means_the_default_package() {
        assert_eq!(package("public class Main { }").unwrap(), None);
        assert_eq!(package("// package commented.out;\nimport java.util.*;\nclass Main {}").unwrap(), None);
        assert_eq!(package("/* package a; */ class Main { String s = \"package b;\"; }").unwrap(), None);
        assert_eq!(package("").unwrap(), None);
    }

    #[test]
    fn malformed_packages_are_errors() {
        assert!(package("package ;").is_err());
        assert!(package("package a.b").is_err());
        assert!(package("package a..b;").is_err());
        assert!(package("package class.x;").is_err(), "keywords are not names");
        assert!(package("package a;b;").is_ok());
    }

    #[test]
    fn sequences_ignore_spacing_comments_and_strings() {
        let marker = tokens("void main (");
        let has = |text: &str| contains_sequence(&tokens(text), &marker);
        assert!(has("public static void main(String[] args) {}"));
        assert!(has("static void\n  main /* x */ (String... a)"));
        assert!(!has("// void main(\nclass A {}"));
        assert!(!has("String s = \"void main(\";"));
        assert!(!has("String s = \"\"\"\n void main(\n\"\"\";"));
        assert!(!has("void domain(int x)"));
        assert!(has("char c = '\"'; void main() {}"), "a quote char literal does not open a string");
        assert!(has("char q = '\\''; String s = \"x\"; void main() {}"), "an escaped quote closes its literal");
        assert!(has("char u = '\\u0041'; void main() {}"));
        assert_eq!(char_literal_len("'\\'' rest"), Some(4));
        assert_eq!(char_literal_len("'\\u0041' rest"), Some(8));
        assert_eq!(char_literal_len("'é' rest"), Some(4), "lengths are in bytes");
        assert_eq!(char_literal_len("'a> rest"), None);
        let rust = tokens("fn longest<'a>(x: &'a str) -> &'a str { x }\nfn main() {}");
        assert!(contains_sequence(&rust, &tokens("fn main (")), "lifetimes are not char literals: {rust:?}");
    }

    #[test]
    fn type_declarations_and_identifiers() {
        let t = tokens("package a;\n/* class Other */ public final class Main { }");
        assert!(java_declares_type(&t, "Main"));
        assert!(!java_declares_type(&t, "Other"));
        assert!(java_declares_type(&tokens("record Main(int x) {}"), "Main"));
        assert!(is_java_identifier("Main"));
        assert!(is_java_identifier("$x_1"));
        assert!(is_java_identifier("Größe"));
        assert!(!is_java_identifier("1abc"));
        assert!(!is_java_identifier("my file"));
        assert!(!is_java_identifier("a-b"));
        assert!(!is_java_identifier("class"));
        assert!(!is_java_identifier(""));
    }
}
