//! How a field path is written and read: keys between dots, and in brackets an index, `*` or a
//! key in double quotes (`["a.b"]`, as jq writes a key with a dot); JSONPath's `$` and jq's
//! leading `.` refused with the path to write. A path is its steps and the text it was read
//! from.

use std::str::FromStr;

use thiserror::Error;

/// One step of a path: a key, an index, or every element of an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
    /// Every element of an array; the result is a list.
    Each,
}

/// One parsed path into a JSON document (what it reaches: the parent module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub(super) steps: Vec<Step>,
    /// The path as written, for names and messages.
    pub(super) source: String,
}

/// Why a field path was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PathError {
    #[error("empty field path")]
    Empty,
    #[error("`{0}`: empty key (check for `..`, a leading or trailing `.`)")]
    EmptyKey(String),
    #[error("`{0}`: unclosed `[`")]
    Unclosed(String),
    #[error(
        "`{path}`: `[{inner}]` is not an index: use a number, `*`, or a key in double quotes \
         (`[\"a.b\"]` for a key with a dot)"
    )]
    BadIndex { path: String, inner: String },
    #[error("`{path}`: `[{inner}]` is not a key in double quotes (a JSON string)")]
    BadKey { path: String, inner: String },
    #[error("`{0}`: expected `.` or `[` after `]`")]
    AfterBracket(String),
    /// JSONPath's `$` or jq's leading `.`: the document itself is where every path starts.
    #[error("`{path}`: a path starts at the document, so its {root} is implied: {hint}")]
    Root {
        path: String,
        root: &'static str,
        hint: String,
    },
}

impl FromStr for FieldPath {
    type Err = PathError;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        if path.is_empty() {
            return Err(PathError::Empty);
        }
        // `$.a` would read a key named `$` (and match nothing); `.a` an empty first key. A key
        // that starts with `$` (`$oid`) stays a key, and `["$"]` reaches one named `$`.
        let root = match path.as_bytes() {
            [b'$', b'.' | b'[', ..] | [b'$'] => Some(("JSONPath `$`", &path[1..])),
            [b'.'] | [b'.', b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'[', ..] => {
                Some(("jq-style leading `.`", &path[1..]))
            }
            _ => None,
        };
        if let Some((root, rest)) = root {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            let hint = match rest {
                "" => "write `[*]` for a list of items, or name a key".to_owned(),
                rest => format!("write `{rest}`"),
            };
            return Err(PathError::Root {
                path: path.to_owned(),
                root,
                hint,
            });
        }
        Ok(Self {
            steps: parse_steps(path)?,
            source: path.to_owned(),
        })
    }
}

/// Parses `key.key[0][*]["a.b"]`: keys between dots, and in brackets an index, `*` or a key in
/// double quotes (a JSON string, as jq writes `.["a.b"]`), which may hold dots and brackets.
fn parse_steps(path: &str) -> Result<Vec<Step>, PathError> {
    let empty_key = || PathError::EmptyKey(path.to_owned());
    let mut steps = Vec::new();
    let mut rest = path;
    // A key is due at the start and after each `.`; a bracket may stand in for the first.
    let mut key_due = true;
    while !rest.is_empty() || key_due {
        if key_due && !rest.starts_with('[') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() || key.contains(']') {
                return Err(empty_key());
            }
            steps.push(Step::Key(key.to_owned()));
            rest = &rest[end..];
        } else if let Some(inner) = rest.strip_prefix('[') {
            let (step, tail) = bracket(path, inner)?;
            steps.push(step);
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix('.') {
            rest = tail;
            key_due = true;
            continue;
        } else {
            return Err(PathError::AfterBracket(path.to_owned()));
        }
        key_due = false;
    }
    Ok(steps)
}

/// The step in a bracket whose `[` is just before `inner`, and what follows its `]`.
fn bracket<'a>(path: &str, inner: &'a str) -> Result<(Step, &'a str), PathError> {
    let unclosed = || PathError::Unclosed(path.to_owned());
    if let Some(quoted) = inner.strip_prefix('"') {
        // The closing quote is the first one no backslash escapes.
        let mut escaped = false;
        let close = quoted
            .char_indices()
            .find_map(|(i, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end.then_some(i + 1)
            })
            .ok_or_else(unclosed)?;
        let key: String =
            serde_json::from_str(&inner[..=close]).map_err(|_| PathError::BadKey {
                path: path.to_owned(),
                inner: inner[..=close].to_owned(),
            })?;
        let tail = inner[close + 1..].strip_prefix(']').ok_or_else(unclosed)?;
        return Ok((Step::Key(key), tail));
    }
    let close = inner.find(']').ok_or_else(unclosed)?;
    let text = &inner[..close];
    let step = match text {
        "*" => Step::Each,
        _ => Step::Index(text.parse().map_err(|_| PathError::BadIndex {
            path: path.to_owned(),
            inner: text.to_owned(),
        })?),
    };
    Ok((step, &inner[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_paths() {
        let err = |p: &str| p.parse::<FieldPath>().unwrap_err();
        assert_eq!(err(""), PathError::Empty);
        assert_eq!(err("a["), PathError::Unclosed("a[".into()));
        assert_eq!(err("a..b"), PathError::EmptyKey("a..b".into()));
        assert_eq!(err("a."), PathError::EmptyKey("a.".into()));
        assert_eq!(err("a]"), PathError::EmptyKey("a]".into()));
        assert!(matches!(err("a[x]"), PathError::BadIndex { .. }));
        assert!(matches!(err("a[0]b"), PathError::AfterBracket(_)));
        // JSONPath's `$` and jq's leading `.` are named, with the path to write instead.
        for (p, write) in [
            ("$.a.b", "write `a.b`"),
            ("$[*].n", "write `[*].n`"),
            (".a", "write `a`"),
            (".[0]", "write `[0]`"),
        ] {
            let message = err(p).to_string();
            assert!(message.contains(write), "{p}: {message}");
        }
        for root in ["$", "."] {
            assert!(
                err(root).to_string().contains("`[*]` for a list of items"),
                "{root}"
            );
        }
        assert!(
            "$oid".parse::<FieldPath>().is_ok(),
            "a key may start with `$`"
        );
        assert!(r#"["$"]"#.parse::<FieldPath>().is_ok());
        assert_eq!(err(r#"["k.d"#), PathError::Unclosed(r#"["k.d"#.into()));
        assert_eq!(err(r#"["k.d""#), PathError::Unclosed(r#"["k.d""#.into()));
        assert!(matches!(err(r#"["\x"]"#), PathError::BadKey { .. }));
        assert!(matches!(err(r#"a["b"]c"#), PathError::AfterBracket(_)));
        // A key in single quotes is not one: the message says how to write it.
        let message = err("['k.d']").to_string();
        assert!(
            message.contains(r#"`["a.b"]` for a key with a dot"#),
            "{message}"
        );
    }
}
