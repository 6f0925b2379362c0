//! Parser for the PowerShell subset the simulator understands.
//!
//! Statements (`;` or newline separated): pipelines of commands or expressions, `$var = …`,
//! `if/elseif/else`, `throw`, `exit`. Commands take `-Param`, `-Param:value` and positional
//! arguments; expressions cover literals (single-quoted strings with doubled quotes, expandable
//! double-quoted strings with `$var` and `$(…)`, numbers with `KB`…`PB` suffixes), variables,
//! member access and method calls, `(…)`, `$(…)`, `@(…)`, `@{…}`, script blocks, comma
//! arrays, `+ - * /`, comparisons, `-not`/`!`, `-and`/`-or`. Quote characters include the
//! typographic variants PowerShell itself accepts.

use std::rc::Rc;

pub(crate) type Block = Vec<Stmt>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum StmtKind {
    Pipeline(Pipeline),
    Assign {
        name: String,
        value: Pipeline,
    },
    If {
        branches: Vec<(Pipeline, Block)>,
        otherwise: Option<Block>,
    },
    Throw(Option<Pipeline>),
    Exit(Option<Pipeline>),
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone)]
pub(crate) enum Element {
    Command(Command),
    Expr(Expr),
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub name: String,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `-Name` (value `None`) or `-Name:value`.
    Param {
        name: String,
        value: Option<Expr>,
    },
    Value(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    And,
    Or,
}

#[derive(Debug, Clone)]
pub(crate) enum StrPart {
    Text(String),
    Var(String),
    Sub(Block),
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Str(String),
    Expandable(Vec<StrPart>),
    Int(i64),
    Double(f64),
    Var(String),
    Bareword(String),
    Member(Box<Expr>, String),
    Method(Box<Expr>, String, Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Array(Vec<Expr>),
    Paren(Box<Pipeline>),
    Subexpression(Block),
    ArraySub(Block),
    Hash(Vec<(String, Pipeline)>),
    ScriptBlock(Rc<Block>, Rc<str>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Negate(Box<Expr>),
}

/// A syntax error at a character offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub message: String,
    pub offset: usize,
}

pub(crate) fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

pub(crate) fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2013}' | '\u{2014}' | '\u{2015}')
}

/// Characters that end a bareword or command name.
fn ends_generic_token(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, ';' | '|' | '(' | ')' | '{' | '}' | ',')
        || is_double_quote(c)
        || is_single_quote(c)
}

pub(crate) fn parse_script(source: &[char]) -> Result<Block, ParseError> {
    let mut parser = Parser {
        src: source,
        pos: 0,
    };
    let block = parser.parse_statements(None)?;
    Ok(block)
}

