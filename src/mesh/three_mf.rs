//! 3MF export (the 3D Manufacturing Format: a zip with an XML model), unit millimetre.
//!
//! 3MF keeps the indexed mesh and its unit, so slicers need not guess the scale or re-merge
//! vertices as they must with STL. The package is the minimal one of the 3MF Core
//! Specification (3MF Consortium, v1.3, §2–3): `[Content_Types].xml`, `_rels/.rels` pointing at
//! the model part, and the model at its conventional name `3D/3dmodel.model` (which some readers
//! expect), with one object and one build item. Coordinates are written in shortest round-trip
//! notation, so the file holds the mesh's values exactly.

use std::fmt::Write as _;
use std::io::{Seek, Write};

use zip::write::SimpleFileOptions;

use super::TriangleMesh;

/// Where the model part lives in the package.
pub const MODEL_PART: &str = "3D/3dmodel.model";

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
 <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
 <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>
</Types>
"#;

const RELATIONSHIPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
 <Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>
"#;

/// Writes `mesh` as a one-object 3MF package in millimetres.
pub fn write_3mf<W: Write + Seek>(mesh: &TriangleMesh, writer: W) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new(writer);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let parts = [
        ("[Content_Types].xml", CONTENT_TYPES.to_string()),
        ("_rels/.rels", RELATIONSHIPS.to_string()),
        (MODEL_PART, model_xml(mesh)),
    ];
    for (name, text) in parts {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(text.as_bytes())?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

/// The model part: one mesh object, built once.
fn model_xml(mesh: &TriangleMesh) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <model unit=\"millimeter\" xml:lang=\"en-US\" xmlns=\"http://schemas.microsoft.com/3dmanufacturing/core/2015/02\">\n\
         <resources>\n<object id=\"1\" type=\"model\">\n<mesh>\n<vertices>\n",
    );
    for [x, y, z] in &mesh.vertices {
        let _ = writeln!(xml, "<vertex x=\"{x}\" y=\"{y}\" z=\"{z}\"/>");
    }
    xml.push_str("</vertices>\n<triangles>\n");
    for [a, b, c] in &mesh.triangles {
        let _ = writeln!(xml, "<triangle v1=\"{a}\" v2=\"{b}\" v3=\"{c}\"/>");
    }
    xml.push_str(
        "</triangles>\n</mesh>\n</object>\n</resources>\n<build>\n<item objectid=\"1\"/>\n</build>\n</model>\n",
    );
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_reader() {
        let mesh = TriangleMesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [1.5, 0.0, 0.0],
                [0.0, 2.0, 0.0],
                [0.0, 0.0, 3.25],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        };
        let mut buffer = std::io::Cursor::new(Vec::new());
        write_3mf(&mesh, &mut buffer).unwrap();
        buffer.set_position(0);
        let names: Vec<String> = zip::ZipArchive::new(&mut buffer)
            .unwrap()
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect();
        assert!(names.contains(&MODEL_PART.to_string()), "{names:?}");
        buffer.set_position(0);
        let models = threemf::read(buffer).unwrap();
        let object = &models[0].resources.object[0];
        let read = object.mesh.as_ref().unwrap();
        assert!(matches!(models[0].unit, threemf::model::Unit::Millimeter));
        assert_eq!(read.vertices.vertex.len(), 4);
        assert_eq!(read.triangles.triangle.len(), 4);
        assert_eq!(read.vertices.vertex[3].z, 3.25);
        assert_eq!(
            (read.triangles.triangle[0].v2, read.triangles.triangle[0].v3),
            (2, 1)
        );
    }
}
