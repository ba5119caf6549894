//! Sigma conditions: `and`, `or`, `not`, parentheses, and `1 of x*`, `all of x*`, `1 of them`,
//! `all of them` over the detection's search identifiers.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// One search identifier.
    Search(String),
    /// Not.
    Not(Box<Condition>),
    /// All of.
    And(Vec<Condition>),
    /// Any of.
    Or(Vec<Condition>),
    /// `1 of PATTERN`: any search whose name matches (`them`: every search).
    AnyOf(String),
    /// `all of PATTERN`.
    AllOf(String),
}

/// Parses a condition; the error names what was expected.
pub fn parse(text: &str) -> Result<Condition, String> {
    let tokens = tokens(text);
    let mut parser = Parser { tokens, at: 0 };
    let condition = parser.or()?;
    match parser.peek() {
        None => Ok(condition),
        Some(token) => Err(format!("unexpected `{token}` in condition `{text}`")),
    }
}

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Condition::And(parts)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, String> {
        let Some(token) = self.next() else {
            return Err("the condition ends where a search was expected".into());
        };
        match token.to_ascii_lowercase().as_str() {
            "(" => {
                let inner = self.or()?;
                match self.next().as_deref() {
                    Some(")") => Ok(inner),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            ")" | "and" | "or" | "of" => Err(format!("`{token}` where a search was expected")),
            quantity @ ("1" | "any" | "all") => {
                if !self.keyword("of") {
                    return Err(format!("`{token}` must be followed by `of`"));
                }
                self.at += 1;
                let pattern = self
                    .next()
                    .ok_or_else(|| format!("`{token} of` needs a pattern or `them`"))?;
                let pattern = if pattern.eq_ignore_ascii_case("them") {
                    "*".to_string()
                } else {
                    pattern
                };
                Ok(if quantity == "all" {
                    Condition::AllOf(pattern)
                } else {
                    Condition::AnyOf(pattern)
                })
            }
            _ => Ok(Condition::Search(token)),
        }
    }
}

/// Whether a search identifier matches an `of` pattern (`*` wildcards).
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len())
                    .filter(|i| name.is_char_boundary(head.len() + i))
                    .any(|i| matches(tail, &name[head.len() + i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(name: &str) -> Condition {
        Condition::Search(name.into())
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Condition::Or(vec![
                s("a"),
                Condition::And(vec![s("b"), Condition::Not(Box::new(s("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Condition::And(vec![Condition::Or(vec![s("a"), s("b")]), s("c")])
        );
        assert_eq!(
            parse("selection and not 1 of filter*").unwrap(),
            Condition::And(vec![
                s("selection"),
                Condition::Not(Box::new(Condition::AnyOf("filter*".into())))
            ])
        );
        assert_eq!(parse("all of them").unwrap(), Condition::AllOf("*".into()));
        assert_eq!(parse("1 OF them").unwrap(), Condition::AnyOf("*".into()));
    }

    #[test]
    fn malformed_conditions_say_why() {
        assert!(parse("(a or b").unwrap_err().contains("not closed"));
        assert!(parse("a and").unwrap_err().contains("ends"));
        assert!(parse("a b").unwrap_err().contains("unexpected `b`"));
        assert!(parse("all them").unwrap_err().contains("followed by `of`"));
    }

    #[test]
    fn of_patterns_match_names() {
        assert!(matches("selection*", "selection_api"));
        assert!(matches("*", "anything"));
        assert!(matches("sel*_b", "sel_a_b"));
        assert!(!matches("filter*", "selection"));
    }
}
