//! Result fields as VTK XML ImageData (`.vti`) for ParaView, and a reader for those files.
//!
//! The voxel grid maps directly onto VTK's image data: a uniform grid whose cells are the
//! elements and whose points are the nodes, so fields need no resampling. VTK orders cells and
//! points with x fastest, then y, then z, which is exactly the element order `i + nx·(j + ny·k)`
//! and node order `i + (nx+1)·(j + (ny+1)·k)` used throughout the crate (see [`crate::grid`]).
//! Element fields (density, stress) go in `CellData`, nodal fields (displacement) in
//! `PointData`; vectors are stored as interleaved `(x, y, z)` tuples with
//! `NumberOfComponents="3"`, which is also the DOF order `3·n + axis`.
//!
//! Values are written as ASCII in shortest round-trip notation, so the file reproduces the f64
//! values bit for bit and stays diffable, and [`read_vti`] reads them back exactly. The reader is
//! a small hand parser for the subset this writer produces (one piece, inline ASCII arrays); it
//! rejects anything else (binary or appended data, several pieces, other dataset types) with a
//! [`VtiError`] that says what it found. The reader lives in `vtk/read.rs`, on top of the small
//! XML tokenizer in `vtk/xml.rs`. The format is described in "VTK File Formats", VTK User's
//! Guide (Kitware, 11th ed., 2010), section "XML File Formats".

use std::fmt::Write as _;
use std::io::{Error, ErrorKind, Write};

mod binary;
mod read;
mod xml;

pub use read::{VtiError, VtiField, VtiImage, read_vti, read_vti_bytes};

/// How the arrays of a `.vti` file are stored.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VtiEncoding {
    /// Raw little-endian Float64 in one `<AppendedData>` block: exact, compact (8 bytes a value)
    /// and fast, as ParaView saves by default.
    #[default]
    Binary,
    /// The same, zlib-compressed in blocks of 32 KiB (`vtkZLibDataCompressor`).
    Compressed,
    /// Numbers as text in shortest round-trip notation: exact and diffable, about 2.5× larger.
    Ascii,
}

impl VtiEncoding {
    /// Whether this is the default, [`Self::Binary`] (for `skip_serializing_if`).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Values per line of the ASCII data array (two 3-vectors).
const VALUES_PER_LINE: usize = 6;

/// Where a field lives: VTK's `PointData` (one tuple per node) or `CellData` (one per element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `PointData`: node order.
    Point,
    /// `CellData`: element order.
    Cell,
}

impl Section {
    /// The XML element holding this section's arrays.
    fn element(self) -> &'static str {
        match self {
            Self::Point => "PointData",
            Self::Cell => "CellData",
        }
    }

    /// Tuples in this section of an image of `elements` cells: cells or points, `None` if the
    /// count overflows.
    fn tuples(self, elements: [usize; 3]) -> Option<usize> {
        let per_axis = match self {
            Self::Point => elements.map(|n| n.checked_add(1)),
            Self::Cell => elements.map(Some),
        };
        per_axis
            .into_iter()
            .try_fold(1usize, |total, n| total.checked_mul(n?))
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Point => "point",
            Self::Cell => "cell",
        })
    }
}

/// One named data array: a scalar (`components = 1`) or vector (`components = 3`) per cell or
/// per point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field<'a> {
    /// Array name shown in ParaView; non-empty, without control characters or `<>&"'`.
    pub name: &'a str,
    /// Values per cell or point: 1 (scalar) or 3 (vector).
    pub components: usize,
    /// `components` values per cell or point, in element or node order, vectors interleaved.
    pub values: &'a [f64],
}

impl<'a> Field<'a> {
    /// A scalar field: one value per cell or point.
    pub fn scalar(name: &'a str, values: &'a [f64]) -> Self {
        Self {
            name,
            components: 1,
            values,
        }
    }

    /// A vector field: `(x, y, z)` per cell or point, interleaved.
    pub fn vector(name: &'a str, values: &'a [f64]) -> Self {
        Self {
            name,
            components: 3,
            values,
        }
    }
}

/// Writes `density` as a VTK XML ImageData file with one cell field, `density`.
///
/// The same as [`write_vti_fields`] with `Field::scalar("density", density)` as the only cell
/// field, no point fields, in ASCII.
pub fn write_vti<W: Write>(
    writer: &mut W,
    density: &[f64],
    elements: [usize; 3],
    element_size_mm: f64,
) -> std::io::Result<()> {
    write_vti_fields(
        writer,
        elements,
        element_size_mm,
        &[Field::scalar("density", density)],
        &[],
        VtiEncoding::Ascii,
    )
}