struct Parser<'s> {
    src: &'s [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.src.get(self.pos + ahead).copied()
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            message: message.into(),
            offset: self.pos,
        })
    }

    /// Skips spaces, tabs, comments and line continuations, but not newlines.
    fn skip_spaces(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\u{00A0}') => self.pos += 1,
                Some('`') if matches!(self.peek_at(1), Some('\n' | '\r')) => {
                    self.pos += 1;
                    while matches!(self.peek(), Some('\r' | '\n')) {
                        self.pos += 1;
                    }
                }
                Some('<') if self.peek_at(1) == Some('#') => {
                    self.pos += 2;
                    while self.pos < self.src.len()
                        && !(self.peek() == Some('#') && self.peek_at(1) == Some('>'))
                    {
                        self.pos += 1;
                    }
                    self.pos = (self.pos + 2).min(self.src.len());
                }
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn skip_spaces_and_newlines(&mut self) {
        loop {
            self.skip_spaces();
            match self.peek() {
                Some('\n' | '\r') => self.pos += 1,
                _ => return,
            }
        }
    }

    fn skip_separators(&mut self) {
        loop {
            self.skip_spaces_and_newlines();
            if self.peek() == Some(';') {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    /// Statements until `end` (consumed) or the end of input.
    fn parse_statements(&mut self, end: Option<char>) -> Result<Block, ParseError> {
        let mut block = Vec::new();
        loop {
            self.skip_separators();
            match (self.peek(), end) {
                (None, None) => return Ok(block),
                (None, Some(end)) => return self.error(format!("missing closing '{end}'")),
                (Some(c), Some(end)) if c == end => {
                    self.pos += 1;
                    return Ok(block);
                }
                (Some(c @ (')' | '}')), _) => {
                    return self.error(format!("unexpected token '{c}' in expression or statement"))
                }
                _ => {}
            }
            block.push(self.parse_statement()?);
            self.skip_spaces();
            match self.peek() {
                None | Some(';' | '\n' | '\r') => {}
                Some(c) if Some(c) == end => {}
                Some(c) => {
                    return self.error(format!("unexpected token '{c}' in expression or statement"))
                }
            }
        }
    }

    fn peek_word(&self) -> String {
        self.src[self.pos..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '-')
            .collect()
    }

    fn parse_statement(&mut self) -> Result<Stmt, ParseError> {
        let start = self.pos;
        let word = self.peek_word().to_ascii_lowercase();
        let next_after_word = self.src.get(self.pos + word.chars().count()).copied();
        let keyword_boundary =
            next_after_word.is_none_or(|c| c.is_whitespace() || matches!(c, '(' | '{' | ';'));
        let kind = match word.as_str() {
            "if" if keyword_boundary => self.parse_if()?,
            "throw" if keyword_boundary => {
                self.pos += 5;
                self.skip_spaces();
                StmtKind::Throw(self.parse_optional_pipeline()?)
            }
            "exit" if keyword_boundary => {
                self.pos += 4;
                self.skip_spaces();
                StmtKind::Exit(self.parse_optional_pipeline()?)
            }
            _ => {
                if self.peek() == Some('$') {
                    if let Some(kind) = self.try_parse_assignment()? {
                        return Ok(Stmt {
                            kind,
                            span: Span {
                                start,
                                end: self.pos,
                            },
                        });
                    }
                }
                StmtKind::Pipeline(self.parse_pipeline()?)
            }
        };
        Ok(Stmt {
            kind,
            span: Span {
                start,
                end: self.pos,
            },
        })
    }

    fn parse_optional_pipeline(&mut self) -> Result<Option<Pipeline>, ParseError> {
        match self.peek() {
            None | Some(';' | '\n' | '\r' | '}' | ')') => Ok(None),
            _ => Ok(Some(self.parse_pipeline()?)),
        }
    }

    fn try_parse_assignment(&mut self) -> Result<Option<StmtKind>, ParseError> {
        let saved = self.pos;
        self.pos += 1;
        let name = self.parse_variable_name()?;
        self.skip_spaces();
        if self.peek() == Some('=') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            self.skip_spaces_and_newlines();
            let value = self.parse_pipeline()?;
            return Ok(Some(StmtKind::Assign { name, value }));
        }
        self.pos = saved;
        Ok(None)
    }

    fn parse_if(&mut self) -> Result<StmtKind, ParseError> {
        let mut branches = Vec::new();
        let mut otherwise = None;
        self.pos += 2;
        loop {
            self.skip_spaces_and_newlines();
            if self.peek() != Some('(') {
                return self.error("missing '(' after 'if' in if statement");
            }
            self.pos += 1;
            self.skip_spaces_and_newlines();
            let condition = self.parse_pipeline()?;
            self.skip_spaces_and_newlines();
            if self.peek() != Some(')') {
                return self.error("missing closing ')' after expression in 'if' statement");
            }
            self.pos += 1;
            let body = self.parse_braced_block()?;
            branches.push((condition, body));
            // Look past newlines for elseif / else without consuming them otherwise.
            let saved = self.pos;
            self.skip_spaces_and_newlines();
            let word = self.peek_word().to_ascii_lowercase();
            if word == "elseif" {
                self.pos += 6;
                continue;
            }
            if word == "else" {
                self.pos += 4;
                otherwise = Some(self.parse_braced_block()?);
            } else {
                self.pos = saved;
            }
            return Ok(StmtKind::If {
                branches,
                otherwise,
            });
        }
    }

    fn parse_braced_block(&mut self) -> Result<Block, ParseError> {
        self.skip_spaces_and_newlines();
        if self.peek() != Some('{') {
            return self.error("missing statement block");
        }
        self.pos += 1;
        self.parse_statements(Some('}'))
    }

    fn parse_pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut elements = vec![self.parse_element()?];
        loop {
            self.skip_spaces();
            if self.peek() == Some('|') && self.peek_at(1) != Some('|') {
                self.pos += 1;
                self.skip_spaces_and_newlines();
                let element = self.parse_element()?;
                if matches!(element, Element::Expr(_)) {
                    return self
                        .error("expressions are only allowed as the first element of a pipeline");
                }
                elements.push(element);
            } else {
                return Ok(Pipeline { elements });
            }
        }
    }

    fn parse_element(&mut self) -> Result<Element, ParseError> {
        self.skip_spaces();
        match self.peek() {
            Some(c) if c.is_alphabetic() || c == '_' => Ok(Element::Command(self.parse_command()?)),
            Some(_) => Ok(Element::Expr(self.parse_expression()?)),
            None => self.error("an empty pipe element is not allowed"),
        }
    }

    fn parse_command(&mut self) -> Result<Command, ParseError> {
        let start = self.pos;
        let name: String = self.read_generic_token();
        let mut args = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                None | Some(';' | '\n' | '\r' | '|' | ')' | '}') => break,
                Some(c)
                    if is_dash(c)
                        && self
                            .peek_at(1)
                            .is_some_and(|n| n.is_alphabetic() || n == '_') =>
                {
                    self.pos += 1;
                    let param: String = self.src[self.pos..]
                        .iter()
                        .take_while(|c| c.is_alphanumeric() || **c == '_')
                        .collect();
                    self.pos += param.chars().count();
                    if self.peek() == Some(':') {
                        self.pos += 1;
                        self.skip_spaces();
                        let value = self.parse_argument_list()?;
                        args.push(Arg::Param {
                            name: param,
                            value: Some(value),
                        });
                    } else {
                        args.push(Arg::Param {
                            name: param,
                            value: None,
                        });
                    }
                }
                Some(_) => args.push(Arg::Value(self.parse_argument_list()?)),
            }
        }
        Ok(Command {
            name,
            args,
            span: Span {
                start,
                end: self.pos,
            },
        })
    }

    fn read_generic_token(&mut self) -> String {
        let token: String = self.src[self.pos..]
            .iter()
            .take_while(|c| !ends_generic_token(**c))
            .collect();
        self.pos += token.chars().count();
        token
    }

    /// One command argument, or several separated by commas (an array).
    fn parse_argument_list(&mut self) -> Result<Expr, ParseError> {
        let first = self.parse_argument()?;
        let mut items = vec![first];
        loop {
            let saved = self.pos;
            self.skip_spaces();
            if self.peek() == Some(',') {
                self.pos += 1;
                self.skip_spaces_and_newlines();
                items.push(self.parse_argument()?);
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

    fn parse_argument(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some('$' | '(' | '@' | '{') => self.parse_postfix(),
            Some(c) if is_single_quote(c) || is_double_quote(c) => self.parse_postfix(),
            Some(c) if is_dash(c) && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => {
                let token = self.read_generic_token();
                Ok(number_literal(&token).unwrap_or(Expr::Bareword(token)))
            }
            Some(_) => {
                let token = self.read_generic_token();
                if token.is_empty() {
                    return self.error("missing argument");
                }
                Ok(number_literal(&token).unwrap_or(Expr::Bareword(token)))
            }
            None => self.error("missing argument"),
        }
    }

    fn parse_expression(&mut self) -> Result<Expr, ParseError> {
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

    fn parse_postfix(&mut self) -> Result<Expr, ParseError> {
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

    fn parse_variable_name(&mut self) -> Result<String, ParseError> {
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
fn number_literal(token: &str) -> Option<Expr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Block {
        let chars: Vec<char> = text.chars().collect();
        parse_script(&chars).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    #[test]
    fn parses_commands_with_parameters() {
        let block = parse("New-VM -Name 'a''b' -MemoryStartupBytes 2048MB -Generation 2 | Out-Null; Stop-VM -Name x -Force");
        assert_eq!(block.len(), 2);
        let StmtKind::Pipeline(pipeline) = &block[0].kind else {
            panic!()
        };
        assert_eq!(pipeline.elements.len(), 2);
        let Element::Command(command) = &pipeline.elements[0] else {
            panic!()
        };
        assert_eq!(command.name, "New-VM");
        assert!(matches!(&command.args[1], Arg::Value(Expr::Str(s)) if s == "a'b"));
        assert!(matches!(
            &command.args[3],
            Arg::Value(Expr::Int(2147483648))
        ));
    }

    #[test]
    fn parses_if_assignment_and_calculated_properties() {
        let block = parse(
            "$ErrorActionPreference = 'Stop'\r\n$vm = Get-VM -Name 'x' -ErrorAction SilentlyContinue\r\n\
             if ($vm -and $vm.State -ne 'Off') { Stop-VM -Name 'x' -TurnOff -Force }\r\nelse { 'none' }\r\n\
             ConvertTo-Json -Compress -InputObject @(Get-VM | Select-Object Name, @{Name='State';Expression={$_.State.ToString()}})",
        );
        assert_eq!(block.len(), 4);
        assert!(matches!(block[2].kind, StmtKind::If { ref otherwise, .. } if otherwise.is_some()));
    }

    #[test]
    fn typographic_quotes_delimit_strings() {
        let block = parse("Get-VM -Name \u{2018}a\u{2019}\u{2019}b\u{2019}");
        let StmtKind::Pipeline(pipeline) = &block[0].kind else {
            panic!()
        };
        let Element::Command(command) = &pipeline.elements[0] else {
            panic!()
        };
        assert!(matches!(&command.args[1], Arg::Value(Expr::Str(s)) if s == "a\u{2019}b"));
    }

    #[test]
    fn expandable_strings_run_subexpressions() {
        let block = parse("\"a $(Remove-VM -Name v) $x `$y\"");
        let StmtKind::Pipeline(pipeline) = &block[0].kind else {
            panic!()
        };
        let Element::Expr(Expr::Expandable(parts)) = &pipeline.elements[0] else {
            panic!()
        };
        assert!(matches!(parts[1], StrPart::Sub(_)));
        assert!(matches!(&parts[3], StrPart::Var(v) if v == "x"));
        assert!(matches!(&parts[4], StrPart::Text(t) if t == " $y"));
    }

    #[test]
    fn numbers_and_errors() {
        assert!(matches!(number_literal("2048.0MB"), Some(Expr::Double(v)) if v == 2147483648.0));
        assert!(matches!(
            number_literal("64GB"),
            Some(Expr::Int(68719476736))
        ));
        assert!(number_literal("2x").is_none());
        let chars: Vec<char> = "Get-VM -Name 'open".chars().collect();
        assert!(parse_script(&chars).is_err());
        let chars: Vec<char> = "if ($x { }".chars().collect();
        assert!(parse_script(&chars).is_err());
    }
}
