//! `report.html` in a real browser (issue 17): headless Chromium draws the part (screenshot
//! pixels and the page's own count), shows the metrics of `result.json` exactly, logs no
//! JavaScript error; a sweep's page shows the variant that is selected.
//!
//! Needs Debian's `chromium` (`apt-get install -y chromium`; WebGL through SwiftShader, no GPU);
//! without it the tests fail under CI (`CI=true`) and are skipped, loudly, elsewhere.

use std::path::Path;
use std::process::Command;

use crate::common::{
    SMALL_DESIGN, judge_present, read_json, run_design, run_sweep, stderr, write_design,
};

fn chromium_installed() -> bool {
    judge_present(
        Command::new("chromium").arg("--version"),
        "chromium",
        "apt-get install -y chromium",
        "test report.html",
    )
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom` or `--screenshot=…`); returns
/// stdout and stderr. The flags keep it off the network and draw WebGL in software.
fn chromium(url: &str, action: &str, profile: &Path) -> (String, String) {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,1800",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "{}", stderr(&output));
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr(&output),
    )
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attribute` on the first element that has `marker` in its start tag.
fn attribute(dom: &str, marker: &str, attribute: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let tag = &dom[dom[..at].rfind('<')?..at + dom[at..].find('>')?];
    let start = tag.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    Some(unescape(&tag[start..start + tag[start..].find('"')?]))
}

/// Pixels of a PNG that differ from the page's white and the canvas's light grey.
fn coloured_pixels(png_file: &Path) -> usize {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_file).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    buffer[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| {
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            // Saturated: the stress colours, not text (grey) or background.
            (r - g).abs() + (g - b).abs() + (r - b).abs() > 60
        })
        .count()
}

/// A part with some shape: the small design on a finer grid, printed along +z.
fn design() -> String {
    format!(
        "{}\n[manufacturing]\nbuild_direction = \"+z\"\n",
        SMALL_DESIGN.replace("element_size_mm = 1.0", "element_size_mm = 0.5")
    )
}

#[test]
fn a_run_report_draws_the_part_and_shows_result_json_without_errors() {
    if !chromium_installed() {
        return;
    }
    let (dir, out, output) = run_design(&design(), &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = out.join("report.html");
    let size = std::fs::metadata(&report).unwrap().len();
    assert!(size < 2_000_000, "{size} bytes");
    let result = read_json(&out.join("result.json"));
    let url = format!("file://{}", report.display());

    let (dom, log) = chromium(&url, "--dump-dom", &dir.path().join("profile-dom"));
    assert!(!log.contains("Uncaught"), "{log}");
    let errors = attribute(&dom, "id=\"errors\"", "hidden");
    assert!(errors.is_some(), "the page reported errors: {dom}");
    let triangles: u64 = attribute(&dom, "id=\"status\"", "data-triangles")
        .expect("the viewer ran")
        .parse()
        .unwrap();
    assert_eq!(
        triangles,
        result["mesh"]["inspection"]["triangles"].as_u64().unwrap()
    );
    let covered: usize = attribute(&dom, "id=\"status\"", "data-covered")
        .unwrap()
        .parse()
        .unwrap();
    assert!(covered > 10_000, "{covered} pixels of the canvas drawn");
    // Every metric shown is the value of result.json at its pointer, exactly.
    let mut shown = 0;
    for cell in dom.split("data-pointer=\"").skip(1) {
        let pointer = unescape(&cell[..cell.find('"').unwrap()]);
        let value = cell.split("data-value=\"").nth(1).unwrap();
        let value: serde_json::Value =
            serde_json::from_str(&unescape(&value[..value.find('"').unwrap()])).unwrap();
        assert_eq!(Some(&value), result.pointer(&pointer), "{pointer}");
        shown += 1;
    }
    assert!(shown >= 10, "{shown} metrics");
    for section in ["id=\"convergence\"", "id=\"design\"", "<svg"] {
        assert!(dom.contains(section), "{section}");
    }

    let png = dir.path().join("run.png");
    chromium(
        &url,
        &format!("--screenshot={}", png.display()),
        &dir.path().join("profile-shot"),
    );
    let coloured = coloured_pixels(&png);
    assert!(
        coloured > 5_000,
        "{coloured} coloured pixels in the screenshot"
    );
}

#[test]
fn a_sweep_report_shows_the_selected_variant() {
    if !chromium_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[sweep]\nvary = {{ \"optimization.volume_fraction\" = [0.2, 0.4] }}\n",
        design().replace("max_iterations = 30", "max_iterations = 10")
    );
    let file = write_design(dir.path(), "sweep.toml", &text);
    let out = dir.path().join("sweep");
    let output = run_sweep(&file, &out, &["--quiet", "--no-slicer"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_json(&out.join("summary.json"));
    let ids: Vec<String> = summary["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    let report = out.join("report.html");
    let mut shots = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let url = format!("file://{}#{id}", report.display());
        let (dom, log) = chromium(&url, "--dump-dom", &dir.path().join(format!("dom{i}")));
        assert!(!log.contains("Uncaught"), "{log}");
        assert!(
            attribute(&dom, "id=\"errors\"", "hidden").is_some(),
            "{dom}"
        );
        assert_eq!(
            attribute(&dom, "id=\"status\"", "data-selected").as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            attribute(&dom, "id=\"variant-view\"", "src"),
            Some(format!("{id}/report.html"))
        );
        // Each variant's row and its point on the Pareto plot.
        assert_eq!(dom.matches(&format!("data-id=\"{id}\"")).count(), 2, "{id}");
        let png = dir.path().join(format!("sweep{i}.png"));
        chromium(
            &url,
            &format!("--screenshot={}", png.display()),
            &dir.path().join(format!("shot{i}")),
        );
        assert!(
            coloured_pixels(&png) > 5_000,
            "{id}: the variant's part is not drawn"
        );
        shots.push(std::fs::read(&png).unwrap());
    }
    assert_ne!(
        shots[0], shots[1],
        "selecting another variant changes nothing"
    );
}
