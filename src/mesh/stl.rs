//! Binary STL export.
//!
//! Binary STL (3D Systems' StereoLithography format: an 80-byte header, a
//! triangle count, then per facet a normal, three vertices as little-endian
//! f32 and a 16-bit attribute) is what every slicer accepts, and is far
//! smaller than ASCII STL. The format has no unit; by convention, followed
//! here, coordinates are millimetres. Encoding is delegated to `stl_io`; this
//! module converts the indexed mesh and supplies unit facet normals, which
//! some tools use instead of recomputing them from the vertex order.

use std::io::{Error, ErrorKind, Write};

use stl_io::{Normal, Triangle, Vertex};

use super::{TriangleMesh, cross, sub};

/// Reads an STL file (binary or ASCII); vertices with identical coordinates are merged, so the
/// indexed mesh shows the file's real connectivity. A binary file shorter or longer than its
/// triangle count says, and a vertex with a coordinate that is not finite, are errors
/// ([`ErrorKind::InvalidData`]) that say so.
pub fn read_stl<R: std::io::Read + std::io::Seek>(reader: &mut R) -> std::io::Result<TriangleMesh> {
    check_binary_length(reader)?;
    let indexed = stl_io::read_stl(reader).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => Error::new(
            ErrorKind::InvalidData,
            "the file ends in the middle of a facet: it is truncated",
        ),
        _ => e,
    })?;
    // Named by the first facet (in file order, counted from 1) that uses such a vertex.
    let finite = |v: &Vertex| [v[0], v[1], v[2]].iter().all(|c| c.is_finite());
    if let Some((facet, corner, v)) = (indexed.faces.iter().enumerate()).find_map(|(f, face)| {
        (face.vertices.iter().enumerate())
            .map(|(k, &i)| (k, &indexed.vertices[i]))
            .find(|(_, v)| !finite(v))
            .map(|(k, v)| (f + 1, k + 1, v))
    }) {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "facet {facet}, corner {corner}, has a coordinate that is not a finite number ({}, {}, {})",
                v[0], v[1], v[2]
            ),
        ));
    }
    let vertices = indexed
        .vertices
        .iter()
        .map(|v| [v[0], v[1], v[2]].map(f64::from))
        .collect();
    let triangles = indexed
        .faces
        .iter()
        .map(|f| {
            let [a, b, c] = f.vertices;
            let index = |i: usize| {
                u32::try_from(i)
                    .map_err(|_| Error::new(ErrorKind::InvalidData, "too many vertices"))
            };
            Ok([index(a)?, index(b)?, index(c)?])
        })
        .collect::<std::io::Result<_>>()?;
    Ok(TriangleMesh {
        vertices,
        triangles,
    })
}

/// A binary STL is an 84-byte header and count and 50 bytes per facet; one whose length differs
/// is truncated or has trailing data, which the reader would otherwise report as a bare
/// end-of-file. A file that starts with `solid` and does not fit the count is left to the ASCII
/// reader. Leaves the reader at the start.
fn check_binary_length<R: std::io::Read + std::io::Seek>(reader: &mut R) -> std::io::Result<()> {
    use std::io::SeekFrom;
    let length = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    let mut head = [0u8; 84];
    let complete = length >= 84 && reader.read_exact(&mut head).is_ok();
    reader.seek(SeekFrom::Start(0))?;
    if !complete {
        return if length >= 5 {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::InvalidData,
                format!("{length} bytes are too few for an STL file"),
            ))
        };
    }
    let count = u64::from(u32::from_le_bytes([head[80], head[81], head[82], head[83]]));
    let expected = 84 + 50 * count;
    if length == expected || head.starts_with(b"solid") {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidData,
        if length < expected {
            format!(
                "the binary header counts {count} facets ({expected} bytes) but the file has {length} bytes: it is truncated"
            )
        } else {
            format!(
                "the binary header counts {count} facets ({expected} bytes) but the file has {length} bytes: there is data after the last facet"
            )
        },
    ))
}

/// Writes `mesh` as binary STL in millimetres.
///
/// Each facet gets the unit right-hand normal of its vertex order (outward
/// for meshes from [`extract_isosurface`](super::extract_isosurface)), or a
/// zero normal for a zero-area facet, which the format allows. Fails with
/// [`ErrorKind::InvalidInput`] before writing anything if a triangle refers
/// to a missing vertex or there are more triangles than the format's 32-bit
/// count can hold, and passes on any error of `writer`.
pub fn write_binary_stl<W: Write>(mesh: &TriangleMesh, writer: &mut W) -> std::io::Result<()> {
    if u32::try_from(mesh.triangles.len()).is_err() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{} triangles exceed the binary STL limit of {}",
                mesh.triangles.len(),
                u32::MAX
            ),
        ));
    }
    if let Some((t, tri)) = mesh
        .triangles
        .iter()
        .enumerate()
        .find(|(_, tri)| tri.iter().any(|&i| i as usize >= mesh.vertices.len()))
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "triangle {t} {tri:?} refers to a vertex past the {} that exist",
                mesh.vertices.len()
            ),
        ));
    }
    let facets = mesh.triangles.iter().map(|tri| {
        let [a, b, c] = tri.map(|i| mesh.vertices[i as usize]);
        Triangle {
            normal: Normal::new(unit_normal(a, b, c)),
            vertices: [a, b, c].map(|v| Vertex::new(v.map(|x| x as f32))),
        }
    });
    stl_io::write_stl(writer, facets)
}

