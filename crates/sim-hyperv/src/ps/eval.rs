//! Evaluation of parsed scripts: variables, pipelines, error handling (`$ErrorActionPreference`,
//! `-ErrorAction`, `throw`, `exit`) and output formatting.

use super::clixml::{render_error, render_stderr, ErrorRecord};
use super::cmdlets::{self, Bound, CmdletError, CmdletSpec};
use super::parse::{
    Arg, BinOp, Block, Command, Element, Expr, Pipeline, Span, Stmt, StmtKind, StrPart,
};
use super::value::{PsObject, Value};
use crate::model::HyperV;
use std::collections::HashMap;
use std::rc::Rc;

/// Control flow that unwinds the script.
pub(crate) enum Flow {
    Terminate(Box<ErrorRecord>),
    Exit(i32),
}

type Exec<T> = Result<T, Flow>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorAction {
    Stop,
    Continue,
    Silent,
}

fn error_action(value: &Value) -> ErrorAction {
    match value.to_text().to_ascii_lowercase().as_str() {
        "stop" => ErrorAction::Stop,
        "silentlycontinue" | "ignore" => ErrorAction::Silent,
        _ => ErrorAction::Continue,
    }
}

/// A cmdlet failure the test harness forces.
#[derive(Debug, Clone)]
pub(crate) struct ForcedFailure {
    pub cmdlet: String,
    pub message: String,
}

/// What running a script produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOutcome {
    pub stdout: String,
    /// CLIXML (or empty).
    pub stderr: String,
    pub exit_code: i32,
}

pub(crate) struct Interpreter<'a> {
    pub host: &'a mut HyperV,
    source: &'a [char],
    variables: HashMap<String, Value>,
    error_texts: Vec<String>,
    last_success: bool,
    used_hyperv_module: bool,
    forced_failures: &'a mut Vec<ForcedFailure>,
}

