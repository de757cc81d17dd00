//! VTK both ways (issue 16): every `.vti` encoding the VTK library writes (ASCII, inline base64,
//! appended raw and base64, uncompressed and zlib, UInt32 and UInt64 headers) is read back
//! exactly; formwerk's own files (binary, compressed, ASCII) open in VTK's reader with the same
//! values; `analyze` takes a density field that VTK re-saved.
//!
//! Needs the `vtk` Python package (`pip install vtk`, or Debian's python3-vtk9); without it the
//! tests fail under CI (`CI=true`) and are skipped, loudly, elsewhere.

use std::path::Path;
use std::process::Command;

use formwerk::output::vtk::read_vti_bytes;

use crate::common::{SMALL_DESIGN, formwerk, judge_present, run_design, stderr, write_design};

/// Runs `script` with Python; `None` (after saying so) when the `vtk` package is missing.
fn python_vtk(script: &str, dir: &Path) -> Option<String> {
    if !judge_present(
        Command::new("python3").args(["-c", "import vtk"]),
        "the vtk Python package",
        "pip install vtk",
        "test .vti files against VTK",
    ) {
        return None;
    }
    let output = Command::new("python3")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Writes a 3 × 2 × 2 image with a Float64 and a Float32 cell field, an Int32 cell field and a
/// 3-component Float64 point field in every encoding; prints the file names.
const WRITE_ALL: &str = r#"
import vtk
img = vtk.vtkImageData(); img.SetDimensions(4, 3, 3); img.SetSpacing(0.5, 0.5, 0.5)
def add(array, name, values, components, data):
    array.SetName(name); array.SetNumberOfComponents(components)
    for v in values: array.InsertNextValue(v)
    data.AddArray(array)
add(vtk.vtkDoubleArray(), "density", [i / 11.0 for i in range(12)], 1, img.GetCellData())
add(vtk.vtkFloatArray(), "f32", [i * 0.1 for i in range(12)], 1, img.GetCellData())
add(vtk.vtkIntArray(), "i32", [i * i - 40 for i in range(12)], 1, img.GetCellData())
add(vtk.vtkDoubleArray(), "u", [i / 7.0 - 3.0 for i in range(3 * 36)], 3, img.GetPointData())
for mode in ["Ascii", "Binary", "Appended"]:
    for encode in ([0, 1] if mode == "Appended" else [1]):
        for zlib in [0, 1]:
            for header in [32, 64]:
                name = f"{mode}-{'base64' if encode else 'raw'}-{'zlib' if zlib else 'none'}-{header}.vti"
                w = vtk.vtkXMLImageDataWriter(); w.SetInputData(img); w.SetFileName(name)
                getattr(w, "SetDataModeTo" + mode)()
                w.SetEncodeAppendedData(encode)
                w.SetCompressorTypeToZLib() if zlib else w.SetCompressorTypeToNone()
                w.SetHeaderTypeToUInt32() if header == 32 else w.SetHeaderTypeToUInt64()
                assert w.Write() == 1
                print(name)
"#;

#[test]
fn every_encoding_the_vtk_library_writes_is_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let Some(names) = python_vtk(WRITE_ALL, dir.path()) else {
        return;
    };
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), 16, "{names:?}");
    let density: Vec<f64> = (0..12).map(|i| f64::from(i) / 11.0).collect();
    let f32s: Vec<f64> = (0..12)
        .map(|i| f64::from((f64::from(i) * 0.1) as f32))
        .collect();
    let i32s: Vec<f64> = (0..12).map(|i| f64::from(i * i - 40)).collect();
    let u: Vec<f64> = (0..108).map(|i| f64::from(i) / 7.0 - 3.0).collect();
    for name in names {
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        let image = read_vti_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(image.elements, [3, 2, 2], "{name}");
        assert_eq!(image.element_size_mm, 0.5, "{name}");
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // Bit for bit in ASCII too: VTK prints doubles to 17 significant digits.
        assert_eq!(
            bits(image.cell_field("density").unwrap()),
            bits(&density),
            "{name}"
        );
        let f = image.cell_field("f32").unwrap();
        assert!(
            f.iter().zip(&f32s).all(|(a, b)| (*a as f32) == (*b as f32)),
            "{name}: {f:?}"
        );
        assert_eq!(image.cell_field("i32").unwrap(), i32s, "{name}");
        let read_u = image.point_field("u").unwrap();
        assert!(
            read_u
                .iter()
                .zip(&u)
                .all(|(a, b)| (a - b).abs() <= 1e-15 * b.abs().max(1.0)),
            "{name}"
        );
        assert_eq!(image.point_fields[0].components, 3, "{name}");
        // Cut short anywhere past the header: an error, never a panic or a wrong image.
        for cut in [bytes.len() / 2, bytes.len() - 30] {
            assert!(
                read_vti_bytes(&bytes[..cut]).is_err(),
                "{name} cut at {cut}"
            );
        }
    }
}

