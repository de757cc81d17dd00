//! Mutated design files are rejected or accepted, never a panic.
// See: issue 2

use std::path::Path;

use formwerk::Design;

use crate::common::SMALL_DESIGN;

const REPLACEMENTS: [&str; 14] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "1e-320",
    "\"x\"",
    "[]",
    "[1.0]",
    "{}",
    "true",
    "0.5",
    "[1e308, 1e308, 1e308]",
];

/// Every numeric or bracketed value of the small design, replaced by each edge value in turn.
#[test]
fn every_value_replaced_by_edge_values() {
    let lines: Vec<&str> = SMALL_DESIGN.lines().collect();
    let mut checked = 0;
    for (index, line) in lines.iter().enumerate() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        for replacement in REPLACEMENTS {
            let mut mutated = lines.clone();
            let new_line = format!("{key} = {replacement}");
            mutated[index] = &new_line;
            let text = mutated.join("\n");
            let path = Path::new("mutated.toml");
            let outcome = std::panic::catch_unwind(|| {
                Design::from_toml(&text, path).and_then(|d| d.to_problem(path).map(|_| ()))
            });
            assert!(outcome.is_ok(), "panic on line {index} = {replacement}");
            checked += 1;
        }
    }
    assert!(checked > 150);
}

#[test]
fn truncated_files_never_panic() {
    for end in 0..SMALL_DESIGN.len() {
        if !SMALL_DESIGN.is_char_boundary(end) {
            continue;
        }
        let text = &SMALL_DESIGN[..end];
        let path = Path::new("truncated.toml");
        let outcome = std::panic::catch_unwind(|| {
            Design::from_toml(text, path).and_then(|d| d.to_problem(path).map(|_| ()))
        });
        assert!(outcome.is_ok(), "panic on a file cut at byte {end}");
    }
}
