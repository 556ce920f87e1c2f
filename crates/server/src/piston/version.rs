//! Runtime versions as Piston sees them: every detected version becomes a
//! semantic version, and a request's version selector (npm's range syntax,
//! which Piston uses) picks a runtime.

use semver::{Version, VersionReq};
use serde::Serialize;

use crate::planner::RuntimeInfo;

/// An available runtime, in Piston's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PistonRuntime {
    /// Our language id (Piston's `language`).
    pub language: String,
    /// The detected version as `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// Other names the language answers to.
    pub aliases: Vec<String>,
    /// The tool that runs it (`node`, `gcc`), when the version names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

impl PistonRuntime {
    /// The Piston view of a runtime; `None` when it is unavailable or its
    /// version has no number in it.
    pub fn from_info(info: &RuntimeInfo) -> Option<PistonRuntime> {
        if !info.available {
            return None;
        }
        let detected = info.version.as_deref()?;
        let (label, version) = split_version(detected)?;
        Some(PistonRuntime {
            language: info.id.clone(),
            version: version.to_string(),
            aliases: info.aliases.clone(),
            runtime: label,
        })
    }

    fn answers_to(&self, name: &str) -> bool {
        self.language.eq_ignore_ascii_case(name) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Every available runtime, in catalog order.
pub fn piston_runtimes(infos: &[RuntimeInfo]) -> Vec<PistonRuntime> {
    infos.iter().filter_map(PistonRuntime::from_info).collect()
}

/// The runtime named `language` (id or alias) whose version satisfies
/// `selector`; `None` when there is none (Piston: "runtime is unknown").
pub fn select(runtimes: &[PistonRuntime], language: &str, selector: &str) -> Option<PistonRuntime> {
    let requirement = npm_range(selector)?;
    runtimes
        .iter()
        .filter(|rt| rt.answers_to(language))
        .filter_map(|rt| Version::parse(&rt.version).ok().map(|v| (v, rt)))
        .filter(|(v, _)| requirement.iter().any(|req| req.matches(v)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, rt)| rt.clone())
}

/// Splits a detected version (`gcc 12.2.0`, `3.11.2`, `node 18.19`) into
/// its label and a full semantic version (`12.2.0`, `3.11.2`, `18.19.0`).
fn split_version(detected: &str) -> Option<(Option<String>, Version)> {
    let start = detected.find(|c: char| c.is_ascii_digit())?;
    let number: String = detected[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect::<String>();
    let mut parts = number.split('.').filter(|p| !p.is_empty()).map(|p| p.parse::<u64>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    let label = detected[..start].trim().trim_end_matches(['v', 'V']).trim();
    let label = (!label.is_empty()).then(|| label.to_string());
    Some((label, Version::new(major, minor, patch)))
}

/// Translates an npm version range (what Piston clients send) into
/// alternatives for the `semver` crate, whose syntax is Cargo's: npm joins
/// comparators with spaces and alternatives with `||`, and a bare version
/// means that version exactly (`3.10` is any 3.10.x), where Cargo would
/// read a caret. `None` when the selector is not a valid range.
fn npm_range(selector: &str) -> Option<Vec<VersionReq>> {
    selector.split("||").map(|alternative| npm_comparators(alternative.trim())).collect()
}

fn npm_comparators(range: &str) -> Option<VersionReq> {
    let tokens: Vec<&str> = range.split_whitespace().collect();
    if tokens.is_empty() {
        return Some(VersionReq::STAR);
    }
    let mut comparators = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // A hyphen range: `1.2 - 2.3` is `>=1.2, <=2.3`.
        if tokens.get(i + 1) == Some(&"-") {
            let high = tokens.get(i + 2)?;
            comparators.push(format!(">={}", strip_v(tokens[i])));
            comparators.push(format!("<={}", strip_v(high)));
            i += 3;
            continue;
        }
        let mut token = tokens[i].to_string();
        // npm allows a space after the operator (`>= 3.10`).
        if token.chars().all(|c| "<>=~^".contains(c)) {
            token.push_str(tokens.get(i + 1)?);
            i += 1;
        }
        comparators.push(npm_comparator(&token));
        i += 1;
    }
    VersionReq::parse(&comparators.join(", ")).ok()
}

fn npm_comparator(token: &str) -> String {
    let operator_end = token.find(|c: char| !"<>=~^".contains(c)).unwrap_or(token.len());
    let (operator, version) = token.split_at(operator_end);
    let version = strip_v(version);
    let wildcard = version.split('.').any(|part| matches!(part, "x" | "X" | "*"));
    match operator {
        // Cargo's `=` with a partial version is npm's bare partial version;
        // wildcards (`3.x`) read the same in both.
        "" if wildcard => version.to_string(),
        "" => format!("={version}"),
        _ => format!("{operator}{version}"),
    }
}

fn strip_v(version: &str) -> &str {
    version.strip_prefix(['v', 'V']).unwrap_or(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, aliases: &[&str], version: Option<&str>, available: bool) -> RuntimeInfo {
        RuntimeInfo {
            id: id.into(),
            name: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            extensions: vec![],
            named_only: false,
            sql_results: false,
            available,
            version: version.map(str::to_string),
            reason: None,
        }
    }

    #[test]
    fn detected_versions_become_semantic_versions_with_their_tool() {
        let cases = [
            ("3.11.2", None, "3.11.2"),
            ("gcc 12.2.0", Some("gcc"), "12.2.0"),
            ("node 18.19.0", Some("node"), "18.19.0"),
            ("node v18.19.0", Some("node"), "18.19.0"),
            ("17.0.15", None, "17.0.15"),
            ("21", None, "21.0.0"),
            ("3.40", None, "3.40.0"),
        ];
        for (detected, label, version) in cases {
            let (got_label, got_version) = split_version(detected).unwrap();
            assert_eq!((got_label.as_deref(), got_version.to_string().as_str()), (label, version), "{detected}");
        }
        assert!(split_version("unknown").is_none());
    }

    #[test]
    fn only_available_runtimes_with_a_version_are_listed() {
        let infos = [
            info("python", &["py"], Some("3.11.2"), true),
            info("ruby", &[], None, false),
            info("c", &["gcc"], Some("gcc 12.2.0"), true),
        ];
        let listed = piston_runtimes(&infos);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].runtime.as_deref(), Some("gcc"));
        let json = serde_json::to_value(&listed[0]).unwrap();
        assert_eq!(json, serde_json::json!({"language": "python", "version": "3.11.2", "aliases": ["py"]}));
    }

    #[test]
    fn npm_ranges_select_like_piston() {
        let runtimes = piston_runtimes(&[info("python", &["py", "python3"], Some("3.11.2"), true)]);
        let matching = [
            "*",
            "3.x",
            "3.X",
            "3",
            "3.11",
            "3.11.x",
            "3.11.2",
            "v3.11.2",
            ">=3.10",
            ">= 3.10",
            "^3.9",
            "~3.11.0",
            ">=3 <4",
            "2.x || 3.x",
            "3.0 - 3.12",
            "=3.11.2",
            "",
        ];
        for selector in matching {
            assert!(select(&runtimes, "python", selector).is_some(), "{selector:?} should match 3.11.2");
        }
        let not_matching = ["2.x", "3.10", "3.10.0", ">=3.12", "<3", "4", "3.12 - 4", "banana", ">="];
        for selector in not_matching {
            assert!(select(&runtimes, "python", selector).is_none(), "{selector:?} should not match 3.11.2");
        }
        assert!(select(&runtimes, "PY", "*").is_some(), "aliases, in any case");
        assert!(select(&runtimes, "cobol", "*").is_none());
    }
}
