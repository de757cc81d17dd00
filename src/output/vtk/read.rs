//! Reading `.vti` files back: the ImageData subset that [`super::write_vti_fields`] writes.
//!
//! The structure expected is
//!
//! ```text
//! VTKFile type="ImageData"
//! └ ImageData WholeExtent="0 nx 0 ny 0 nz" Spacing="h h h"
//!   └ Piece Extent="0 nx 0 ny 0 nz"
//!     └ PointData, CellData
//!       └ DataArray Name="…" type="Float64" [NumberOfComponents="3"] format="ascii"
//! ```
//!
//! with one piece covering the whole extent and equal spacing on all axes (formwerk's elements
//! are cubes). Everything else is either
//! ignored when it cannot change the fields (`Origin`, `FieldData`, comments) or rejected with a
//! [`VtiError`] that says what was found, so that a binary, appended or foreign file is never
//! misread. Values are parsed with Rust's `f64` parser, which inverts the writer's shortest
//! round-trip notation exactly.

use super::binary::{self, Layout, Scalar, Source};
use super::xml::{Event, ScanError, Scanner, Tag, line_of, offset_of};
use super::{Field, Section};

/// A field read back from a `.vti` file.
#[derive(Debug, Clone, PartialEq)]
pub struct VtiField {
    /// Array name.
    pub name: String,
    /// Values per cell or point (`NumberOfComponents`, 1 when absent).
    pub components: usize,
    /// `components` values per cell or point, in element or node order.
    pub values: Vec<f64>,
}

impl VtiField {
    /// This field as a [`Field`], to write it again.
    pub fn as_field(&self) -> Field<'_> {
        Field {
            name: &self.name,
            components: self.components,
            values: &self.values,
        }
    }
}

/// The content of a `.vti` file: the grid and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct VtiImage {
    /// Cells along x, y and z (points minus one).
    pub elements: [usize; 3],
    /// Spacing, equal along all axes: the element edge in mm.
    pub element_size_mm: f64,
    /// `CellData` arrays in file order.
    pub cell_fields: Vec<VtiField>,
    /// `PointData` arrays in file order.
    pub point_fields: Vec<VtiField>,
}

impl VtiImage {
    /// Values of the cell field `name`, if present.
    pub fn cell_field(&self, name: &str) -> Option<&[f64]> {
        find_field(&self.cell_fields, name)
    }

    /// Values of the point field `name`, if present.
    pub fn point_field(&self, name: &str) -> Option<&[f64]> {
        find_field(&self.point_fields, name)
    }
}

fn find_field<'a>(fields: &'a [VtiField], name: &str) -> Option<&'a [f64]> {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| field.values.as_slice())
}

/// Why a `.vti` file cannot be read. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VtiError {
    /// The text is not well-formed XML (or uses XML this reader does not handle).
    #[error("line {line}: not well-formed XML: {problem}")]
    Malformed {
        /// Line of the problem.
        line: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The text ends inside an element or tag, as a file cut short does.
    #[error("the file ends inside {inside}: is it truncated?")]
    Truncated {
        /// The innermost open element, e.g. `<DataArray>`, or `the XML prolog`.
        inside: String,
    },
    /// The root element is not `<VTKFile type="ImageData">`.
    #[error("not a VTK ImageData file: the root is <{root}> with type {kind:?}")]
    NotImageData {
        /// Name of the root element.
        root: String,
        /// Its `type` attribute, if any.
        kind: Option<String>,
    },
    /// A required element is absent.
    #[error("no <{element}> element")]
    MissingElement {
        /// The element.
        element: &'static str,
    },
    /// A required attribute is absent.
    #[error("line {line}: <{element}> has no {attribute} attribute")]
    MissingAttribute {
        /// Line of the element.
        line: usize,
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
    },
    /// An attribute does not hold what it should.
    #[error("line {line}: <{element} {attribute}=\"{value}\"> is invalid: expected {expected}")]
    InvalidAttribute {
        /// Line of the element.
        line: usize,
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The spacing differs between axes; formwerk grids are made of cubes.
    #[error("spacing {spacing:?} is not cubic: formwerk needs equal spacing along x, y and z")]
    NonCubicSpacing {
        /// Spacing along x, y and z.
        spacing: [f64; 3],
    },
    /// More than one `<Piece>`; only single-piece images are read.
    #[error("line {line}: a second <Piece>: only single-piece images are supported")]
    MultiplePieces {
        /// Line of the second piece.
        line: usize,
    },
    /// A data array's format is none of VTK's.
    #[error(
        "line {line}: field {field:?} has format {format:?}: expected ascii, binary or appended"
    )]
    UnsupportedFormat {
        /// Line of the array.
        line: usize,
        /// Its name.
        field: String,
        /// Its `format` attribute (`binary`, `appended`, …).
        format: String,
    },
    /// A binary or appended array cannot be decoded.
    #[error("line {line}: field {field:?}: {problem}")]
    BadBinary {
        /// Line of the array.
        line: usize,
        /// Its name.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// A field's value count does not match the grid.
    #[error("{section} field {field:?} has {found} values but the image needs {expected}")]
    WrongValueCount {
        /// Cell or point data.
        section: Section,
        /// Name of the field.
        field: String,
        /// Points or cells times components.
        expected: usize,
        /// Values in the file.
        found: usize,
    },
    /// A value of a field is not a number.
    #[error("line {line}: field {field:?} value {index} is not a number: {text:?}")]
    UnparsableNumber {
        /// Line of the value.
        line: usize,
        /// Name of the field.
        field: String,
        /// 0-based index of the value within the field.
        index: usize,
        /// The offending text (at most 40 characters).
        text: String,
    },
    /// Two fields of one section share a name.
    #[error("two {section} fields are named {field:?}")]
    DuplicateField {
        /// Cell or point data.
        section: Section,
        /// The name.
        field: String,
    },
}