impl<'a> Interpreter<'a> {
    pub fn new(
        host: &'a mut HyperV,
        source: &'a [char],
        forced_failures: &'a mut Vec<ForcedFailure>,
    ) -> Interpreter<'a> {
        let mut variables = HashMap::new();
        variables.insert("erroractionpreference".to_string(), Value::str("Continue"));
        variables.insert("progresspreference".to_string(), Value::str("Continue"));
        Interpreter {
            host,
            source,
            variables,
            error_texts: Vec::new(),
            last_success: true,
            used_hyperv_module: false,
            forced_failures,
        }
    }

    /// Runs a parsed script to completion.
    pub fn run(mut self, block: &Block) -> ScriptOutcome {
        let mut stdout = String::new();
        let mut exit_code = None;
        for statement in block {
            match self.run_statement(statement) {
                Ok(values) => {
                    for value in values {
                        format_output(&value, &mut stdout);
                    }
                }
                Err(Flow::Exit(code)) => {
                    exit_code = Some(code);
                    break;
                }
                Err(Flow::Terminate(record)) => {
                    self.error_texts.push(render_error(&record, self.source));
                    exit_code = Some(1);
                    break;
                }
            }
        }
        let exit_code = exit_code.unwrap_or(if self.last_success { 0 } else { 1 });
        let progress = self.used_hyperv_module
            && !self
                .variable("ProgressPreference")
                .to_text()
                .eq_ignore_ascii_case("SilentlyContinue");
        ScriptOutcome {
            stdout,
            stderr: render_stderr(&self.error_texts, progress),
            exit_code,
        }
    }

    fn variable(&self, name: &str) -> Value {
        let lowered = name.to_ascii_lowercase();
        match lowered.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "?" => Value::Bool(self.last_success),
            "env:computername" => Value::str(self.host.computer_name.clone()),
            _ => self.variables.get(&lowered).cloned().unwrap_or(Value::Null),
        }
    }

    fn set_variable(&mut self, name: &str, value: Value) {
        self.variables.insert(name.to_ascii_lowercase(), value);
    }

    pub fn run_block(&mut self, block: &Block) -> Exec<Vec<Value>> {
        let mut outputs = Vec::new();
        for statement in block {
            outputs.extend(self.run_statement(statement)?);
        }
        Ok(outputs)
    }

    /// Runs a script block with `$_` bound to `item`.
    pub fn run_script_block(&mut self, block: &Block, item: &Value) -> Exec<Vec<Value>> {
        let previous = self.variables.insert("_".to_string(), item.clone());
        let result = self.run_block(block);
        match previous {
            Some(value) => self.variables.insert("_".to_string(), value),
            None => self.variables.remove("_"),
        };
        result
    }

    fn run_statement(&mut self, statement: &Stmt) -> Exec<Vec<Value>> {
        match &statement.kind {
            StmtKind::Pipeline(pipeline) => self.run_pipeline(pipeline),
            StmtKind::Assign { name, value } => {
                let value = self.pipeline_value(value)?;
                self.set_variable(name, value);
                Ok(Vec::new())
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (condition, body) in branches {
                    if self.pipeline_value(condition)?.truthy() {
                        return self.run_block(body);
                    }
                }
                match otherwise {
                    Some(body) => self.run_block(body),
                    None => Ok(Vec::new()),
                }
            }
            StmtKind::Throw(value) => {
                let message = match value {
                    Some(pipeline) => self.pipeline_value(pipeline)?.to_text(),
                    None => "ScriptHalted".to_string(),
                };
                Err(Flow::Terminate(Box::new(ErrorRecord {
                    message: message.clone(),
                    command: None,
                    category: "OperationStopped",
                    reason: "RuntimeException",
                    target: message.clone(),
                    fully_qualified_id: message,
                    span: Some(statement.span),
                })))
            }
            StmtKind::Exit(value) => {
                let code = match value {
                    Some(pipeline) => self.pipeline_value(pipeline)?.to_i64().unwrap_or(0) as i32,
                    None => 0,
                };
                Err(Flow::Exit(code))
            }
        }
    }

    /// The value of a pipeline used as an expression: a lone expression keeps its value,
    /// command output collapses (nothing → `$null`, one item → the item, more → an array).
    fn pipeline_value(&mut self, pipeline: &Pipeline) -> Exec<Value> {
        if let [Element::Expr(expr)] = pipeline.elements.as_slice() {
            self.last_success = true;
            return self.eval(expr);
        }
        Ok(collapse(self.run_pipeline(pipeline)?))
    }

    fn run_pipeline(&mut self, pipeline: &Pipeline) -> Exec<Vec<Value>> {
        let mut items: Option<Vec<Value>> = None;
        for element in &pipeline.elements {
            let output = match element {
                Element::Expr(expr) => {
                    self.last_success = true;
                    self.eval(expr)?.into_items()
                }
                Element::Command(command) => self.invoke(command, items.take())?,
            };
            items = Some(output);
        }
        Ok(items.unwrap_or_default())
    }

    fn invoke(&mut self, command: &Command, input: Option<Vec<Value>>) -> Exec<Vec<Value>> {
        let Some(spec) = cmdlets::lookup(&command.name) else {
            let record = ErrorRecord {
                message: format!(
                    "The term '{}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
                    command.name
                ),
                command: Some(command.name.clone()),
                category: "ObjectNotFound",
                reason: "CommandNotFoundException",
                target: command.name.clone(),
                fully_qualified_id: "CommandNotFoundException".to_string(),
                span: Some(command.span),
            };
            return self
                .fail(record, self.preference_action(None))
                .map(|_| Vec::new());
        };
        let bound = match self.bind(spec, command)? {
            Ok(bound) => bound,
            Err(error) => {
                let record = self.record(spec, command.span, error);
                return self.fail(record, ErrorAction::Stop).map(|_| Vec::new());
            }
        };
        let action = self.preference_action(bound.get("ErrorAction"));
        if spec.hyperv_module {
            self.used_hyperv_module = true;
        }
        if let Some(index) = self
            .forced_failures
            .iter()
            .position(|f| f.cmdlet.eq_ignore_ascii_case(spec.name))
        {
            let forced = self.forced_failures.remove(index);
            let error = CmdletError::new(
                forced.message,
                "NotSpecified",
                "VirtualizationException",
                "",
                "Unspecified",
            );
            let record = self.record(spec, command.span, error);
            return self.fail(record, action).map(|_| Vec::new());
        }
        match (spec.run)(self, &bound, input.unwrap_or_default()) {
            Ok(outputs) => {
                self.last_success = true;
                Ok(outputs)
            }
            Err(CmdletRun::Error(error)) => {
                let record = self.record(spec, command.span, error);
                self.fail(record, action).map(|_| Vec::new())
            }
            Err(CmdletRun::Flow(flow)) => Err(flow),
        }
    }

    fn preference_action(&self, explicit: Option<&Value>) -> ErrorAction {
        match explicit {
            Some(value) => error_action(value),
            None => error_action(&self.variable("ErrorActionPreference")),
        }
    }

    fn record(&self, spec: &CmdletSpec, span: Span, error: CmdletError) -> ErrorRecord {
        ErrorRecord {
            message: error.message,
            command: Some(spec.name.to_string()),
            category: error.category,
            reason: error.reason,
            target: error.target,
            fully_qualified_id: format!("{},{}", error.error_id, spec.class),
            span: Some(span),
        }
    }

    fn fail(&mut self, record: ErrorRecord, action: ErrorAction) -> Exec<()> {
        self.last_success = false;
        match action {
            ErrorAction::Stop => Err(Flow::Terminate(Box::new(record))),
            ErrorAction::Continue => {
                self.error_texts.push(render_error(&record, self.source));
                Ok(())
            }
            ErrorAction::Silent => Ok(()),
        }
    }

    /// Binds arguments to the cmdlet's parameters. The outer result carries control flow from
    /// evaluating arguments; the inner one binding errors.
    fn bind(
        &mut self,
        spec: &'static CmdletSpec,
        command: &Command,
    ) -> Exec<Result<Bound, CmdletError>> {
        let mut bound = Bound::default();
        let mut positional = 0;
        let mut args = command.args.iter().peekable();
        while let Some(arg) = args.next() {
            match arg {
                Arg::Param { name, value } => {
                    let Some(canonical) = spec.resolve(name) else {
                        return Ok(Err(CmdletError::new(
                            format!(
                                "A parameter cannot be found that matches parameter name '{name}'."
                            ),
                            "InvalidArgument",
                            "ParameterBindingException",
                            "",
                            "NamedParameterNotFound",
                        )));
                    };
                    let value = match value {
                        Some(expr) => self.eval(expr)?,
                        None if spec.is_switch(canonical) => Value::Bool(true),
                        None => match args.next_if(|a| matches!(a, Arg::Value(_))) {
                            Some(Arg::Value(expr)) => self.eval(expr)?,
                            _ => {
                                return Ok(Err(CmdletError::new(
                                    format!("Missing an argument for parameter '{canonical}'. Specify a parameter of type 'System.String' and try again."),
                                    "InvalidArgument",
                                    "ParameterBindingException",
                                    "",
                                    "MissingArgument",
                                )))
                            }
                        },
                    };
                    bound.set(canonical, value);
                }
                Arg::Value(expr) => {
                    let value = self.eval(expr)?;
                    let Some(name) = spec.positional.get(positional) else {
                        return Ok(Err(CmdletError::new(
                            format!("A positional parameter cannot be found that accepts argument '{}'.", value.to_text()),
                            "InvalidArgument",
                            "ParameterBindingException",
                            "",
                            "PositionalParameterNotFound",
                        )));
                    };
                    positional += 1;
                    bound.set(name, value);
                }
            }
        }
        Ok(Ok(bound))
    }

    pub fn eval(&mut self, expr: &Expr) -> Exec<Value> {
        Ok(match expr {
            Expr::Str(text) => Value::str(text.clone()),
            Expr::Bareword(text) => Value::str(text.clone()),
            Expr::Int(i) => Value::Int(*i),
            Expr::Double(d) => Value::Double(*d),
            Expr::Var(name) => self.variable(name),
            Expr::Expandable(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        StrPart::Text(t) => text.push_str(t),
                        StrPart::Var(name) => text.push_str(&self.variable(name).to_text()),
                        StrPart::Sub(block) => {
                            text.push_str(&collapse(self.run_block(block)?).to_text())
                        }
                    }
                }
                Value::Str(text)
            }
            Expr::Member(target, name) => self.eval(target)?.property(name),
            Expr::Method(target, name, arguments) => {
                let target = self.eval(target)?;
                let mut values = Vec::new();
                for argument in arguments {
                    values.push(self.eval(argument)?);
                }
                call_method(&target, name, &values)
            }
            Expr::Index(target, index) => {
                let target = self.eval(target)?;
                let index = self.eval(index)?;
                match (&target, index.to_i64()) {
                    (Value::Array(items), Some(i)) => {
                        let position = if i < 0 { items.len() as i64 + i } else { i };
                        items.get(position as usize).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Hash(_), _) => target.property(&index.to_text()),
                    _ => Value::Null,
                }
            }
            Expr::Array(items) => {
                let mut values = Vec::new();
                for item in items {
                    values.push(self.eval(item)?);
                }
                Value::Array(values)
            }
            Expr::Paren(pipeline) => self.pipeline_value(pipeline)?,
            Expr::Subexpression(block) => collapse(self.run_block(block)?),
            Expr::ArraySub(block) => Value::Array(
                self.run_block(block)?
                    .into_iter()
                    .flat_map(Value::into_items)
                    .collect(),
            ),
            Expr::Hash(entries) => {
                let mut values = Vec::new();
                for (key, pipeline) in entries {
                    values.push((key.clone(), self.pipeline_value(pipeline)?));
                }
                Value::Hash(values)
            }
            Expr::ScriptBlock(block, text) => Value::Block(Rc::clone(block), Rc::clone(text)),
            Expr::Not(inner) => Value::Bool(!self.eval(inner)?.truthy()),
            Expr::Negate(inner) => match self.eval(inner)? {
                Value::Int(i) => Value::Int(-i),
                other => Value::Double(-other.to_f64().unwrap_or(0.0)),
            },
            Expr::Binary(op, left, right) => {
                let left = self.eval(left)?;
                // -and / -or short-circuit.
                match op {
                    BinOp::And if !left.truthy() => return Ok(Value::Bool(false)),
                    BinOp::Or if left.truthy() => return Ok(Value::Bool(true)),
                    _ => {}
                }
                let right = self.eval(right)?;
                binary(*op, &left, &right)
            }
        })
    }
}

