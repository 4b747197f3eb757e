//! Rendering spec problems for people: `file:line:column: message`, the line, and a caret.

use spanflow_operators::program::SpecProblem;
use std::fmt::Write;

/// Renders one problem against the spec's source text.
pub fn render(file: &str, source: &str, problem: &SpecProblem, severity: &str) -> String {
    let mut s = String::new();
    match problem.at {
        Some(at) => {
            let _ = writeln!(
                s,
                "{file}:{}:{}: {severity}: {}",
                at.line, at.column, problem.message
            );
            if let Some(line) = source.lines().nth(at.line.saturating_sub(1) as usize) {
                let gutter = at.line.to_string().len();
                let _ = writeln!(s, "{:gutter$} |", "");
                let _ = writeln!(s, "{} | {line}", at.line);
                let caret_at = line
                    .chars()
                    .take(at.column.saturating_sub(1) as usize)
                    .count();
                let _ = writeln!(s, "{:gutter$} | {:caret_at$}^", "", "");
            }
        }
        None => {
            let _ = writeln!(s, "{file}: {severity}: {}", problem.message);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanflow_engine::Location;

    #[test]
    fn points_at_the_column() {
        let p = SpecProblem {
            at: Some(Location { line: 2, column: 7 }),
            message: "bad".into(),
        };
        assert_eq!(
            render("s.yaml", "a: 1\nbb: cdx\n", &p, "error"),
            "s.yaml:2:7: error: bad\n  |\n2 | bb: cdx\n  |       ^\n"
        );
    }
}
