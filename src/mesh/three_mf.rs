//! 3MF export (the 3D Manufacturing Format: a zip with an XML model), unit millimetre.
//!
//! 3MF keeps the indexed mesh and its unit, so slicers need not guess the scale or re-merge
//! vertices as they must with STL. Written with the `threemf` crate.

use std::io::{Seek, Write};

use super::TriangleMesh;

/// Writes `mesh` as a one-object 3MF package in millimetres.
pub fn write_3mf<W: Write + Seek>(mesh: &TriangleMesh, writer: W) -> std::io::Result<()> {
    let model = threemf::model::Model {
        unit: threemf::model::Unit::Millimeter,
        ..threemf::Mesh {
            vertices: threemf::model::Vertices {
                vertex: mesh
                    .vertices
                    .iter()
                    .map(|&[x, y, z]| threemf::model::Vertex { x, y, z })
                    .collect(),
            },
            triangles: threemf::model::Triangles {
                triangle: mesh
                    .triangles
                    .iter()
                    .map(|t| threemf::model::Triangle {
                        v1: t[0] as usize,
                        v2: t[1] as usize,
                        v3: t[2] as usize,
                    })
                    .collect(),
            },
        }
        .into()
    };
    ::threemf::write(writer, model).map_err(std::io::Error::other)
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
