//! Command templates: argv items and env values with placeholders, turned
//! into argv without a shell.

/// A placeholder of a command template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Var {
    Entry,
    EntryStem,
    EntryNoext,
    EntryDir,
    Class,
    Out,
    StateFile,
    MemoryMb,
    WallTimeMs,
    Mode,
    Cpus,
    Sources,
    HeaderDirs,
    Args,
}

impl Var {
    pub(crate) const ALL: [Var; 14] = [
        Var::Entry,
        Var::EntryStem,
        Var::EntryNoext,
        Var::EntryDir,
        Var::Class,
        Var::Out,
        Var::StateFile,
        Var::MemoryMb,
        Var::WallTimeMs,
        Var::Mode,
        Var::Cpus,
        Var::Sources,
        Var::HeaderDirs,
        Var::Args,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Var::Entry => "entry",
            Var::EntryStem => "entry_stem",
            Var::EntryNoext => "entry_noext",
            Var::EntryDir => "entry_dir",
            Var::Class => "class",
            Var::Out => "out",
            Var::StateFile => "state_file",
            Var::MemoryMb => "memory_mb",
            Var::WallTimeMs => "wall_time_ms",
            Var::Mode => "mode",
            Var::Cpus => "cpus",
            Var::Sources => "sources",
            Var::HeaderDirs => "header_dirs",
            Var::Args => "args",
        }
    }

    fn parse(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Expands to any number of argv items.
    pub(crate) fn is_list(self) -> bool {
        matches!(self, Var::Sources | Var::HeaderDirs | Var::Args)
    }

    /// Needs a chosen entry file.
    pub(crate) fn needs_entry(self) -> bool {
        matches!(self, Var::Entry | Var::EntryStem | Var::EntryNoext | Var::EntryDir | Var::Class)
    }

    /// Its values are paths taken from the project (untrusted names).
    fn is_project_path(self) -> bool {
        matches!(self, Var::Entry | Var::EntryNoext | Var::EntryDir | Var::Sources | Var::HeaderDirs | Var::StateFile)
    }
}

/// One parsed argv item or env value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
}

impl Item {
    /// Parses `text`; `{{` and `}}` are literal braces.
    pub(crate) fn parse(text: &str) -> Result<Item, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed `{{` in {text:?}")),
                        }
                    }
                    let var = Var::parse(&name).ok_or_else(|| {
                        let known: Vec<String> = Var::ALL.iter().map(|v| format!("{{{}}}", v.name())).collect();
                        format!("unknown placeholder {{{name}}} in {text:?}; known: {}", known.join(", "))
                    })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err(format!("stray `}}` in {text:?} (write `}}}}` for a literal brace)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let item = Item { pieces };
        let vars: Vec<Var> = item.vars().collect();
        if vars.iter().any(|v| v.is_list()) && vars.len() > 1 {
            return Err(format!("{text:?}: a list placeholder must be the only placeholder of its item"));
        }
        Ok(item)
    }

    /// The placeholders used.
    pub(crate) fn vars(&self) -> impl Iterator<Item = Var> + '_ {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(*v),
            Piece::Text(_) => None,
        })
    }

    /// Expands to zero or more argv items: one per element when the item
    /// holds a list placeholder (its only placeholder), else exactly one.
    pub(crate) fn expand(&self, values: &Values, out: &mut Vec<String>) {
        match self.vars().find(|v| v.is_list()) {
            Some(list) => out.extend(values.list(list).iter().map(|element| self.render(|_| element.clone()))),
            None => out.push(self.render(|var| values.scalar(var))),
        }
    }

    /// Expands an item without list placeholders (env values).
    pub(crate) fn expand_scalar(&self, values: &Values) -> String {
        self.render(|var| values.scalar(var))
    }

    fn render(&self, value: impl Fn(Var) -> String) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Var(var) if var.is_project_path() => text.push_str(&safe_path_arg(&value(*var))),
                Piece::Var(var) => text.push_str(&value(*var)),
            }
        }
        text
    }
}

