//! Expressions: operators by precedence (`-and`/`-or`, comparisons, `+ -`, `* /`, commas,
//! unary), postfix member access and calls, primaries, and the literals (variables, strings,
//! hash tables, numbers).

use super::{is_dash, is_double_quote, is_single_quote, BinOp, Expr, ParseError, Parser, StrPart};
use std::rc::Rc;

impl Parser<'_> {
    pub(super) fn parse_expression(&mut self) -> Result<Expr, ParseError> {
        self.parse_logical()
    }

    /// Reads `-word` if it is one of `operators`, leaving the position unchanged otherwise.
    fn take_operator(&mut self, operators: &[(&str, BinOp)]) -> Option<BinOp> {
        let saved = self.pos;
        self.skip_spaces();
        if self.peek().is_some_and(is_dash) {
            let word: String = self.src[self.pos + 1..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .collect();
            let lowered = word.to_ascii_lowercase();
            let lowered = lowered
                .strip_prefix('i')
                .filter(|w| w.len() >= 2 && *w != "s")
                .unwrap_or(&lowered);
            if let Some((_, op)) = operators.iter().find(|(name, _)| *name == lowered) {
                self.pos += 1 + word.chars().count();
                self.skip_spaces_and_newlines();
                return Some(*op);
            }
        }
        self.pos = saved;
        None
    }

    fn parse_logical(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.parse_comparison()?;
        while let Some(op) = self.take_operator(&[("and", BinOp::And), ("or", BinOp::Or)]) {
            let right = self.parse_comparison()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_comparison(&mut self) -> Result<Expr, ParseError> {
        const OPERATORS: [(&str, BinOp); 8] = [
            ("eq", BinOp::Eq),
            ("ne", BinOp::Ne),
            ("gt", BinOp::Gt),
            ("ge", BinOp::Ge),
            ("lt", BinOp::Lt),
            ("le", BinOp::Le),
            ("like", BinOp::Like),
            ("notlike", BinOp::NotLike),
        ];
        let mut left = self.parse_additive()?;
        while let Some(op) = self.take_operator(&OPERATORS) {
            let right = self.parse_additive()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_additive(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.parse_multiplicative()?;
        loop {
            let saved = self.pos;
            self.skip_spaces();
            let op = match self.peek() {
                Some('+') => BinOp::Add,
                Some(c) if is_dash(c) && !self.peek_at(1).is_some_and(|n| n.is_alphabetic()) => {
                    BinOp::Sub
                }
                _ => {
                    self.pos = saved;
                    return Ok(left);
                }
            };
            self.pos += 1;
            self.skip_spaces_and_newlines();
            let right = self.parse_multiplicative()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn parse_multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.parse_comma()?;
        loop {
            let saved = self.pos;
            self.skip_spaces();
            let op = match self.peek() {
                Some('*') => BinOp::Mul,
                Some('/') => BinOp::Div,
                _ => {
                    self.pos = saved;
                    return Ok(left);
                }
            };
            self.pos += 1;
            self.skip_spaces_and_newlines();
            let right = self.parse_comma()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn parse_comma(&mut self) -> Result<Expr, ParseError> {
        let first = self.parse_unary()?;
        let mut items = vec![first];
        loop {
            let saved = self.pos;
            self.skip_spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
                self.skip_spaces_and_newlines();
                items.push(self.parse_unary()?);
            } else {
                self.pos = saved;
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Array(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, ParseError> {
        self.skip_spaces();
        match self.peek() {
            Some('!') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.parse_unary()?)))
            }
            Some(c) if is_dash(c) => {
                let word: String = self.src[self.pos + 1..]
                    .iter()
                    .take_while(|c| c.is_alphabetic())
                    .collect();
                if word.eq_ignore_ascii_case("not") {
                    self.pos += 4;
                    self.skip_spaces();
                    return Ok(Expr::Not(Box::new(self.parse_unary()?)));
                }
                if word.is_empty() {
                    self.pos += 1;
                    return Ok(Expr::Negate(Box::new(self.parse_unary()?)));
                }
                self.error(format!(
                    "unexpected token '-{word}' in expression or statement"
                ))
            }
            _ => self.parse_postfix(),
        }
    }

    pub(super) fn parse_postfix(&mut self) -> Result<Expr, ParseError> {
        let mut expr = self.parse_primary()?;
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some('.'), Some(c)) if c.is_alphabetic() || c == '_' => {
                    self.pos += 1;
                    let member: String = self.src[self.pos..]
                        .iter()
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    self.pos += member.chars().count();
                    if self.peek() == Some('(') {
                        self.pos += 1;
                        let mut arguments = Vec::new();
                        self.skip_spaces_and_newlines();
                        if self.peek() == Some(')') {
                            self.pos += 1;
                        } else {
                            loop {
                                arguments.push(self.parse_additive()?);
                                self.skip_spaces_and_newlines();
                                match self.peek() {
                                    Some(',') => {
                                        self.pos += 1;
                                        self.skip_spaces_and_newlines();
                                    }
                                    Some(')') => {
                                        self.pos += 1;
                                        break;
                                    }
                                    _ => return self.error("missing ')' in method call"),
                                }
                            }
                        }
                        expr = Expr::Method(Box::new(expr), member, arguments);
                    } else {
                        expr = Expr::Member(Box::new(expr), member);
                    }
                }
                (Some('['), _) => {
                    self.pos += 1;
                    self.skip_spaces();
                    let index = self.parse_expression()?;
                    self.skip_spaces();
                    if self.peek() != Some(']') {
                        return self.error("missing ']'");
                    }
                    self.pos += 1;
                    expr = Expr::Index(Box::new(expr), Box::new(index));
                }
                _ => return Ok(expr),
            }
        }
    }

    fn parse_primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_spaces();
        let Some(c) = self.peek() else {
            return self.error("missing expression");
        };
        match c {
            '$' => {
                if self.peek_at(1) == Some('(') {
                    self.pos += 2;
                    return Ok(Expr::Subexpression(self.parse_statements(Some(')'))?));
                }
                self.pos += 1;
                Ok(Expr::Var(self.parse_variable_name()?))
            }
            '(' => {
                self.pos += 1;
                self.skip_spaces_and_newlines();
                let pipeline = self.parse_pipeline()?;
                self.skip_spaces_and_newlines();
                if self.peek() != Some(')') {
                    return self.error("missing closing ')' in expression");
                }
                self.pos += 1;
                Ok(Expr::Paren(Box::new(pipeline)))
            }
            '@' => match self.peek_at(1) {
                Some('(') => {
                    self.pos += 2;
                    Ok(Expr::ArraySub(self.parse_statements(Some(')'))?))
                }
                Some('{') => {
                    self.pos += 2;
                    self.parse_hash()
                }
                _ => self.error("unrecognized token '@'"),
            },
            '{' => {
                self.pos += 1;
                let start = self.pos;
                let block = self.parse_statements(Some('}'))?;
                let text: String = self.src[start..self.pos - 1].iter().collect();
                Ok(Expr::ScriptBlock(Rc::new(block), Rc::from(text.as_str())))
            }
            c if is_single_quote(c) => Ok(Expr::Str(self.parse_single_quoted()?)),
            c if is_double_quote(c) => self.parse_double_quoted(),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let token: String = self.src[self.pos..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '.')
                    .collect();
                match number_literal(&token) {
                    Some(number) => {
                        self.pos += token.chars().count();
                        Ok(number)
                    }
                    None => self.error(format!(
                        "unexpected token '{token}' in expression or statement"
                    )),
                }
            }
            other => self.error(format!(
                "unexpected token '{other}' in expression or statement"
            )),
        }
    }

    pub(super) fn parse_variable_name(&mut self) -> Result<String, ParseError> {
        if self.peek() == Some('{') {
            let name: String = self.src[self.pos + 1..]
                .iter()
                .take_while(|c| **c != '}')
                .collect();
            self.pos += name.chars().count() + 2;
            return Ok(name);
        }
        if matches!(self.peek(), Some('?' | '$' | '^')) {
            let name = self.peek().expect("checked").to_string();
            self.pos += 1;
            return Ok(name);
        }
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else if c == ':'
                && self
                    .peek_at(1)
                    .is_some_and(|n| n.is_alphanumeric() || n == '_')
                && !name.is_empty()
            {
                // Scope or drive qualified: $env:COMPUTERNAME, $script:x.
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        if name.is_empty() {
            return self.error("variable reference is not valid");
        }
        Ok(name)
    }

    fn parse_single_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return self.error("the string is missing the terminator: '");
                }
                Some(c) if is_single_quote(c) => {
                    if self.peek_at(1).is_some_and(is_single_quote) {
                        text.push(c);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        return Ok(text);
                    }
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn parse_double_quoted(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut parts = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return self.error("the string is missing the terminator: \"");
                }
                Some(c) if is_double_quote(c) => {
                    if self.peek_at(1).is_some_and(is_double_quote) {
                        text.push(c);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        break;
                    }
                }
                Some('`') => {
                    let escaped = self.peek_at(1).unwrap_or('`');
                    text.push(match escaped {
                        '0' => '\0',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'v' => '\u{b}',
                        other => other,
                    });
                    self.pos += 2;
                }
                Some('$') => match self.peek_at(1) {
                    Some('(') => {
                        if !text.is_empty() {
                            parts.push(StrPart::Text(std::mem::take(&mut text)));
                        }
                        self.pos += 2;
                        parts.push(StrPart::Sub(self.parse_statements(Some(')'))?));
                    }
                    Some(n) if n.is_alphanumeric() || n == '_' || n == '{' => {
                        if !text.is_empty() {
                            parts.push(StrPart::Text(std::mem::take(&mut text)));
                        }
                        self.pos += 1;
                        parts.push(StrPart::Var(self.parse_variable_name()?));
                    }
                    _ => {
                        text.push('$');
                        self.pos += 1;
                    }
                },
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if !text.is_empty() || parts.is_empty() {
            parts.push(StrPart::Text(text));
        }
        Ok(Expr::Expandable(parts))
    }

    fn parse_hash(&mut self) -> Result<Expr, ParseError> {
        let mut entries = Vec::new();
        loop {
            self.skip_separators();
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Expr::Hash(entries));
                }
                None => return self.error("missing closing '}' in hash literal"),
                Some(c) => {
                    let key = if is_single_quote(c) {
                        self.parse_single_quoted()?
                    } else {
                        let key: String = self.src[self.pos..]
                            .iter()
                            .take_while(|c| c.is_alphanumeric() || **c == '_')
                            .collect();
                        if key.is_empty() {
                            return self.error("missing key before '=' in hash literal");
                        }
                        self.pos += key.chars().count();
                        key
                    };
                    self.skip_spaces();
                    if self.peek() != Some('=') {
                        return self.error("missing '=' operator after key in hash literal");
                    }
                    self.pos += 1;
                    self.skip_spaces_and_newlines();
                    let value = self.parse_pipeline()?;
                    entries.push((key, value));
                }
            }
        }
    }
}

/// `2048`, `2048.0`, `2048MB`, `1.5gb`, `-3` → a number expression.
pub(super) fn number_literal(token: &str) -> Option<Expr> {
    let (negative, digits) = match token.chars().next() {
        Some(c) if is_dash(c) => (true, &token[c.len_utf8()..]),
        _ => (false, token),
    };
    let lower = digits.to_ascii_lowercase();
    let (number, multiplier) = [
        ("kb", 1i64 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("tb", 1 << 40),
        ("pb", 1 << 50),
    ]
    .iter()
    .find_map(|(suffix, factor)| lower.strip_suffix(suffix).map(|n| (n.to_string(), *factor)))
    .unwrap_or((lower.clone(), 1));
    if number.is_empty()
        || !number.chars().all(|c| c.is_ascii_digit() || c == '.')
        || number.matches('.').count() > 1
    {
        return None;
    }
    if !number
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    let sign = if negative { -1 } else { 1 };
    if number.contains('.') {
        let value: f64 = number.parse().ok()?;
        Some(Expr::Double(sign as f64 * value * multiplier as f64))
    } else {
        let value: i64 = number.parse().ok()?;
        Some(Expr::Int(sign * value.checked_mul(multiplier)?))
    }
}