/// Writes cell and point fields as a VTK XML ImageData file.
///
/// The image has `elements = [nx, ny, nz]` cells of edge `element_size_mm` with the origin at 0,
/// i.e. `WholeExtent="0 nx 0 ny 0 nz"` in points. Each cell field holds
/// `nx·ny·nz·components` values in element order, each point field
/// `(nx+1)·(ny+1)·(nz+1)·components` in node order; all are written as Float64. The first
/// scalar and the first vector of each section become its active `Scalars` and `Vectors`, which
/// ParaView shows by default. `writer` should be buffered, as values are written one line at a
/// time.
///
/// Fails with [`ErrorKind::InvalidInput`], before writing anything, if the element size is not
/// positive and finite, a field has a number of components other than 1 or 3, the wrong number
/// of values or a value that is not finite (VTK's ASCII reader rejects NaN and infinity, so the
/// file would not open), or a name that is empty, not XML-safe or repeated within its section.
pub fn write_vti_fields<W: Write>(
    writer: &mut W,
    elements: [usize; 3],
    element_size_mm: f64,
    cell_fields: &[Field<'_>],
    point_fields: &[Field<'_>],
    encoding: VtiEncoding,
) -> std::io::Result<()> {
    validate(elements, element_size_mm, cell_fields, point_fields)
        .map_err(|message| Error::new(ErrorKind::InvalidInput, message))?;

    let [nx, ny, nz] = elements;
    let h = element_size_mm;
    let compressor = if encoding == VtiEncoding::Compressed {
        " compressor=\"vtkZLibDataCompressor\""
    } else {
        ""
    };
    write!(
        writer,
        "<?xml version=\"1.0\"?>\n\
         <VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\"{compressor}>\n\
         \x20 <ImageData WholeExtent=\"0 {nx} 0 {ny} 0 {nz}\" Origin=\"0 0 0\" Spacing=\"{h:e} {h:e} {h:e}\">\n\
         \x20   <Piece Extent=\"0 {nx} 0 {ny} 0 {nz}\">\n"
    )?;
    // The blocks of the appended arrays, in the order their offsets count them.
    let mut appended = (encoding != VtiEncoding::Ascii).then(Vec::new);
    let zlib = encoding == VtiEncoding::Compressed;
    write_section(writer, Section::Point, point_fields, &mut appended, zlib)?;
    write_section(writer, Section::Cell, cell_fields, &mut appended, zlib)?;
    writer.write_all(b"    </Piece>\n  </ImageData>\n")?;
    if let Some(blocks) = appended {
        writer.write_all(b"  <AppendedData encoding=\"raw\">\n   _")?;
        writer.write_all(&blocks)?;
        writer.write_all(b"\n  </AppendedData>\n")?;
    }
    writer.write_all(b"</VTKFile>\n")
}

/// Checks everything [`write_vti_fields`] promises to reject, so that nothing is written for
/// invalid input.
fn validate(
    elements: [usize; 3],
    element_size_mm: f64,
    cell_fields: &[Field<'_>],
    point_fields: &[Field<'_>],
) -> Result<(), String> {
    if !(element_size_mm.is_finite() && element_size_mm > 0.0) {
        return Err(format!(
            "element size must be positive and finite, got {element_size_mm}"
        ));
    }
    for (section, fields) in [(Section::Cell, cell_fields), (Section::Point, point_fields)] {
        let tuples = section.tuples(elements);
        for (index, field) in fields.iter().enumerate() {
            let name = field.name;
            if !is_xml_safe_name(name) {
                return Err(format!(
                    "{section} field name {name:?} must be non-empty, without control characters or <>&\"'"
                ));
            }
            if fields[..index].iter().any(|other| other.name == name) {
                return Err(format!("two {section} fields are named {name:?}"));
            }
            if !matches!(field.components, 1 | 3) {
                return Err(format!(
                    "{section} field {name:?} has {} components; 1 or 3 are supported",
                    field.components
                ));
            }
            let expected = tuples.and_then(|n| n.checked_mul(field.components));
            if expected != Some(field.values.len()) {
                return Err(format!(
                    "{section} field {name:?} has {} values but elements {elements:?} needs {expected:?}",
                    field.values.len()
                ));
            }
            if let Some(i) = field.values.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "{section} field {name:?}[{i}] is {}",
                    field.values[i]
                ));
            }
        }
    }
    Ok(())
}

/// Whether `name` can go between the quotes of an XML attribute as is and names something.
fn is_xml_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | '&' | '"' | '\''))
}

