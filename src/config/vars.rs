//! Stage variables in route definitions: the `${stageVariables.NAME}`
//! references of integration URIs, mock header values and mock bodies, and
//! their substitution with one stage's (or canary's) values.
//!
//! Guarantees: a reference is exactly `${stageVariables.NAME}` with `NAME`
//! of `[A-Za-z0-9_]+`; any other `${` text is left as it is. Substitution is
//! one pass (a value that contains a reference is not expanded again).
//! Does not: decide where substitution applies (see `routes`) or check what
//! the substituted text means.

use std::borrow::Cow;

const OPEN: &str = "${stageVariables.";

/// A stage variable name: `[A-Za-z0-9_]+`.
pub(crate) fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// One piece of a text with references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece<'a> {
    Literal(&'a str),
    Var(&'a str),
}

/// Split `text` into literals and references; a malformed reference is an
/// error sentence.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(OPEN) {
        if i > 0 {
            out.push(Piece::Literal(&rest[..i]));
        }
        let after = &rest[i + OPEN.len()..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "`{OPEN}` has no closing `}}`; write `{OPEN}NAME}}`"
            ));
        };
        let name = &after[..end];
        if !is_var_name(name) {
            return Err(format!(
                "`{OPEN}{name}}}`: a stage variable name is made of letters, digits and `_`"
            ));
        }
        out.push(Piece::Var(name));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    Ok(out)
}

/// The names `text` references (well-formed references only), appended to `names`.
pub(crate) fn collect_names(text: &str, names: &mut Vec<String>) {
    if !text.contains(OPEN) {
        return;
    }
    for p in pieces(text).unwrap_or_default() {
        if let Piece::Var(n) = p
            && !names.iter().any(|o| o == n)
        {
            names.push(n.to_owned());
        }
    }
}

/// The stage variables a deployment's routes are resolved with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Vars<'a> {
    /// Sorted by name; `None` while checking a deployment that no stage runs
    /// (references are then only checked for form).
    pub(crate) values: Option<&'a [(String, String)]>,
    /// Whose variables they are, for messages: "stage `beta`", "the canary of stage `beta`".
    pub(crate) owner: &'a str,
}

impl Vars<'_> {
    /// `text` with its references replaced by their values. `Ok(None)` when
    /// there are references but no values to put in (see [`Vars::values`]);
    /// `Err` for a malformed reference or an unknown name.
    pub(crate) fn apply<'t>(&self, text: &'t str) -> Result<Option<Cow<'t, str>>, String> {
        if !text.contains(OPEN) {
            return Ok(Some(Cow::Borrowed(text)));
        }
        let pieces = pieces(text)?;
        let Some(values) = self.values else {
            return Ok(None);
        };
        let mut out = String::with_capacity(text.len());
        for p in pieces {
            match p {
                Piece::Literal(l) => out.push_str(l),
                Piece::Var(name) => match values.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                    Ok(i) => out.push_str(&values[i].1),
                    Err(_) => {
                        let known: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
                        return Err(format!(
                            "unknown stage variable `{name}` in {}, which has {}",
                            self.owner,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ));
                    }
                },
            }
        }
        Ok(Some(Cow::Owned(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = list
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn substitutes_every_reference_once() {
        let values = vars(&[
            ("host", "127.0.0.1:9001"),
            ("v", "v2"),
            ("loop", "${stageVariables.v}"),
        ]);
        let vs = Vars {
            values: Some(&values),
            owner: "stage `beta`",
        };
        let got = vs
            .apply("http://${stageVariables.host}/${stageVariables.v}/x?v=${stageVariables.v}")
            .unwrap()
            .unwrap();
        assert_eq!(got, "http://127.0.0.1:9001/v2/x?v=v2");
        // One pass: a value that looks like a reference stays as it is.
        assert_eq!(
            vs.apply("${stageVariables.loop}").unwrap().unwrap(),
            "${stageVariables.v}"
        );
        // Other `${...}` text is not a reference.
        assert!(matches!(
            vs.apply("{\"a\": \"${x}\"}").unwrap().unwrap(),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn unknown_and_malformed_references_are_sentences() {
        let values = vars(&[("a", "1"), ("b", "2")]);
        let vs = Vars {
            values: Some(&values),
            owner: "stage `prod`",
        };
        let e = vs.apply("x${stageVariables.c}").unwrap_err();
        assert_eq!(
            e,
            "unknown stage variable `c` in stage `prod`, which has a, b"
        );
        let none = Vars {
            values: Some(&[]),
            owner: "stage `prod`",
        };
        assert!(
            none.apply("${stageVariables.c}")
                .unwrap_err()
                .ends_with("which has none")
        );
        assert!(
            vs.apply("${stageVariables.a")
                .unwrap_err()
                .contains("no closing")
        );
        assert!(
            vs.apply("${stageVariables.a-b}")
                .unwrap_err()
                .contains("letters, digits and `_`")
        );
        assert!(vs.apply("${stageVariables.}").is_err());
    }

    #[test]
    fn without_values_only_the_form_is_checked() {
        let vs = Vars {
            values: None,
            owner: "",
        };
        assert_eq!(vs.apply("${stageVariables.x}").unwrap(), None);
        assert_eq!(vs.apply("plain").unwrap().unwrap(), "plain");
        assert!(vs.apply("${stageVariables.x y}").is_err());
    }

    #[test]
    fn collects_names_in_order_without_repeats() {
        let mut names = Vec::new();
        collect_names(
            "${stageVariables.b}/${stageVariables.a}/${stageVariables.b}",
            &mut names,
        );
        collect_names("${stageVariables.bad-name}", &mut names);
        collect_names("none", &mut names);
        assert_eq!(names, ["b", "a"]);
    }
}
