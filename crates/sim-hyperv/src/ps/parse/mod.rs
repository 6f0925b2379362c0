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

mod expr;

use expr::number_literal;

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