/// Writes `<PointData>` or `<CellData>` with its arrays: inline as text, or (with `appended`)
/// as references to blocks added to `appended`.
fn write_section<W: Write>(
    writer: &mut W,
    section: Section,
    fields: &[Field<'_>],
    appended: &mut Option<Vec<u8>>,
    zlib: bool,
) -> std::io::Result<()> {
    let element = section.element();
    let mut line = format!("      <{element}");
    for (attribute, components) in [("Scalars", 1), ("Vectors", 3)] {
        if let Some(active) = fields.iter().find(|f| f.components == components) {
            let _ = write!(line, " {attribute}=\"{}\"", active.name);
        }
    }
    line.push_str(">\n");
    writer.write_all(line.as_bytes())?;
    for field in fields {
        line.clear();
        let _ = write!(
            line,
            "        <DataArray type=\"Float64\" Name=\"{}\"",
            field.name
        );
        // Scalars omit the attribute, whose default is 1, as VTK itself writes them.
        if field.components != 1 {
            let _ = write!(line, " NumberOfComponents=\"{}\"", field.components);
        }
        if let Some(blocks) = appended {
            let _ = writeln!(line, " format=\"appended\" offset=\"{}\"/>", blocks.len());
            writer.write_all(line.as_bytes())?;
            blocks.extend_from_slice(&binary::encode(field.values, zlib));
            continue;
        }
        line.push_str(" format=\"ascii\">\n");
        writer.write_all(line.as_bytes())?;
        for chunk in field.values.chunks(VALUES_PER_LINE) {
            line.clear();
            line.push_str("         ");
            for value in chunk {
                // `{:e}` is the shortest string that parses back to the same
                // f64, and unlike `{}` never expands 1e-300 into 300 digits.
                let _ = write!(line, " {value:e}");
            }
            line.push('\n');
            writer.write_all(line.as_bytes())?;
        }
        writer.write_all(b"        </DataArray>\n")?;
    }
    writeln!(writer, "      </{element}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(density: &[f64], elements: [usize; 3], h: f64) -> String {
        let mut bytes = Vec::new();
        write_vti(&mut bytes, density, elements, h).expect("valid input");
        String::from_utf8(bytes).expect("ASCII output")
    }

    /// The value of `name="..."` on the first tag that has it.
    pub(super) fn attribute<'a>(xml: &'a str, name: &str) -> &'a str {
        let start = xml.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        let len = xml[start..].find('"').expect("closing quote");
        &xml[start..start + len]
    }

    /// A 3×2×2 image with awkward values: density, a stress-like cell scalar and a
    /// displacement-like point vector.
    pub(super) fn sample_fields() -> ([usize; 3], f64, [Vec<f64>; 3]) {
        let elements = [3, 2, 2];
        let density: Vec<f64> = (0..12).map(|e| f64::from(e) / 11.0 + 1e-300).collect();
        let stress: Vec<f64> = (0..12).map(|e| (f64::from(e) * 0.7).exp() / 3.0).collect();
        let displacement: Vec<f64> = (0..3 * 36)
            .map(|i| (f64::from(i) * 0.37).sin() * 1e-3 - 5e-324)
            .collect();
        (elements, 0.1 + 0.2, [density, stress, displacement])
    }

    pub(super) fn render_fields(
        elements: [usize; 3],
        h: f64,
        cells: &[Field<'_>],
        points: &[Field<'_>],
    ) -> String {
        let mut bytes = Vec::new();
        write_vti_fields(&mut bytes, elements, h, cells, points, VtiEncoding::Ascii)
            .expect("valid input");
        String::from_utf8(bytes).expect("ASCII output")
    }

    pub(super) fn sample_file() -> String {
        let (elements, h, [density, stress, displacement]) = sample_fields();
        render_fields(
            elements,
            h,
            &[
                Field::scalar("density", &density),
                Field::scalar("von_mises", &stress),
            ],
            &[Field::vector("displacement", &displacement)],
        )
    }

    fn data_values(xml: &str) -> Vec<f64> {
        let open = xml.find("format=\"ascii\">").expect("data array") + 15;
        let close = xml.find("</DataArray>").expect("end of data array");
        xml[open..close]
            .split_whitespace()
            .map(|s| s.parse().expect("number"))
            .collect()
    }

    #[test]
    fn header_describes_the_grid() {
        let xml = render(&[0.5; 24], [4, 3, 2], 2.5);
        assert!(xml.starts_with("<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\""));
        assert_eq!(attribute(&xml, "WholeExtent"), "0 4 0 3 0 2");
        assert_eq!(attribute(&xml, "Extent"), "0 4 0 3 0 2");
        assert_eq!(attribute(&xml, "Origin"), "0 0 0");
        let spacing: Vec<f64> = attribute(&xml, "Spacing")
            .split(' ')
            .map(|s| s.parse().expect("number"))
            .collect();
        assert_eq!(spacing, [2.5; 3]);
        assert_eq!(attribute(&xml, "Scalars"), "density");
        assert!(xml.contains("<DataArray type=\"Float64\" Name=\"density\" format=\"ascii\">"));
    }

    #[test]
    fn values_round_trip_exactly_in_element_order() {
        let elements = [5, 3, 4];
        // Distinct, awkward values: each encodes its own (i, j, k), and the
        // thirds and tiny magnitudes catch lossy formatting.
        let density: Vec<f64> = (0..60)
            .map(|e: usize| {
                let (i, j, k) = (e % 5, (e / 5) % 3, e / 15);
                (100 * k + 10 * j + i) as f64 / 3.0 + 1e-300
            })
            .collect();
        let xml = render(&density, elements, 1.0);
        let values = data_values(&xml);
        assert_eq!(values.len(), 60);
        // Exact equality: the text must reproduce each f64 bit for bit.
        assert_eq!(values, density);
        // Element (i, j, k) = (2, 1, 3) sits at 2 + 5·(1 + 3·3) = 52.
        assert_eq!(values[52], (300 + 10 + 2) as f64 / 3.0 + 1e-300);
    }

    #[test]
    fn tags_are_balanced() {
        let xml = render(&[1.0; 8], [2, 2, 2], 1.0);
        let mut stack = Vec::new();
        for tag in xml.split('<').skip(1) {
            let tag = &tag[..tag.find('>').expect("tag closes")];
            if tag.starts_with('?') {
                continue;
            }
            let name = tag.trim_start_matches('/').split(' ').next().expect("name");
            if tag.starts_with('/') {
                assert_eq!(stack.pop(), Some(name), "mismatched </{name}>");
            } else if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    #[test]
    fn bad_input_is_rejected_before_writing() {
        for (density, elements, h) in [
            (vec![0.0; 7], [2, 2, 2], 1.0),
            (vec![0.0; 8], [2, 2, 2], 0.0),
            (
                vec![0.0, f64::NAN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [2, 2, 2],
                1.0,
            ),
        ] {
            let mut bytes = Vec::new();
            let err = write_vti(&mut bytes, &density, elements, h).expect_err("invalid");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(bytes.is_empty());
        }
    }

    #[test]
    fn vectors_carry_three_components_and_become_active() {
        let xml = sample_file();
        assert!(xml.contains("<PointData Vectors=\"displacement\">"));
        assert!(xml.contains("<CellData Scalars=\"density\">"));
        assert!(xml.contains(
            "<DataArray type=\"Float64\" Name=\"displacement\" NumberOfComponents=\"3\" format=\"ascii\">"
        ));
        assert!(xml.contains("<DataArray type=\"Float64\" Name=\"von_mises\" format=\"ascii\">"));
    }

    #[test]
    fn invalid_fields_are_rejected_before_writing() {
        let cells = [1.0; 8];
        let points = [0.0; 81];
        let nan_points = {
            let mut p = [0.0; 81];
            p[40] = f64::NAN;
            p
        };
        let cases: [(&[Field<'_>], &[Field<'_>]); 8] = [
            (&[], &[Field::vector("u", &points[..80])]),
            (&[], &[Field::scalar("u", &points)]),
            (&[], &[Field::vector("u", &nan_points)]),
            (
                &[Field {
                    name: "pair",
                    components: 2,
                    values: &[0.0; 16],
                }],
                &[],
            ),
            (&[Field::scalar("", &cells)], &[]),
            (&[Field::scalar("a<b", &cells)], &[]),
            (&[Field::scalar("say \"hi\"", &cells)], &[]),
            (
                &[Field::scalar("rho", &cells), Field::scalar("rho", &cells)],
                &[],
            ),
        ];
        for (cell_fields, point_fields) in cases {
            let mut bytes = Vec::new();
            let err = write_vti_fields(
                &mut bytes,
                [2, 2, 2],
                1.0,
                cell_fields,
                point_fields,
                VtiEncoding::Ascii,
            )
            .expect_err("invalid");
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(bytes.is_empty());
        }
        // The same names in different sections are fine.
        let ok = render_fields(
            [2, 2, 2],
            1.0,
            &[Field::scalar("u", &cells)],
            &[Field::vector("u", &points)],
        );
        assert!(read_vti(&ok).is_ok());
    }
}
