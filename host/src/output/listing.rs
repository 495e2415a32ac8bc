//! Listings as Helm prints them: tables the way its `uitable` lays them out, JSON the way
//! Go's `json.Encoder` writes it, YAML the way `sigs.k8s.io/yaml` does (keys sorted).

use serde::Serialize;

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

/// A cell padded to `width`, or cut to it with `...`.
fn fit(cell: &str, width: usize) -> String {
    let len = cell.chars().count();
    if width == 0 || len == width {
        return cell.to_string();
    }
    if len < width {
        return format!("{cell}{}", " ".repeat(width - len));
    }
    let kept: String = cell.chars().take(width.saturating_sub(3).max(1)).collect();
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

/// YAML as `sigs.k8s.io/yaml` writes it: by way of JSON, so keys come out sorted.
pub fn yaml<T: Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(yaml_serde::to_string(&serde_json::to_value(value)?)?)
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