/// Reads a `.vti` file written by [`write_vti_fields`](super::write_vti_fields) (or any
/// single-piece ImageData file with cubic spacing and inline ASCII arrays).
///
/// `Origin` and `FieldData` are not kept: formwerk images start at 0 and carry no field data.
/// Values are read with Rust's `f64` parser, so the shortest round-trip notation of the writer
/// comes back bit for bit. Fails with the first problem found, in document order.
pub fn read_vti(text: &str) -> Result<VtiImage, VtiError> {
    read_vti_bytes(text.as_bytes())
}

/// [`read_vti`] of a file's bytes, which may hold raw binary `<AppendedData>` (not text).
pub fn read_vti_bytes(bytes: &[u8]) -> Result<VtiImage, VtiError> {
    let (xml, appended) = split_appended(bytes)?;
    let text = std::str::from_utf8(&xml).map_err(|e| VtiError::Malformed {
        line: 1 + xml[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
        problem: "not UTF-8 text",
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut scanner = Scanner::new(text);
    let mut reader = ImageReader::new(text);
    reader.appended = appended;
    while let Some(event) = scanner.next_event().map_err(|e| reader.scan_error(e))? {
        match event {
            Event::Text { content, to_end } => reader.text(content, to_end)?,
            Event::Start(tag) => reader.start(&tag)?,
            Event::End { name, offset } => reader.end(name, offset)?,
        }
    }
    reader.finish()
}

/// The `<AppendedData>` block of a file, cut out before the XML is read (raw bytes may hold
/// anything, `<` included).
struct Appended<'b> {
    /// `encoding="base64"` (else raw).
    base64: bool,
    /// Everything after the `_` that opens the block, up to `</AppendedData>`.
    data: &'b [u8],
}

/// `bytes` without its `<AppendedData>` element, and that element's data.
fn split_appended(
    bytes: &[u8],
) -> Result<(std::borrow::Cow<'_, [u8]>, Option<Appended<'_>>), VtiError> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let Some(start) = find(bytes, b"<AppendedData") else {
        return Ok((bytes.into(), None));
    };
    let line = 1 + bytes[..start].iter().filter(|&&b| b == b'\n').count();
    let truncated = || VtiError::Truncated {
        inside: "<AppendedData>".into(),
    };
    let tag_end = start + find(&bytes[start..], b">").ok_or_else(truncated)?;
    let tag = String::from_utf8_lossy(&bytes[start..tag_end]);
    let base64 = match attribute_in(&tag, "encoding") {
        Some("raw") => false,
        Some("base64") => true,
        other => {
            return Err(VtiError::InvalidAttribute {
                line,
                element: "AppendedData",
                attribute: "encoding",
                value: other.unwrap_or("").to_owned(),
                expected: "raw or base64",
            });
        }
    };
    let underscore = tag_end + find(&bytes[tag_end..], b"_").ok_or_else(truncated)?;
    let close: &[u8] = b"</AppendedData>";
    let end = bytes
        .windows(close.len())
        .rposition(|w| w == close)
        .filter(|&end| end > underscore)
        .ok_or_else(truncated)?;
    let mut xml = bytes[..start].to_vec();
    xml.extend_from_slice(&bytes[end + close.len()..]);
    Ok((
        xml.into(),
        Some(Appended {
            base64,
            data: &bytes[underscore + 1..end],
        }),
    ))
}

/// The value of `name="…"` in the text of a start tag.
fn attribute_in<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = &tag[at..];
    Some(&rest[..rest.find('"')?])
}