/// What a cmdlet implementation returns on failure.
pub(crate) enum CmdletRun {
    Error(CmdletError),
    Flow(Flow),
}

impl From<CmdletError> for CmdletRun {
    fn from(error: CmdletError) -> CmdletRun {
        CmdletRun::Error(error)
    }
}

impl From<Flow> for CmdletRun {
    fn from(flow: Flow) -> CmdletRun {
        CmdletRun::Flow(flow)
    }
}

pub(crate) fn collapse(mut values: Vec<Value>) -> Value {
    match values.len() {
        0 => Value::Null,
        1 => values.pop().expect("one value"),
        _ => Value::Array(values),
    }
}

fn call_method(target: &Value, name: &str, arguments: &[Value]) -> Value {
    match name.to_ascii_lowercase().as_str() {
        "tostring" => match (target, arguments.first()) {
            (Value::DateTime(t), Some(format)) if format.to_text() == "s" => {
                Value::str(t.format("%Y-%m-%dT%H:%M:%S").to_string())
            }
            (Value::DateTime(t), Some(format)) if format.to_text() == "o" => {
                Value::str(t.format("%Y-%m-%dT%H:%M:%S%.7f").to_string())
            }
            _ => Value::str(target.to_text()),
        },
        "trim" => Value::str(target.to_text().trim().to_string()),
        "tolower" | "tolowerinvariant" => Value::str(target.to_text().to_lowercase()),
        "toupper" | "toupperinvariant" => Value::str(target.to_text().to_uppercase()),
        "contains" => Value::Bool(
            arguments
                .first()
                .is_some_and(|a| target.to_text().contains(&a.to_text())),
        ),
        _ => Value::Null,
    }
}

