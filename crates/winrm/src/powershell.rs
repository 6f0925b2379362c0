//! PowerShell over a remote shell: `-EncodedCommand` encoding and CLIXML error decoding.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

/// The longest command line `cmd.exe` accepts (the remote shell runs commands through it).
pub const MAX_COMMAND_LINE: usize = 8191;

/// `powershell -NoProfile -NonInteractive -EncodedCommand <base64 of UTF-16LE script>`.
pub fn encoded_command_line(script: &str) -> String {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    format!(
        "powershell -NoProfile -NonInteractive -EncodedCommand {}",
        BASE64.encode(utf16)
    )
}

const CLIXML_MARKER: &str = "#< CLIXML";

/// Turns PowerShell's stderr into plain text. CLIXML (`#< CLIXML` followed by `<Objs>`) yields
/// the text of its error strings (`<S S="Error">`), with `_xHHHH_` escapes decoded; progress
/// records and other objects are dropped. Anything else is returned trimmed.
pub fn decode_clixml(stderr: &str) -> String {
    let trimmed = stderr.trim_start();
    let Some(rest) = trimmed.strip_prefix(CLIXML_MARKER) else {
        return stderr.trim().to_string();
    };
    let mut text = String::new();
    // A stream may hold several CLIXML documents, each introduced by the marker.
    for part in rest.split(CLIXML_MARKER) {
        let xml = part.trim();
        if xml.is_empty() {
            continue;
        }
        match roxmltree::Document::parse(xml) {
            Ok(document) => {
                for node in document
                    .descendants()
                    .filter(|n| n.tag_name().name() == "S")
                {
                    if node
                        .attribute("S")
                        .is_some_and(|s| s.eq_ignore_ascii_case("error"))
                    {
                        text.push_str(&decode_escapes(node.text().unwrap_or_default()));
                    }
                }
            }
            Err(_) => text.push_str(xml),
        }
    }
    text.trim().to_string()
}

/// Decodes the `_xHHHH_` escapes PowerShell uses in CLIXML strings.
fn decode_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("_x") {
        out.push_str(&rest[..at]);
        let candidate = &rest[at..];
        let decoded = candidate
            .get(2..6)
            .filter(|hex| hex.chars().all(|c| c.is_ascii_hexdigit()))
            .filter(|_| candidate.as_bytes().get(6) == Some(&b'_'))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .and_then(char::from_u32);
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &candidate[7..];
            }
            None => {
                out.push_str("_x");
                rest = &candidate[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The essential part of a PowerShell error text: the message lines, without the position
/// (`At line:…`), the echoed source (`+ …`) and the category lines, joined by spaces.
pub fn summarize_error(text: &str) -> String {
    let mut lines = Vec::new();
    let mut in_position_block = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("At line:")
            || (trimmed.starts_with("At ") && trimmed.contains(" char:"))
        {
            in_position_block = true;
            continue;
        }
        if trimmed.starts_with('+') {
            in_position_block = true;
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if in_position_block && line.starts_with(' ') {
            continue;
        }
        in_position_block = false;
        lines.push(trimmed);
    }
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_utf16le_base64() {
        assert_eq!(
            encoded_command_line("dir"),
            "powershell -NoProfile -NonInteractive -EncodedCommand ZABpAHIA"
        );
    }

    #[test]
    fn decodes_clixml_errors() {
        let stderr = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">\
            <Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T></TN>\
            <MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV></PR></MS></Obj>\
            <S S=\"Error\">Start-VM : Hyper-V was unable to find a virtual machine with name \"x\"._x000D__x000A_</S>\
            <S S=\"Error\">At line:1 char:1_x000D__x000A_</S>\
            <S S=\"Error\">+ Start-VM -Name 'x'_x000D__x000A_</S>\
            <S S=\"Error\">+ ~~~~~~~~~~~~~~~~~~_x000D__x000A_</S>\
            <S S=\"Error\">    + CategoryInfo          : InvalidArgument: (x:String) [Start-VM], VirtualizationException_x000D__x000A_</S>\
            <S S=\"Error\">    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.StartVM_x000D__x000A_</S>\
            <S S=\"Error\"> _x000D__x000A_</S></Objs>";
        let text = decode_clixml(stderr);
        assert!(text.starts_with("Start-VM : Hyper-V was unable"));
        assert!(!text.contains("Preparing modules"));
        assert_eq!(
            summarize_error(&text),
            "Start-VM : Hyper-V was unable to find a virtual machine with name \"x\"."
        );
    }

    #[test]
    fn escapes_and_plain_text() {
        assert_eq!(decode_escapes("a_x005F_b_x0041_ _xZZ_"), "a_bA _xZZ_");
        assert_eq!(decode_clixml("  plain failure \r\n"), "plain failure");
    }

    #[test]
    fn summary_keeps_multi_line_messages() {
        let text = "New-VM : Failed to create a new virtual machine.\r\nThe file exists.\r\nAt line:3 char:1\r\n+ New-VM\r\n+ ~~~\r\n    + CategoryInfo : x";
        assert_eq!(
            summarize_error(text),
            "New-VM : Failed to create a new virtual machine. The file exists."
        );
    }
}