/// The state of [`read_vti`] between XML events.
struct ImageReader<'t> {
    text: &'t str,
    /// Names of the open elements, outermost first.
    open: Vec<&'t str>,
    root_seen: bool,
    /// `line_of(text, counted_to)`, kept up to date so that the text is counted once.
    line_at: usize,
    counted_to: usize,
    header: Option<Header>,
    pieces: usize,
    /// The `PointData` or `CellData` array being read, if any.
    array: Option<ArrayReader<'t>>,
    cell_fields: Vec<VtiField>,
    point_fields: Vec<VtiField>,
    /// Header words and compression of binary arrays (from `<VTKFile>`).
    layout: Layout,
    appended: Option<Appended<'t>>,
}

impl<'t> ImageReader<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            open: Vec::new(),
            root_seen: false,
            line_at: 1,
            counted_to: 0,
            header: None,
            pieces: 0,
            array: None,
            cell_fields: Vec::new(),
            point_fields: Vec::new(),
            layout: Layout::default(),
            appended: None,
        }
    }

    /// The line of `offset`. Events come in document order, so counting on from the previous
    /// call reads the text once instead of once per tag.
    fn line(&mut self, offset: usize) -> usize {
        if offset < self.counted_to {
            return line_of(self.text, offset);
        }
        self.line_at += line_of(&self.text[self.counted_to..], offset - self.counted_to) - 1;
        self.counted_to = offset;
        self.line_at
    }

    fn malformed(&mut self, offset: usize, problem: &'static str) -> VtiError {
        VtiError::Malformed {
            line: self.line(offset),
            problem,
        }
    }

    fn truncated(&self) -> VtiError {
        VtiError::Truncated {
            inside: self
                .open
                .last()
                .map_or_else(|| "the XML prolog".to_owned(), |name| format!("<{name}>")),
        }
    }

    fn scan_error(&mut self, error: ScanError) -> VtiError {
        match error {
            ScanError::UnexpectedEnd => self.truncated(),
            ScanError::Malformed { offset, problem } => self.malformed(offset, problem),
        }
    }

    /// Character data: the values of the current array, or whitespace.
    fn text(&mut self, content: &'t str, to_end: bool) -> Result<(), VtiError> {
        // A file cut inside an array ends in text; judge the cut, not the half number.
        if to_end && !self.open.is_empty() {
            return Err(self.truncated());
        }
        if let Some(array) = &mut self.array
            && self.open.last() == Some(&"DataArray")
        {
            return array.push(self.text, content);
        }
        if self.open.is_empty() && !content.trim().is_empty() {
            return Err(self.malformed(
                offset_of(self.text, content),
                "text outside the root element",
            ));
        }
        Ok(())
    }

    /// A start tag: checks the elements that describe the image and opens data arrays.
    fn start(&mut self, tag: &Tag<'t>) -> Result<(), VtiError> {
        let line = self.line(tag.offset);
        let depth = self.open.len();
        match (self.open.last().copied(), tag.name) {
            (None, name) => {
                if self.root_seen {
                    return Err(self.malformed(tag.offset, "a second root element"));
                }
                self.root_seen = true;
                let kind = tag.attribute("type");
                if name != "VTKFile" || kind != Some("ImageData") {
                    return Err(VtiError::NotImageData {
                        root: name.to_owned(),
                        kind: kind.map(str::to_owned),
                    });
                }
                self.layout = layout(tag, line)?;
            }
            (Some("VTKFile"), "ImageData") => {
                if self.header.is_some() {
                    return Err(self.malformed(tag.offset, "a second <ImageData>"));
                }
                self.header = Some(Header::parse(tag, line)?);
            }
            (Some("ImageData"), "Piece") => {
                self.pieces += 1;
                if self.pieces > 1 {
                    return Err(VtiError::MultiplePieces { line });
                }
                let extent = required(tag, "Piece", "Extent", line)?;
                if parse_numbers(extent) != self.header.as_ref().map(|h| h.extent) {
                    return Err(VtiError::InvalidAttribute {
                        line,
                        element: "Piece",
                        attribute: "Extent",
                        value: extent.to_owned(),
                        expected: "the WholeExtent of the image",
                    });
                }
            }
            (Some(parent @ ("PointData" | "CellData")), "DataArray")
                if depth >= 2 && self.open[depth - 2] == "Piece" =>
            {
                let section = if parent == "CellData" {
                    Section::Cell
                } else {
                    Section::Point
                };
                // Inside <Piece>, the header has been read (<ImageData> encloses it) and its
                // counts checked for overflow.
                let elements = self.header.as_ref().map_or([0; 3], |h| h.elements);
                let tuples = section.tuples(elements).unwrap_or(0);
                self.array = Some(ArrayReader::start(tag, line, section, tuples)?);
            }
            _ => {}
        }
        if tag.empty {
            self.finish_array()
        } else {
            self.open.push(tag.name);
            Ok(())
        }
    }

    /// An end tag: checks the nesting and completes data arrays.
    fn end(&mut self, name: &str, offset: usize) -> Result<(), VtiError> {
        match self.open.pop() {
            Some(open) if open == name => {}
            Some(_) => {
                return Err(self.malformed(offset, "closing tag does not match the open element"));
            }
            None => return Err(self.malformed(offset, "closing tag without an open element")),
        }
        if name == "DataArray" {
            self.finish_array()?;
        }
        Ok(())
    }

    fn finish_array(&mut self) -> Result<(), VtiError> {
        let Some(mut array) = self.array.take() else {
            return Ok(());
        };
        array.decode(self.layout, self.appended.as_ref())?;
        let fields = match array.section {
            Section::Cell => &mut self.cell_fields,
            Section::Point => &mut self.point_fields,
        };
        array.finish(fields)
    }

    /// The image, once the text has ended.
    fn finish(self) -> Result<VtiImage, VtiError> {
        if !self.open.is_empty() {
            return Err(self.truncated());
        }
        let Some(header) = self.header else {
            return Err(VtiError::MissingElement {
                element: if self.root_seen {
                    "ImageData"
                } else {
                    "VTKFile"
                },
            });
        };
        if self.pieces == 0 {
            return Err(VtiError::MissingElement { element: "Piece" });
        }
        Ok(VtiImage {
            elements: header.elements,
            element_size_mm: header.spacing,
            cell_fields: self.cell_fields,
            point_fields: self.point_fields,
        })
    }
}

