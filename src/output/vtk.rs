//! Density fields as VTK XML ImageData (`.vti`) for ParaView.
//!
//! The voxel grid maps directly onto VTK's image data: a uniform grid whose
//! cells are the elements, so the density goes in `CellData` with no
//! resampling. VTK orders cells with x fastest, then y, then z, which is
//! exactly the element order `i + nx·(j + ny·k)` used throughout the crate.
//! Values are written as ASCII in shortest round-trip notation, so the file
//! reproduces the f64 densities bit for bit and stays diffable. The format is
//! described in "VTK File Formats", VTK User's Guide (Kitware, 11th ed.,
//! 2010), section "XML File Formats".

use std::fmt::Write as _;
use std::io::{Error, ErrorKind, Write};

/// Values per line of the ASCII data array.
const VALUES_PER_LINE: usize = 6;

/// Writes `density` as a VTK XML ImageData file.
///
/// The image has `elements = [nx, ny, nz]` cells of edge `element_size_mm`
/// with the origin at 0, i.e. `WholeExtent="0 nx 0 ny 0 nz"` in points, and
/// one Float64 cell array `density` in element order `i + nx·(j + ny·k)`,
/// which is VTK's cell order. `writer` should be buffered, as values are
/// written one line at a time.
///
/// Fails with [`ErrorKind::InvalidInput`], before writing anything, if
/// `density.len()` is not `nx·ny·nz`, if the element size is not positive and
/// finite, or if a density is not finite (VTK's ASCII reader rejects NaN and
/// infinity, so the file would not open).
pub fn write_vti<W: Write>(
    writer: &mut W,
    density: &[f64],
    elements: [usize; 3],
    element_size_mm: f64,
) -> std::io::Result<()> {
    let [nx, ny, nz] = elements;
    let invalid = |message: String| Err(Error::new(ErrorKind::InvalidInput, message));
    let count = nx.checked_mul(ny).and_then(|n| n.checked_mul(nz));
    if count != Some(density.len()) {
        return invalid(format!(
            "density has {} values but elements {elements:?} needs {count:?}",
            density.len()
        ));
    }
    if !(element_size_mm.is_finite() && element_size_mm > 0.0) {
        return invalid(format!(
            "element size must be positive and finite, got {element_size_mm}"
        ));
    }
    if let Some(e) = density.iter().position(|d| !d.is_finite()) {
        return invalid(format!("density[{e}] is {}", density[e]));
    }

    let h = element_size_mm;
    write!(
        writer,
        "<?xml version=\"1.0\"?>\n\
         <VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n\
         \x20 <ImageData WholeExtent=\"0 {nx} 0 {ny} 0 {nz}\" Origin=\"0 0 0\" Spacing=\"{h:e} {h:e} {h:e}\">\n\
         \x20   <Piece Extent=\"0 {nx} 0 {ny} 0 {nz}\">\n\
         \x20     <PointData>\n\
         \x20     </PointData>\n\
         \x20     <CellData Scalars=\"density\">\n\
         \x20       <DataArray type=\"Float64\" Name=\"density\" format=\"ascii\">\n"
    )?;
    let mut line = String::new();
    for chunk in density.chunks(VALUES_PER_LINE) {
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
    writer.write_all(
        b"        </DataArray>\n      </CellData>\n    </Piece>\n  </ImageData>\n</VTKFile>\n",
    )
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
    fn attribute<'a>(xml: &'a str, name: &str) -> &'a str {
        let start = xml.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        let len = xml[start..].find('"').expect("closing quote");
        &xml[start..start + len]
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
}