/// Reads each file given with VTK's reader and prints, per file, the arrays and the sum of
/// their values.
const READ_WITH_VTK: &str = r#"
import sys, vtk
for name in sys.argv[1:]:
    r = vtk.vtkXMLImageDataReader(); r.SetFileName(name); r.Update()
    assert r.GetErrorCode() == 0, name
    img = r.GetOutput()
    for data in [img.GetCellData(), img.GetPointData()]:
        for i in range(data.GetNumberOfArrays()):
            a = data.GetArray(i)
            total = sum(a.GetComponent(t, c) for t in range(a.GetNumberOfTuples()) for c in range(a.GetNumberOfComponents()))
            print(name, a.GetName(), a.GetNumberOfTuples(), a.GetNumberOfComponents(), repr(total))
"#;

#[test]
fn formwerks_files_open_in_vtks_reader_and_analyze_reads_what_vtk_saved() {
    let mut runs = Vec::new();
    for encoding in ["binary", "compressed", "ascii"] {
        let text = format!("{SMALL_DESIGN}\n[output]\nvti_encoding = \"{encoding}\"\n");
        let (dir, out, output) = run_design(&text, &["--quiet"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        runs.push((encoding, dir, out));
    }
    // The three encodings hold the same values; binary is smaller than ASCII.
    let images: Vec<_> = runs
        .iter()
        .map(|(_, _, out)| {
            read_vti_bytes(&std::fs::read(out.join("density.vti")).unwrap()).unwrap()
        })
        .collect();
    assert!(images.windows(2).all(|w| w[0] == w[1]));
    let size = |i: usize| {
        std::fs::metadata(runs[i].2.join("density.vti"))
            .unwrap()
            .len()
    };
    assert!(
        size(0) < size(2) && size(1) < size(0),
        "{} {} {}",
        size(0),
        size(1),
        size(2)
    );

    let dir = runs[0].1.path();
    if python_vtk("import vtk", dir).is_none() {
        return;
    }
    let files: Vec<String> = runs
        .iter()
        .map(|(_, _, out)| out.join("density.vti").to_string_lossy().into_owned())
        .collect();
    let output = Command::new("python3")
        .args(["-c", READ_WITH_VTK])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    for (file, image) in files.iter().zip(&images) {
        for field in image.cell_fields.iter().chain(&image.point_fields) {
            let line = listed
                .lines()
                .find(|l| l.starts_with(&format!("{file} {} ", field.name)))
                .unwrap_or_else(|| panic!("VTK does not list {} of {file}:\n{listed}", field.name));
            let words: Vec<&str> = line.split_whitespace().collect();
            let tuples: usize = words[2].parse().unwrap();
            let components: usize = words[3].parse().unwrap();
            let total: f64 = words[4].parse().unwrap();
            assert_eq!(tuples * components, field.values.len(), "{line}");
            assert_eq!(components, field.components, "{line}");
            let ours: f64 = field.values.iter().sum();
            assert!(
                (total - ours).abs() <= 1e-9 * ours.abs().max(1.0),
                "{line}: {ours}"
            );
        }
    }

    // VTK re-saves the density appended, compressed and base64 (as ParaView can): `analyze`
    // reads it and finds the run's compliance.
    let design = write_design(dir, "design.toml", SMALL_DESIGN);
    let resaved = dir.join("resaved.vti");
    let resave = format!(
        "import vtk\nr = vtk.vtkXMLImageDataReader(); r.SetFileName({:?}); r.Update()\n\
         w = vtk.vtkXMLImageDataWriter(); w.SetInputData(r.GetOutput()); w.SetFileName({:?})\n\
         w.SetDataModeToAppended(); w.SetEncodeAppendedData(1); w.SetCompressorTypeToZLib()\n\
         assert w.Write() == 1\n",
        files[0],
        resaved.to_string_lossy()
    );
    python_vtk(&resave, dir).unwrap();
    let out = dir.join("analysis");
    let output = formwerk(&[
        "analyze",
        design.to_str().unwrap(),
        "--density",
        resaved.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let analysis = crate::common::read_json(&out.join("analysis.json"));
    let result = crate::common::read_json(&runs[0].2.join("result.json"));
    let (a, r) = (
        analysis["compliance_nmm"].as_f64().unwrap(),
        result["compliance_nmm"].as_f64().unwrap(),
    );
    assert!((a - r).abs() <= 1e-6 * r, "{a} vs {r}");
}