/// How `<VTKFile>` says binary arrays are laid out.
fn layout(tag: &Tag<'_>, line: usize) -> Result<Layout, VtiError> {
    let invalid = |attribute, value: &str, expected| VtiError::InvalidAttribute {
        line,
        element: "VTKFile",
        attribute,
        value: value.to_owned(),
        expected,
    };
    let header64 = match tag.attribute("header_type") {
        None | Some("UInt32") => false,
        Some("UInt64") => true,
        Some(other) => return Err(invalid("header_type", other, "UInt32 or UInt64")),
    };
    match tag.attribute("byte_order") {
        None | Some("LittleEndian") => {}
        Some(other) => {
            return Err(invalid(
                "byte_order",
                other,
                "LittleEndian (big-endian files are not read)",
            ));
        }
    }
    let zlib = match tag.attribute("compressor") {
        None | Some("") => false,
        Some("vtkZLibDataCompressor") => true,
        Some(other) => {
            return Err(invalid(
                "compressor",
                other,
                "vtkZLibDataCompressor or none (save with zlib or no compression in ParaView)",
            ));
        }
    };
    Ok(Layout { header64, zlib })
}

/// What `<ImageData>` says about the grid.
struct Header {
    /// `WholeExtent` as written: `[x0, x1, y0, y1, z0, z1]`.
    extent: [i64; 6],
    /// Cells along x, y and z; their point count fits in `usize`.
    elements: [usize; 3],
    /// The common spacing, mm.
    spacing: f64,
}

