//! Listings as Helm prints them: tables the way its `uitable` lays them out, JSON the way
//! Go's `json.Encoder` writes it, YAML the way `sigs.k8s.io/yaml` does (keys sorted).

use serde::Serialize;
use serde_json::Value;

/// A header and rows laid out as uitable does: each cell padded to its column's width (at
/// most `max_width`, 0 for no limit; longer cells cut with `...`), cells joined by a tab,
/// and a final newline.
pub fn table(header: &[&str], body: impl Iterator<Item = Vec<String>>, max_width: usize) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect()).chain(body).collect();
    let mut widths: Vec<usize> = Vec::new();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            let width = if max_width > 0 { width.min(max_width) } else { width };
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| row.iter().zip(&widths).map(|(cell, &w)| fit(cell, w)).collect::<Vec<_>>().join("\t"))
        .collect();
    lines.join("\n") + "\n"
}

/// A cell padded to `width`, or cut to it with `...` (all `...` for a width of 3 or less,
/// as go-runewidth's `Truncate` cuts it for uitable).
fn fit(cell: &str, width: usize) -> String {
    let len = cell.chars().count();
    if width == 0 || len == width {
        return cell.to_string();
    }
    if len < width {
        return format!("{cell}{}", " ".repeat(width - len));
    }
    let kept: String = cell.chars().take(width.saturating_sub(3)).collect();
    kept + "..."
}

/// JSON as Go's encoder writes it: compact, with `<`, `>`, `&`, U+2028 and U+2029
/// escaped, and a newline.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let plain = serde_json::to_string(value)?;
    let mut out = String::with_capacity(plain.len() + 1);
    for c in plain.chars() {
        match c {
            // These occur only inside strings: JSON's own syntax has none of them.
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\n');
    Ok(out)
}

/// YAML as `sigs.k8s.io/yaml` writes a listing (rows of scalars): by way of JSON, so keys
/// come out sorted, and with go-yaml v2's quoting, so that any YAML reader gets each string
/// back (`on`, `1.2` and `2024-01-15` double-quoted: YAML 1.1 reads them as other things).
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let value = serde_json::to_value(value)?;
    let Value::Array(rows) = &value else { return Ok(yaml_serde::to_string(&value)?) };
    if rows.is_empty() {
        return Ok("[]\n".to_string());
    }
    let mut out = String::new();
    for row in rows {
        let Value::Object(fields) = row else { return Ok(yaml_serde::to_string(&value)?) };
        if fields.is_empty() {
            out.push_str("- {}\n");
        }
        for (i, (key, field)) in fields.iter().enumerate() {
            let text = match field {
                Value::String(text) => scalar(text)?,
                Value::Array(_) | Value::Object(_) => return Ok(yaml_serde::to_string(&value)?),
                other => other.to_string(),
            };
            out.push_str(&format!("{}{}: {text}\n", if i == 0 { "- " } else { "  " }, scalar(key)?));
        }
    }
    Ok(out)
}

/// A string as go-yaml v2 writes it: double-quoted where YAML 1.1 would read it as another
/// type (JSON's quoting is YAML's), else as the emitter sees fit (plain, or single-quoted
/// for a leading indicator).
fn scalar(text: &str) -> anyhow::Result<String> {
    if text.contains(['\n', '\r']) || reads_as_other_than_text(text) {
        return Ok(serde_json::to_string(text)?);
    }
    Ok(yaml_serde::to_string(text)?.trim_end_matches('\n').to_string())
}

/// Whether YAML 1.1, as go-yaml v2 resolves a plain scalar, reads `text` as something other
/// than a string: null, a boolean, a number (`1_000`, `0x1F`, `1.2`, sexagesimal `1:20`) or
/// a timestamp. It may say yes for a few strings go-yaml would leave plain: quoting those
/// too changes nothing a reader gets.
fn reads_as_other_than_text(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
        "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "-.inf",
        "-.Inf", "-.INF", "+.inf", "+.Inf", "+.INF", ".nan", ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.')) {
        return false;
    }
    let plain = text.replace('_', "");
    let unsigned = plain.trim_start_matches(['+', '-']);
    let radix = |prefix: &str, radix: u32| {
        unsigned.strip_prefix(prefix).is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_digit(radix)))
    };
    let integer = !unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit());
    let sexagesimal = text.contains(':')
        && plain.split(':').all(|part| !part.is_empty() && part.trim_start_matches(['+', '-']).parse::<f64>().is_ok());
    let date = text.len() >= 8
        && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && text.as_bytes()[4] == b'-'
        && text[5..].starts_with(|c: char| c.is_ascii_digit());
    integer
        || radix("0x", 16)
        || radix("0o", 8)
        || radix("0b", 2)
        || plain.parse::<f64>().is_ok()
        || sexagesimal
        || date
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn tables_pad_every_cell_and_cut_long_ones() {
        let out = table(&["NAME", "CHART VERSION"], [row(&["a/b", "1.0.0"])].into_iter(), 50);
        assert_eq!(out, "NAME\tCHART VERSION\na/b \t1.0.0        \n");
        let long = "x".repeat(60);
        let out = table(&["D"], [row(&[&long])].into_iter(), 50);
        assert_eq!(out, format!("D{}\n{}...\n", " ".repeat(49), "x".repeat(47)));
        assert_eq!(table(&[long.as_str()], std::iter::empty(), 0), format!("{long}\n"), "0 is no limit");
        assert_eq!(table(&["NAME", "VERSION"], std::iter::empty(), 3), "...\t...\n", "uitable's cut at 3 or less");
        assert_eq!(table(&["NAME"], std::iter::empty(), 1), "...\n");
    }

    #[test]
    fn yaml_quotes_what_yaml_1_1_reads_as_another_type() {
        #[derive(Serialize)]
        struct Row<'a> {
            text: &'a str,
        }
        let rows: Vec<Row> = [
            "on",
            "off",
            "yes",
            "",
            "2024-01-15",
            "1_000",
            "1:20",
            "1.2",
            "0x1F",
            "~",
            "1.2.3",
            "v1.0",
            "Beta <b> & co",
            "-x",
            "a\nb",
        ]
        .iter()
        .map(|text| Row { text })
        .collect();
        let expected = "- text: \"on\"\n- text: \"off\"\n- text: \"yes\"\n- text: \"\"\n- text: \"2024-01-15\"\n\
                        - text: \"1_000\"\n- text: \"1:20\"\n- text: \"1.2\"\n- text: \"0x1F\"\n- text: \"~\"\n\
                        - text: 1.2.3\n- text: v1.0\n- text: Beta <b> & co\n- text: -x\n- text: \"a\\nb\"\n";
        assert_eq!(yaml(&rows).unwrap(), expected);
        let read: Vec<std::collections::BTreeMap<String, String>> = yaml_serde::from_str(expected).unwrap();
        assert_eq!(read[4]["text"], "2024-01-15");
        assert_eq!(yaml(&Vec::<Row>::new()).unwrap(), "[]\n");
    }

    #[test]
    fn json_escapes_as_go_does() {
        #[derive(Serialize)]
        struct Row<'a> {
            description: &'a str,
        }
        assert_eq!(
            json(&[Row { description: "a <b> & c" }]).unwrap(),
            "[{\"description\":\"a \\u003cb\\u003e \\u0026 c\"}]\n"
        );
        assert_eq!(json(&Vec::<Row>::new()).unwrap(), "[]\n");
    }
}
