//! Error records and their CLIXML form, as PowerShell writes them to stderr when its output is
//! redirected (which is the case under WinRM).

use super::parse::Span;

/// An error as PowerShell reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorRecord {
    pub message: String,
    /// The cmdlet that failed (`None` for `throw` and parse errors).
    pub command: Option<String>,
    pub category: &'static str,
    /// The exception type name shown in the category line.
    pub reason: &'static str,
    pub target: String,
    pub fully_qualified_id: String,
    pub span: Option<Span>,
}

/// Renders an error record like the console host does (message, position, category lines).
pub(crate) fn render_error(record: &ErrorRecord, source: &[char]) -> String {
    let mut text = String::new();
    match &record.command {
        Some(command) => text.push_str(&format!("{command} : {}\r\n", record.message)),
        None => text.push_str(&format!("{}\r\n", record.message)),
    }
    if let Some(span) = record.span {
        let (line_number, column, line_text, line_start) = position(source, span.start);
        text.push_str(&format!("At line:{line_number} char:{column}\r\n"));
        text.push_str(&format!("+ {line_text}\r\n"));
        let span_end = span
            .end
            .min(line_start + line_text.chars().count())
            .max(span.start + 1);
        let width = (span_end - span.start).max(1);
        text.push_str(&format!(
            "+ {}{}\r\n",
            " ".repeat(column - 1),
            "~".repeat(width)
        ));
    }
    let command = record.command.as_deref().unwrap_or("");
    text.push_str(&format!(
        "    + CategoryInfo          : {}: ({}:String) [{command}], {}\r\n",
        record.category, record.target, record.reason
    ));
    text.push_str(&format!(
        "    + FullyQualifiedErrorId : {}\r\n",
        record.fully_qualified_id
    ));
    text.push_str(" \r\n");
    text
}

/// (1-based line, 1-based column, text of that line, offset of the line start).
fn position(source: &[char], offset: usize) -> (usize, usize, String, usize) {
    let offset = offset.min(source.len());
    let line_start = source[..offset]
        .iter()
        .rposition(|c| *c == '\n')
        .map(|p| p + 1)
        .unwrap_or(0);
    let line_number = source[..offset].iter().filter(|c| **c == '\n').count() + 1;
    let line_end = source[line_start..]
        .iter()
        .position(|c| *c == '\n' || *c == '\r')
        .map(|p| line_start + p)
        .unwrap_or(source.len());
    let line_text: String = source[line_start..line_end].iter().collect();
    (line_number, offset - line_start + 1, line_text, line_start)
}

/// Escapes a string for a CLIXML `<S>` element: XML entities, control characters as
/// `_xHHHH_`, and underscores that would start such an escape.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let chars: Vec<char> = text.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '_' if chars.get(index + 1) == Some(&'x') => out.push_str("_x005F_"),
            c if (*c as u32) < 0x20 => out.push_str(&format!("_x{:04X}_", *c as u32)),
            c => out.push(*c),
        }
    }
    out
}

const OBJS_OPEN: &str =
    r#"<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">"#;

/// The progress record PowerShell writes when it loads a module for the first time.
fn progress_record() -> &'static str {
    concat!(
        r#"<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN>"#,
        r#"<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil />"#,
        r#"<PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>"#
    )
}

/// stderr content: `#< CLIXML` and an `<Objs>` document with the progress record (if any) and
/// every line of the error texts as `<S S="Error">`. Empty when there is nothing to report.
pub(crate) fn render_stderr(error_texts: &[String], with_progress: bool) -> String {
    if error_texts.is_empty() && !with_progress {
        return String::new();
    }
    let mut xml = String::from("#< CLIXML\r\n");
    xml.push_str(OBJS_OPEN);
    if with_progress {
        xml.push_str(progress_record());
    }
    for text in error_texts {
        for line in text.split_inclusive("\r\n") {
            xml.push_str(r#"<S S="Error">"#);
            xml.push_str(&escape(line));
            xml.push_str("</S>");
        }
    }
    xml.push_str("</Objs>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_console_host() {
        let source: Vec<char> = "$x = 1\r\nStart-VM -Name 'v'".chars().collect();
        let record = ErrorRecord {
            message: "Hyper-V was unable to find a virtual machine with name \"v\".".into(),
            command: Some("Start-VM".into()),
            category: "InvalidArgument",
            reason: "VirtualizationException",
            target: "v".into(),
            fully_qualified_id: "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.StartVM"
                .into(),
            span: Some(Span { start: 8, end: 26 }),
        };
        let text = render_error(&record, &source);
        assert!(text.starts_with("Start-VM : Hyper-V was unable"));
        assert!(
            text.contains("At line:2 char:1\r\n+ Start-VM -Name 'v'\r\n+ ~~~~~~~~~~~~~~~~~~\r\n")
        );
        let stderr = render_stderr(&[text], true);
        assert!(stderr.starts_with("#< CLIXML\r\n<Objs"));
        assert!(stderr.contains("_x000D__x000A_</S>"));
        assert!(stderr.contains("&quot;v&quot;"));
    }

    #[test]
    fn escapes_underscores_before_x() {
        assert_eq!(escape("a_xb_c\t"), "a_x005F_xb_c_x0009_");
    }
}