/// Unit right-hand normal of triangle `(a, b, c)` as f32, computed in f64 so
/// that small facets far from the origin still get an accurate direction.
fn unit_normal(a: [f64; 3], b: [f64; 3], c: [f64; 3]) -> [f32; 3] {
    let n = cross(sub(b, a), sub(c, a));
    let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    if length > 0.0 && length.is_finite() {
        n.map(|x| (x / length) as f32)
    } else {
        [0.0; 3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Tetrahedron with outward faces, off the origin so that coordinates
    /// differ per axis.
    fn tetrahedron() -> TriangleMesh {
        TriangleMesh {
            vertices: vec![
                [1.0, 2.0, 3.0],
                [4.5, 2.0, 3.0],
                [1.0, 5.25, 3.0],
                [1.0, 2.0, 7.125],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        }
    }

    #[test]
    fn round_trip_preserves_vertices_order_and_normals() {
        let mesh = tetrahedron();
        let mut bytes = Vec::new();
        write_binary_stl(&mesh, &mut bytes).expect("writing to a Vec cannot fail");
        // 80-byte header, 4-byte count, 50 bytes per facet.
        assert_eq!(bytes.len(), 84 + 50 * mesh.triangles.len());

        let read = stl_io::read_stl(&mut Cursor::new(bytes)).expect("valid STL");
        assert_eq!(read.faces.len(), mesh.triangles.len());
        let centroid = [1.875, 2.8125, 4.03125];
        for (face, tri) in read.faces.iter().zip(&mesh.triangles) {
            for (&index, &original) in face.vertices.iter().zip(tri) {
                let expected = mesh.vertices[original as usize].map(|x| x as f32);
                // These coordinates are exact in f32, so compare exactly.
                assert_eq!(read.vertices[index].0, expected);
            }
            let n = face.normal.0;
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!((length - 1.0).abs() < 1e-6, "normal {n:?} is not unit");
            // Outward: points away from the centroid of the solid.
            let a = mesh.vertices[tri[0] as usize];
            let outward: f64 = (0..3).map(|i| f64::from(n[i]) * (a[i] - centroid[i])).sum();
            assert!(outward > 0.0, "normal {n:?} points inward");
        }
        // The bottom face (z = 3) must face -z exactly.
        assert_eq!(read.faces[0].normal.0, [0.0, 0.0, -1.0]);
        // The slanted face's normal is (1/a, 1/b, 1/c) normalised for the
        // intercepts a, b, c = 3.5, 3.25, 4.125 of the plane through it.
        let inverse = [1.0 / 3.5, 1.0 / 3.25, 1.0 / 4.125];
        let norm = inverse.iter().map(|x: &f64| x * x).sum::<f64>().sqrt();
        for (got, want) in read.faces[3].normal.0.iter().zip(inverse) {
            assert!((f64::from(*got) - want / norm).abs() < 1e-6);
        }
    }

    #[test]
    fn zero_area_facet_gets_zero_normal() {
        assert_eq!(
            unit_normal([0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]),
            [0.0; 3]
        );
    }

    #[test]
    fn dangling_index_is_an_error_not_a_panic() {
        let mut mesh = tetrahedron();
        mesh.triangles.push([0, 1, 4]);
        let mut bytes = Vec::new();
        let err = write_binary_stl(&mesh, &mut bytes).expect_err("index 4 does not exist");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(bytes.is_empty(), "nothing may be written on bad input");
    }

    #[test]
    fn writer_errors_are_passed_on() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let err = write_binary_stl(&tetrahedron(), &mut Broken).expect_err("writer fails");
        assert_eq!(err.to_string(), "disk full");
    }

    #[test]
    fn empty_mesh_is_a_valid_empty_stl() {
        let mut bytes = Vec::new();
        write_binary_stl(&TriangleMesh::default(), &mut bytes).expect("in memory");
        assert_eq!(bytes.len(), 84);
        let read = stl_io::read_stl(&mut Cursor::new(bytes)).expect("valid STL");
        assert!(read.faces.is_empty());
    }
}
