//! Property-based fuzzing (issue 16): the design parser and validator, the STL reader and the
//! VTI reader, fed arbitrary bytes and mutations of valid inputs, never panic, never take a
//! second, and always return an error or a valid value. proptest shrinks a failing input to a
//! small one and prints it; its seeds are derived per test, so a CI run is repeatable.

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use formwerk::Design;
use formwerk::memory::MemoryLimit;
use formwerk::mesh::stl::{read_stl, write_binary_stl};
use formwerk::output::vtk::{Field, VtiEncoding, read_vti_bytes, write_vti_fields};
use proptest::prelude::*;

use crate::common::{SMALL_DESIGN, box_mesh};

/// Cases per property: enough to reach the readers' error paths, small enough for CI (well
/// under a second each: a case takes tens of microseconds).
const CASES: u32 = 2000;

/// A change to a byte string: its position is taken modulo the length.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// Tokens that break parsers: numbers at the edges, quotes, brackets, XML and TOML syntax.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "nan",
        "-inf",
        "1e308",
        "-1e308",
        "0",
        "-0",
        "1e-320",
        "18446744073709551616",
        "\"",
        "[",
        "]",
        "{",
        "}",
        "=",
        "<",
        ">",
        "/>",
        "&amp;",
        "_",
        "\n",
        "\u{feff}",
        "é",
        "[[",
        "offset=\"99999999\"",
        "format=\"binary\"",
        "header_type=\"UInt64\"",
        "AAAA",
        "facet normal",
        "endsolid",
        "vertex 1e39 0 0",
        "==",
        "AAAAAAAAAA==",
    ])
    .prop_map(|t| t.as_bytes().to_vec())
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit], tokens: &[(usize, Vec<u8>)]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Flip(at, bit) => {
                if !bytes.is_empty() {
                    bytes[at % n] ^= bit;
                }
            }
            Edit::Insert(at, new) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Delete(at, count) => {
                let at = at % n;
                let end = (at + count).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Truncate(at) => bytes.truncate(at % n),
        }
    }
    for (at, token) in tokens {
        let at = at % (bytes.len() + 1);
        bytes.splice(at..at, token.iter().copied());
    }
    bytes
}

fn mutations() -> impl Strategy<Value = (Vec<Edit>, Vec<(usize, Vec<u8>)>)> {
    (
        prop::collection::vec(edit(), 0..4),
        prop::collection::vec((any::<usize>(), token()), 0..3),
    )
}

/// Runs `f`, failing if it takes a second or more.
fn within_a_second<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "{what} took {took:?}");
    value
}

/// Parses and validates a design text as `run` does, with a small memory limit so that a
/// mutated grid size cannot make the case slow.
fn parse_design(text: &str) {
    let file = Path::new("fuzz.toml");
    let limit = MemoryLimit {
        bytes: 64 << 20,
        source: "fuzz".into(),
    };
    if let Ok(design) = Design::from_toml(text, file) {
        // An error must name a key or the file; a problem must be usable.
        match design.to_problem_within(file, Some(&limit)) {
            Ok(problem) => assert!(problem.grid.element_count() > 0),
            Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
        }
    }
}

fn valid_stls() -> Vec<Vec<u8>> {
    let mesh = box_mesh([0.0, 0.0, 0.0], [2.0, 1.0, 3.0]);
    let mut binary = Vec::new();
    write_binary_stl(&mesh, &mut binary).unwrap();
    let mut ascii = String::from("solid box\n");
    for t in &mesh.triangles {
        ascii.push_str("facet normal 0 0 0\nouter loop\n");
        for &v in t {
            let p = mesh.vertices[v as usize];
            ascii.push_str(&format!("vertex {} {} {}\n", p[0], p[1], p[2]));
        }
        ascii.push_str("endloop\nendfacet\n");
    }
    ascii.push_str("endsolid box\n");
    vec![binary, ascii.into_bytes()]
}

fn valid_vtis() -> Vec<Vec<u8>> {
    let density: Vec<f64> = (0..12).map(|i| f64::from(i) / 12.0).collect();
    let u: Vec<f64> = (0..108).map(|i| f64::from(i) * 0.5 - 7.0).collect();
    [
        VtiEncoding::Ascii,
        VtiEncoding::Binary,
        VtiEncoding::Compressed,
    ]
    .into_iter()
    .map(|encoding| {
        let mut bytes = Vec::new();
        write_vti_fields(
            &mut bytes,
            [3, 2, 2],
            0.5,
            &[Field::scalar("density", &density)],
            &[Field::vector("u", &u)],
            encoding,
        )
        .unwrap();
        bytes
    })
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn design_files_mutated_or_arbitrary_never_panic(
        (edits, tokens) in mutations(),
        arbitrary in ".{0,200}",
        use_arbitrary in prop::bool::weighted(0.2),
    ) {
        let text = if use_arbitrary {
            arbitrary
        } else {
            String::from_utf8_lossy(&apply(SMALL_DESIGN.as_bytes().to_vec(), &edits, &tokens))
                .into_owned()
        };
        within_a_second("design", || parse_design(&text));
    }

    #[test]
    fn stl_files_mutated_or_arbitrary_never_panic(
        (edits, tokens) in mutations(),
        which in 0..2usize,
        arbitrary in prop::collection::vec(any::<u8>(), 0..400),
        use_arbitrary in prop::bool::weighted(0.2),
    ) {
        let bytes = if use_arbitrary {
            arbitrary
        } else {
            apply(valid_stls().swap_remove(which), &edits, &tokens)
        };
        let read = within_a_second("stl", || read_stl(&mut Cursor::new(&bytes)));
        if let Ok(mesh) = read {
            // A mesh read is a mesh: indices in range, coordinates finite.
            let n = mesh.vertices.len();
            prop_assert!(mesh.triangles.iter().flatten().all(|&v| (v as usize) < n));
            prop_assert!(mesh.vertices.iter().flatten().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn vti_files_mutated_or_arbitrary_never_panic(
        (edits, tokens) in mutations(),
        which in 0..3usize,
        arbitrary in prop::collection::vec(any::<u8>(), 0..400),
        use_arbitrary in prop::bool::weighted(0.2),
    ) {
        let bytes = if use_arbitrary {
            arbitrary
        } else {
            apply(valid_vtis().swap_remove(which), &edits, &tokens)
        };
        if let Ok(image) = within_a_second("vti", || read_vti_bytes(&bytes)) {
            // Whatever is read has one value per cell or point and component.
            let [nx, ny, nz] = image.elements;
            for field in &image.cell_fields {
                prop_assert_eq!(field.values.len(), nx * ny * nz * field.components);
            }
            for field in &image.point_fields {
                prop_assert_eq!(
                    field.values.len(),
                    (nx + 1) * (ny + 1) * (nz + 1) * field.components
                );
            }
        }
    }
}