impl Header {
    fn parse(tag: &Tag<'_>, line: usize) -> Result<Self, VtiError> {
        let invalid = |attribute, value: &str, expected| VtiError::InvalidAttribute {
            line,
            element: "ImageData",
            attribute,
            value: value.to_owned(),
            expected,
        };
        let extent_text = required(tag, "ImageData", "WholeExtent", line)?;
        let extent_error = || {
            invalid(
                "WholeExtent",
                extent_text,
                "six integers x0 x1 y0 y1 z0 z1 with x0 ≤ x1, …",
            )
        };
        let extent: [i64; 6] = parse_numbers(extent_text).ok_or_else(extent_error)?;
        let mut elements = [0; 3];
        for axis in 0..3 {
            let count = extent[2 * axis + 1].checked_sub(extent[2 * axis]);
            elements[axis] = count
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(extent_error)?;
        }
        // Points are the larger count; if they fit, so do the cells.
        Section::Point.tuples(elements).ok_or_else(extent_error)?;

        let spacing_text = required(tag, "ImageData", "Spacing", line)?;
        let spacing: [f64; 3] = parse_numbers(spacing_text)
            .filter(|s: &[f64; 3]| s.iter().all(|h| h.is_finite() && *h > 0.0))
            .ok_or_else(|| invalid("Spacing", spacing_text, "three positive numbers"))?;
        if spacing[1] != spacing[0] || spacing[2] != spacing[0] {
            return Err(VtiError::NonCubicSpacing { spacing });
        }
        Ok(Self {
            extent,
            elements,
            spacing: spacing[0],
        })
    }
}

/// Exactly `N` whitespace-separated numbers.
fn parse_numbers<T: std::str::FromStr + Copy + Default, const N: usize>(
    text: &str,
) -> Option<[T; N]> {
    let mut values = [T::default(); N];
    let mut words = text.split_ascii_whitespace();
    for value in &mut values {
        *value = words.next()?.parse().ok()?;
    }
    words.next().is_none().then_some(values)
}

/// How a data array is stored.
enum Storage {
    /// Numbers as text inside the element.
    Ascii,
    /// Base64 inside the element, gathered here.
    Binary(String),
    /// In `<AppendedData>`, at this offset (bytes, or characters in base64).
    Appended(usize),
}

/// A `<DataArray>` of `PointData` or `CellData` being read.
struct ArrayReader<'t> {
    section: Section,
    name: &'t str,
    components: usize,
    tuples: usize,
    values: Vec<f64>,
    storage: Storage,
    scalar: Scalar,
    line: usize,
}

impl<'t> ArrayReader<'t> {
    fn start(
        tag: &Tag<'t>,
        line: usize,
        section: Section,
        tuples: usize,
    ) -> Result<Self, VtiError> {
        let name = required(tag, "DataArray", "Name", line)?;
        let format = required(tag, "DataArray", "format", line)?;
        let storage = match format {
            "ascii" => Storage::Ascii,
            "binary" => Storage::Binary(String::new()),
            "appended" => {
                let offset = required(tag, "DataArray", "offset", line)?;
                Storage::Appended(offset.trim().parse().map_err(|_| {
                    VtiError::InvalidAttribute {
                        line,
                        element: "DataArray",
                        attribute: "offset",
                        value: offset.to_owned(),
                        expected: "a byte offset into <AppendedData>",
                    }
                })?)
            }
            _ => {
                return Err(VtiError::UnsupportedFormat {
                    line,
                    field: name.to_owned(),
                    format: format.to_owned(),
                });
            }
        };
        let data_type = required(tag, "DataArray", "type", line)?;
        // Integers and floats all read as f64; `String` and `Bit` arrays are not numbers.
        let Some(scalar) = Scalar::parse(data_type) else {
            return Err(VtiError::InvalidAttribute {
                line,
                element: "DataArray",
                attribute: "type",
                value: data_type.to_owned(),
                expected: "a numeric type such as Float64",
            });
        };
        let components = match tag.attribute("NumberOfComponents") {
            None => 1,
            Some(text) => text.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                VtiError::InvalidAttribute {
                    line,
                    element: "DataArray",
                    attribute: "NumberOfComponents",
                    value: text.to_owned(),
                    expected: "a positive integer",
                }
            })?,
        };
        Ok(Self {
            section,
            name,
            components,
            tuples,
            values: Vec::new(),
            storage,
            scalar,
            line,
        })
    }

    /// Parses the numbers in `content`, a slice of `text` (or keeps its base64).
    fn push(&mut self, text: &str, content: &str) -> Result<(), VtiError> {
        match &mut self.storage {
            Storage::Ascii => {}
            Storage::Binary(base64) => {
                base64.push_str(content);
                return Ok(());
            }
            Storage::Appended(_) => return Ok(()),
        }
        for word in content.split_ascii_whitespace() {
            let value = word.parse().map_err(|_| VtiError::UnparsableNumber {
                line: line_of(text, offset_of(text, word)),
                field: self.name.to_owned(),
                index: self.values.len(),
                text: word.chars().take(40).collect(),
            })?;
            self.values.push(value);
        }
        Ok(())
    }

    /// Decodes a binary or appended array (an ASCII one is read already).
    fn decode(&mut self, layout: Layout, appended: Option<&Appended<'_>>) -> Result<(), VtiError> {
        let count = self.tuples.saturating_mul(self.components);
        let source = match &self.storage {
            Storage::Ascii => return Ok(()),
            Storage::Binary(text) => Source::Base64 {
                text: text.trim().as_bytes(),
                whole: true,
            },
            Storage::Appended(offset) => {
                let Some(block) = appended else {
                    return Err(VtiError::MissingElement {
                        element: "AppendedData",
                    });
                };
                let data = block.data.get(*offset..).unwrap_or_default();
                if block.base64 {
                    Source::Base64 {
                        text: data,
                        whole: false,
                    }
                } else {
                    Source::Raw(data)
                }
            }
        };
        self.values = binary::decode(source, layout, self.scalar, count).map_err(|problem| {
            VtiError::BadBinary {
                line: self.line,
                field: self.name.to_owned(),
                problem,
            }
        })?;
        Ok(())
    }

    /// Checks the count and adds the field to `fields`, those of its section read so far.
    fn finish(self, fields: &mut Vec<VtiField>) -> Result<(), VtiError> {
        let expected = self.tuples.saturating_mul(self.components);
        if self.values.len() != expected {
            return Err(VtiError::WrongValueCount {
                section: self.section,
                field: self.name.to_owned(),
                expected,
                found: self.values.len(),
            });
        }
        if fields.iter().any(|f| f.name == self.name) {
            return Err(VtiError::DuplicateField {
                section: self.section,
                field: self.name.to_owned(),
            });
        }
        fields.push(VtiField {
            name: self.name.to_owned(),
            components: self.components,
            values: self.values,
        });
        Ok(())
    }
}

