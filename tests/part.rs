//! The printable part through the CLI: mesh files and formats, `result.json` `mesh`, the
//! preview, `formwerk inspect`, and bad `[output]` settings.
// See: issue 4

use crate::common::{SMALL_DESIGN, formwerk, read_json, run_design, stderr, write_design};

#[test]
fn run_writes_checked_stl_3mf_and_preview() {
    let text =
        format!("{SMALL_DESIGN}[output]\nformats = [\"stl\", \"3mf\"]\nsmoothing_iterations = 5\n");
    let (_dir, out, output) = run_design(&text, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    let mesh = &result["mesh"];
    assert_eq!(mesh["smoothing_iterations"], 5);
    let inspection = &mesh["inspection"];
    for key in [
        "boundary_edges",
        "non_manifold_edges",
        "inconsistent_edges",
        "non_manifold_vertices",
        "degenerate_triangles",
    ] {
        assert_eq!(inspection[key], 0, "{key}");
    }
    assert_eq!(inspection["shells"].as_array().unwrap().len(), 1);
    // The threshold matches the optimized volume.
    let difference = mesh["volume_difference"].as_f64().unwrap();
    assert!(
        difference.abs() < 0.02,
        "mesh volume differs by {difference}"
    );
    let threshold = mesh["threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0);
    // The part stays inside the design space.
    let bbox = &inspection["bounding_box_mm"];
    for axis in 0..3 {
        assert!(bbox[0][axis].as_f64().unwrap() >= 0.0);
        assert!(bbox[1][axis].as_f64().unwrap() <= [12.0, 4.0, 4.0][axis]);
    }

    // The 3MF holds the same mesh, in millimetres.
    let file = std::fs::File::open(out.join("part.3mf")).unwrap();
    let models = threemf::read(file).unwrap();
    let object_mesh = models[0].resources.object[0].mesh.as_ref().unwrap();
    assert_eq!(
        object_mesh.triangles.triangle.len() as u64,
        inspection["triangles"].as_u64().unwrap()
    );
    assert!(matches!(models[0].unit, threemf::model::Unit::Millimeter));

    // The preview is a 1024 × 768 PNG with the part in it (not only background).
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(out.join("preview.png")).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1024, 768));
    let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    assert!(distinct.len() > 50, "the preview shows no shading");

    // `inspect` agrees with result.json.
    let inspect = formwerk(&["inspect", out.join("part.stl").to_str().unwrap(), "--json"]);
    assert_eq!(inspect.status.code(), Some(0), "{}", stderr(&inspect));
    let report: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(report["triangles"], inspection["triangles"]);
    let (a, b) = (
        report["signed_volume_mm3"].as_f64().unwrap(),
        inspection["signed_volume_mm3"].as_f64().unwrap(),
    );
    // STL stores f32 coordinates.
    assert!((a - b).abs() <= 1e-5 * b, "{a} vs {b}");
    let text = formwerk(&["inspect", out.join("part.stl").to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("watertight:                yes"), "{text}");
    let genus = report["shells"][0]["genus"]
        .as_i64()
        .expect("a closed shell has a genus");
    assert!(text.contains(&format!("genus {genus}")), "{text}");
}

#[test]
fn inspect_finds_holes_and_rejects_non_stl_files() {
    let dir = tempfile::tempdir().unwrap();
    // A tetrahedron with one face missing: three boundary edges.
    let v = |x: f32, y: f32, z: f32| stl_io::Vertex::new([x, y, z]);
    let triangle = |a, b, c| stl_io::Triangle {
        normal: stl_io::Normal::new([0.0, 0.0, 0.0]),
        vertices: [a, b, c],
    };
    let (p0, p1, p2, p3) = (
        v(0.0, 0.0, 0.0),
        v(1.0, 0.0, 0.0),
        v(0.0, 1.0, 0.0),
        v(0.0, 0.0, 1.0),
    );
    let open = [
        triangle(p0, p1, p3),
        triangle(p0, p3, p2),
        triangle(p1, p2, p3),
    ];
    let path = dir.path().join("open.stl");
    stl_io::write_stl(&mut std::fs::File::create(&path).unwrap(), open.iter()).unwrap();
    let output = formwerk(&["inspect", path.to_str().unwrap(), "--json"]);
    // The report is printed, and an open mesh is no solid: exit code 1, naming the defect.
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("open.stl: not a solid: the surface is not closed"),
        "{}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["boundary_edges"], 3);
    assert_eq!(report["shells"][0]["genus"], serde_json::Value::Null);
    let output = formwerk(&["inspect", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("watertight:                no"));

    let junk = write_design(dir.path(), "junk.stl", "this is not a mesh");
    let output = formwerk(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("junk.stl"), "{}", stderr(&output));
    let output = formwerk(&["inspect", "/nonexistent/part.stl"]);
    assert_eq!(output.status.code(), Some(1));

    // A binary file cut short, one with data after its last facet, and one with a NaN vertex:
    // each named for what it is (issue 16), never a bare end-of-file or a NaN volume.
    let mut bytes = std::fs::read(&path).unwrap();
    let cases = [
        (
            "cut.stl",
            bytes[..bytes.len() - 20].to_vec(),
            "it is truncated",
        ),
        (
            "long.stl",
            [bytes.clone(), vec![0; 7]].concat(),
            "data after the last facet",
        ),
        (
            "nan.stl",
            {
                // The first vertex of the first facet: after the header, count and its normal.
                bytes[96..100].copy_from_slice(&f32::NAN.to_le_bytes());
                bytes.clone()
            },
            "facet 1, corner 1, has a coordinate that is not a finite number",
        ),
    ];
    for (name, content, says) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let output = formwerk(&["inspect", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let message = stderr(&output);
        assert!(
            message.contains(name) && message.contains(says),
            "{name}: {message}"
        );
        assert!(output.stdout.is_empty(), "{name}: a report was printed");
    }
}

#[test]
fn bad_output_settings() {
    let dir = tempfile::tempdir().unwrap();
    for (section, key, hint) in [
        ("threshold = 1.5", "output.threshold", "(0, 1)"),
        (
            "smoothing_iterations = 500",
            "output.smoothing_iterations",
            "[0, 100]",
        ),
        ("formats = []", "output.formats", "at least one"),
        ("formats = [\"obj\"]", "output.formats", "3mf"),
        ("max_triangles = 5", "output.max_triangles", "at least 100"),
        ("max_faces = 5", "max_faces", "unknown key"),
    ] {
        let path = write_design(
            dir.path(),
            "bad.toml",
            &format!("{SMALL_DESIGN}[output]\n{section}\n"),
        );
        let output = formwerk(&["check", path.to_str().unwrap()]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{section}: {message}");
        assert!(
            message.contains(key) && message.contains(hint),
            "{section}: {message}"
        );
    }
}

#[test]
fn max_triangles_simplifies_the_exported_part() {
    let text = format!("{SMALL_DESIGN}[output]\nmax_triangles = 600\n");
    let (_dir, out, output) = run_design(&text, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mesh = &read_json(&out.join("result.json"))["mesh"];
    let before = mesh["triangles_before_simplification"].as_u64().unwrap();
    let after = mesh["inspection"]["triangles"].as_u64().unwrap();
    assert!(before > 600 && after <= 600, "{before} → {after}");
    assert_eq!(mesh["inspection"]["boundary_edges"], 0);
    assert!(mesh["volume_difference"].as_f64().unwrap().abs() < 0.03);
    let inspect = formwerk(&["inspect", out.join("part.stl").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("watertight:                yes"));
}