fn binary(op: BinOp, left: &Value, right: &Value) -> Value {
    use std::cmp::Ordering;
    match op {
        BinOp::Add => match left {
            Value::Str(s) => Value::str(format!("{s}{}", right.to_text())),
            Value::Array(items) => {
                let mut items = items.clone();
                items.extend(right.clone().into_items());
                Value::Array(items)
            }
            Value::Int(a) => match right {
                Value::Int(b) => Value::Int(a.saturating_add(*b)),
                other => Value::Double(*a as f64 + other.to_f64().unwrap_or(0.0)),
            },
            other => Value::Double(other.to_f64().unwrap_or(0.0) + right.to_f64().unwrap_or(0.0)),
        },
        BinOp::Sub => match (left, right) {
            (Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_sub(*b)),
            _ => Value::Double(left.to_f64().unwrap_or(0.0) - right.to_f64().unwrap_or(0.0)),
        },
        BinOp::Mul => match left {
            // String repetition, capped to keep the simulator's memory bounded.
            Value::Str(s) => {
                Value::str(s.repeat(right.to_i64().unwrap_or(0).clamp(0, 10_000_000) as usize))
            }
            Value::Int(a) => match right {
                Value::Int(b) => Value::Int(a.saturating_mul(*b)),
                other => Value::Double(*a as f64 * other.to_f64().unwrap_or(0.0)),
            },
            other => Value::Double(other.to_f64().unwrap_or(0.0) * right.to_f64().unwrap_or(0.0)),
        },
        BinOp::Div => {
            Value::Double(left.to_f64().unwrap_or(0.0) / right.to_f64().unwrap_or(f64::NAN))
        }
        BinOp::Eq | BinOp::Ne => {
            if let Value::Array(items) = left {
                // Comparison operators filter arrays.
                let keep_equal = op == BinOp::Eq;
                return Value::Array(
                    items
                        .iter()
                        .filter(|item| item.loose_eq(right) == keep_equal)
                        .cloned()
                        .collect(),
                );
            }
            Value::Bool(left.loose_eq(right) == (op == BinOp::Eq))
        }
        BinOp::Gt => Value::Bool(left.loose_cmp(right) == Some(Ordering::Greater)),
        BinOp::Ge => Value::Bool(matches!(
            left.loose_cmp(right),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        BinOp::Lt => Value::Bool(left.loose_cmp(right) == Some(Ordering::Less)),
        BinOp::Le => Value::Bool(matches!(
            left.loose_cmp(right),
            Some(Ordering::Less | Ordering::Equal)
        )),
        BinOp::Like => Value::Bool(super::value::wildcard_match(
            &right.to_text(),
            &left.to_text(),
        )),
        BinOp::NotLike => Value::Bool(!super::value::wildcard_match(
            &right.to_text(),
            &left.to_text(),
        )),
        BinOp::And => Value::Bool(left.truthy() && right.truthy()),
        BinOp::Or => Value::Bool(left.truthy() || right.truthy()),
    }
}

/// Formats a pipeline result for the console (Out-Default), CRLF line ends.
fn format_output(value: &Value, out: &mut String) {
    match value {
        Value::Null => {}
        Value::Array(items) => items.iter().for_each(|item| format_output(item, out)),
        Value::Object(object) => format_list(object, out),
        Value::Hash(entries) => {
            let object = PsObject {
                type_name: "Hashtable",
                props: entries.clone(),
            };
            format_list(&object, out);
        }
        other => {
            out.push_str(&other.to_text());
            out.push_str("\r\n");
        }
    }
}

fn format_list(object: &PsObject, out: &mut String) {
    let width = object
        .props
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    out.push_str("\r\n");
    for (name, value) in &object.props {
        out.push_str(&format!("{name:<width$} : {}\r\n", value.to_text()));
    }
    out.push_str("\r\n");
}