/// The value of a required attribute of `tag`, the `element` of that name at `line`.
fn required<'t>(
    tag: &Tag<'t>,
    element: &'static str,
    attribute: &'static str,
    line: usize,
) -> Result<&'t str, VtiError> {
    tag.attribute(attribute).ok_or(VtiError::MissingAttribute {
        line,
        element,
        attribute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::vtk::tests::{attribute, render_fields, sample_fields, sample_file};

    #[test]
    fn fields_round_trip_bit_exact() {
        let (elements, h, [density, stress, displacement]) = sample_fields();
        let image = read_vti(&sample_file()).expect("own file reads back");
        assert_eq!(image.elements, elements);
        assert_eq!(image.element_size_mm.to_bits(), h.to_bits());
        let bits = |values: &[f64]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(image.cell_field("density").expect("density")),
            bits(&density)
        );
        assert_eq!(
            bits(image.cell_field("von_mises").expect("stress")),
            bits(&stress)
        );
        let read_back = image.point_field("displacement").expect("displacement");
        assert_eq!(bits(read_back), bits(&displacement));
        assert_eq!(image.point_fields[0].components, 3);
        assert_eq!(image.cell_fields.len(), 2);
        assert_eq!(image.cell_field("displacement"), None);
        assert_eq!(image.point_field("density"), None);

        // Writing what was read reproduces the file byte for byte.
        let cells: Vec<Field<'_>> = image.cell_fields.iter().map(VtiField::as_field).collect();
        let points: Vec<Field<'_>> = image.point_fields.iter().map(VtiField::as_field).collect();
        let again = render_fields(image.elements, image.element_size_mm, &cells, &points);
        assert_eq!(again, sample_file());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let xml = sample_file();
        let end = xml.trim_end().len();
        for cut in (0..end).filter(|&cut| xml.is_char_boundary(cut)) {
            let prefix = &xml[..cut];
            assert!(
                read_vti(prefix).is_err(),
                "prefix of {cut} bytes was accepted"
            );
        }
        let mid_data = &xml[..xml.find("</DataArray>").expect("array") - 20];
        assert_eq!(
            read_vti(mid_data),
            Err(VtiError::Truncated {
                inside: "<DataArray>".to_owned()
            })
        );
        assert!(
            read_vti(mid_data)
                .expect_err("cut")
                .to_string()
                .contains("truncated")
        );
    }

    #[test]
    fn wrong_value_counts_are_reported() {
        let xml = sample_file();
        // Drop the last density value: the first "</DataArray>" after the CellData opens.
        let cell_data = xml.find("<CellData").expect("cell data");
        let close = cell_data
            + xml[cell_data..]
                .find("\n        </DataArray>")
                .expect("end");
        let last_value = xml[..close].rfind(' ').expect("value");
        let short = format!("{}{}", &xml[..last_value], &xml[close..]);
        assert_eq!(
            read_vti(&short),
            Err(VtiError::WrongValueCount {
                section: Section::Cell,
                field: "density".to_owned(),
                expected: 12,
                found: 11
            })
        );
        let long = format!("{} 1.0{}", &xml[..close], &xml[close..]);
        assert!(matches!(
            read_vti(&long),
            Err(VtiError::WrongValueCount { found: 13, .. })
        ));
        // A grid that disagrees with the data.
        let other_grid = xml.replace("0 3 0 2 0 2", "0 3 0 2 0 3");
        assert!(matches!(
            read_vti(&other_grid),
            Err(VtiError::WrongValueCount {
                section: Section::Point,
                expected: 144,
                found: 108,
                ..
            })
        ));
    }

    #[test]
    fn binary_and_appended_data_are_read_and_bad_ones_named() {
        let binary = "<?xml version=\"1.0\"?>\n<VTKFile type=\"ImageData\" version=\"1.0\" header_type=\"UInt64\">\n\
            <ImageData WholeExtent=\"0 1 0 1 0 1\" Origin=\"0 0 0\" Spacing=\"1 1 1\">\n\
            <Piece Extent=\"0 1 0 1 0 1\">\n<PointData>\n</PointData>\n<CellData Scalars=\"density\">\n\
            <DataArray type=\"Float64\" Name=\"density\" format=\"binary\">\n\
            CAAAAAAAAAAAAAAAAADwPw==\n</DataArray>\n</CellData>\n</Piece>\n</ImageData>\n</VTKFile>\n";
        let image = read_vti(binary).expect("inline base64");
        assert_eq!(image.cell_field("density"), Some(&[1.0][..]));
        // With UInt32 headers (the default) the same bytes say 8 bytes and hold 12: refused.
        let err = read_vti(&binary.replace(" header_type=\"UInt64\"", "")).unwrap_err();
        assert!(matches!(err, VtiError::BadBinary { line: 8, .. }), "{err}");

        let appended = binary
            .replace(
                "format=\"binary\">\nCAAAAAAAAAAAAAAAAADwPw==\n</DataArray>",
                "format=\"appended\" offset=\"0\"/>",
            )
            .replace(
                "</VTKFile>",
                "<AppendedData encoding=\"raw\">_\u{1}<\u{0}\u{ff}</AppendedData>\n</VTKFile>",
            );
        let err = read_vti(&appended).unwrap_err();
        assert!(err.to_string().contains("ends early"), "{err}");
        // An appended block no array points into is cut out unread.
        let only_block = sample_file().replace(
            "</ImageData>",
            "</ImageData>\n<AppendedData encoding=\"raw\">_<<&\"</AppendedData>",
        );
        assert!(read_vti(&only_block).is_ok());
        let unknown = sample_file().replace(
            "</ImageData>",
            "</ImageData>\n<AppendedData encoding=\"hex\">_00</AppendedData>",
        );
        assert!(matches!(
            read_vti(&unknown),
            Err(VtiError::InvalidAttribute {
                attribute: "encoding",
                ..
            })
        ));
        let lz4 = binary.replace(
            "version=\"1.0\"",
            "version=\"1.0\" compressor=\"vtkLZ4DataCompressor\"",
        );
        assert!(matches!(
            read_vti(&lz4),
            Err(VtiError::InvalidAttribute {
                attribute: "compressor",
                ..
            })
        ));
        let other = binary.replace("format=\"binary\"", "format=\"hex\"");
        assert!(matches!(
            read_vti(&other),
            Err(VtiError::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn garbage_and_other_files_are_rejected() {
        assert_eq!(
            read_vti(""),
            Err(VtiError::MissingElement { element: "VTKFile" })
        );
        assert!(matches!(
            read_vti("solid part\nfacet normal 0 0 1\n"),
            Err(VtiError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            read_vti("<<<>>>"),
            Err(VtiError::Malformed { .. })
        ));
        assert!(matches!(
            read_vti("\u{0}\u{7f}\u{fffd}<\u{fffd}"),
            Err(VtiError::Malformed { .. })
        ));
        assert!(matches!(
            read_vti("<a><b></a></b>"),
            Err(VtiError::NotImageData { .. })
        ));
        assert!(matches!(
            read_vti("<VTKFile type=\"ImageData\"><ImageData></VTKFile>"),
            Err(VtiError::MissingAttribute {
                attribute: "WholeExtent",
                ..
            })
        ));
        assert!(matches!(
            read_vti("<VTKFile type=\"ImageData\"><x></y></VTKFile>"),
            Err(VtiError::Malformed {
                problem: "closing tag does not match the open element",
                ..
            })
        ));
        let poly = "<?xml version=\"1.0\"?>\n<VTKFile type=\"PolyData\"><PolyData/></VTKFile>";
        assert_eq!(
            read_vti(poly),
            Err(VtiError::NotImageData {
                root: "VTKFile".to_owned(),
                kind: Some("PolyData".to_owned())
            })
        );
        let xml = sample_file();
        let trailing = format!("{xml}junk");
        assert!(matches!(
            read_vti(&trailing),
            Err(VtiError::Malformed { .. })
        ));
    }

    #[test]
    fn header_problems_are_named() {
        let xml = sample_file();
        let spacing = attribute(&xml, "Spacing").to_owned();
        let without = |attr: &str| {
            let value = attribute(&xml, attr);
            xml.replacen(&format!(" {attr}=\"{value}\""), "", 1)
        };
        assert!(matches!(
            read_vti(&without("WholeExtent")),
            Err(VtiError::MissingAttribute {
                line: 3,
                element: "ImageData",
                attribute: "WholeExtent"
            })
        ));
        assert!(matches!(
            read_vti(&without("Spacing")),
            Err(VtiError::MissingAttribute {
                attribute: "Spacing",
                ..
            })
        ));
        let stretched = xml.replace(&spacing, "1 1 2");
        assert_eq!(
            read_vti(&stretched),
            Err(VtiError::NonCubicSpacing {
                spacing: [1.0, 1.0, 2.0]
            })
        );
        assert!(
            read_vti(&stretched)
                .expect_err("non-cubic")
                .to_string()
                .contains("not cubic")
        );
        for bad in ["1 1", "0 0 0", "a b c"] {
            assert!(matches!(
                read_vti(&xml.replace(&spacing, bad)),
                Err(VtiError::InvalidAttribute {
                    attribute: "Spacing",
                    ..
                })
            ));
        }
        let wrong_piece = xml.replace(
            "<Piece Extent=\"0 3 0 2 0 2\"",
            "<Piece Extent=\"0 3 0 2 0 1\"",
        );
        assert!(matches!(
            read_vti(&wrong_piece),
            Err(VtiError::InvalidAttribute {
                element: "Piece",
                ..
            })
        ));
        let two_pieces = xml.replace(
            "</Piece>",
            "</Piece>\n<Piece Extent=\"0 3 0 2 0 2\"></Piece>",
        );
        assert!(matches!(
            read_vti(&two_pieces),
            Err(VtiError::MultiplePieces { .. })
        ));
        let huge = xml.replace("0 3 0 2 0 2", "0 9223372036854775807 0 2 0 2");
        assert!(matches!(
            read_vti(&huge),
            Err(VtiError::InvalidAttribute {
                attribute: "WholeExtent",
                ..
            })
        ));
    }

    #[test]
    fn unparsable_numbers_give_field_index_and_line() {
        let xml = sample_file();
        let data = xml.find("Name=\"von_mises\"").expect("array");
        // 1-based line of the tag: the partial last line counts as one.
        let line = xml[..data].lines().count();
        // The seventh von Mises value starts the second data line of that array.
        let second_line = data + xml[data..].find('\n').expect("line") + 1;
        let second_line = second_line + xml[second_line..].find('\n').expect("line") + 1;
        let value_start = second_line + 10;
        let mut broken = xml.clone();
        broken.insert(value_start, 'x');
        let err = read_vti(&broken).expect_err("not a number");
        let first_value = xml[value_start..]
            .split_ascii_whitespace()
            .next()
            .expect("value");
        assert_eq!(
            err,
            VtiError::UnparsableNumber {
                line: line + 2,
                field: "von_mises".to_owned(),
                index: 6,
                text: format!("x{first_value}"),
            }
        );
        assert!(err.to_string().contains("value 6"));
    }
}