/// A workspace-relative path as one argv item that no tool reads as an
/// option (`-x`) or a response file (`@x`).
pub(crate) fn safe_path_arg(path: &str) -> String {
    if path.starts_with('-') || path.starts_with('@') {
        format!("./{path}")
    } else {
        path.to_string()
    }
}

/// Values of the placeholders for one plan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Values {
    pub(crate) entry: String,
    pub(crate) entry_stem: String,
    pub(crate) entry_noext: String,
    pub(crate) entry_dir: String,
    pub(crate) class: String,
    pub(crate) out: String,
    pub(crate) state_file: String,
    pub(crate) memory_mb: u64,
    pub(crate) wall_time_ms: u64,
    pub(crate) mode: &'static str,
    pub(crate) cpus: u32,
    pub(crate) sources: Vec<String>,
    pub(crate) header_dirs: Vec<String>,
    pub(crate) args: Vec<String>,
}

impl Values {
    fn scalar(&self, var: Var) -> String {
        match var {
            Var::Entry => self.entry.clone(),
            Var::EntryStem => self.entry_stem.clone(),
            Var::EntryNoext => self.entry_noext.clone(),
            Var::EntryDir => self.entry_dir.clone(),
            Var::Class => self.class.clone(),
            Var::Out => self.out.clone(),
            Var::StateFile => self.state_file.clone(),
            Var::MemoryMb => self.memory_mb.to_string(),
            Var::WallTimeMs => self.wall_time_ms.to_string(),
            Var::Mode => self.mode.to_string(),
            Var::Cpus => self.cpus.to_string(),
            Var::Sources | Var::HeaderDirs | Var::Args => String::new(),
        }
    }

    fn list(&self, var: Var) -> &[String] {
        match var {
            Var::Sources => &self.sources,
            Var::HeaderDirs => &self.header_dirs,
            Var::Args => &self.args,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str, values: &Values) -> Vec<String> {
        let mut out = Vec::new();
        Item::parse(text).unwrap().expand(values, &mut out);
        out
    }

    #[test]
    fn scalars_substitute_inside_items() {
        let values = Values { out: "/tmp/build".into(), entry_noext: "src/app".into(), ..Values::default() };
        assert_eq!(expand("{out}/{entry_noext}.js", &values), ["/tmp/build/src/app.js"]);
        assert_eq!(
            expand("-J-XX:MaxRAM={memory_mb}m", &Values { memory_mb: 128, ..Values::default() }),
            ["-J-XX:MaxRAM=128m"]
        );
        assert_eq!(expand("literal", &values), ["literal"]);
    }

    #[test]
    fn lists_become_one_item_per_element_with_prefix() {
        let values = Values { header_dirs: vec![".".into(), "include".into()], ..Values::default() };
        assert_eq!(expand("-iquote{header_dirs}", &values), ["-iquote.", "-iquoteinclude"]);
        assert!(expand("-iquote{header_dirs}", &Values::default()).is_empty(), "an empty list removes the item");
        let values = Values { args: vec!["a b".into(), "-x".into(), "".into()], ..Values::default() };
        assert_eq!(expand("{args}", &values), ["a b", "-x", ""], "arguments are passed as they are");
    }

    #[test]
    fn project_paths_never_look_like_options_or_response_files() {
        let values = Values { sources: vec!["-o.c".into(), "@list.c".into(), "a;b.c".into()], ..Values::default() };
        assert_eq!(expand("{sources}", &values), ["./-o.c", "./@list.c", "a;b.c"]);
        assert_eq!(safe_path_arg("main.c"), "main.c");
    }

    #[test]
    fn bad_templates_are_rejected() {
        assert!(Item::parse("{nope}").unwrap_err().contains("unknown placeholder {nope}"));
        assert!(Item::parse("{entry").is_err());
        assert!(Item::parse("a}b").is_err());
        assert!(Item::parse("{sources}{out}").unwrap_err().contains("only placeholder"));
        assert_eq!(expand("${{1}}", &Values::default()), ["${1}"]);
    }
}
