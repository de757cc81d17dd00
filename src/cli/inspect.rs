//! `formwerk inspect`: the checks of any STL file, its printability and, on demand, the slicer's
//! verdict.

use std::path::Path;

use anyhow::Context;

use formwerk::mesh::check_mesh;
use formwerk::mesh::layers::layer_support;
use formwerk::mesh::printability::printability;
use formwerk::mesh::stl::read_stl;

use super::failure::Failure;
use super::run::slicer_line;

pub(super) fn inspect(
    path: &Path,
    json: bool,
    build_direction: Option<formwerk::printer::BuildDirection>,
    profile: &formwerk::printer::PrinterProfile,
    slicer: Option<formwerk::slicer::Slicer>,
) -> Result<(), Failure> {
    let overhang_angle = profile.overhang_angle_deg;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))
        .map_err(Failure::Input)?;
    let mesh = read_stl(&mut file)
        .with_context(|| format!("{}: not a readable STL file", path.display()))
        .map_err(Failure::Input)?;
    let report = check_mesh(&mesh);
    let bad =
        |e: &dyn std::fmt::Display| Failure::Input(anyhow::anyhow!("{}: {e}", path.display()));
    let printable = match build_direction {
        Some(d) => {
            let mut report =
                printability(&mesh, d.vector(), overhang_angle).map_err(|e| bad(&e))?;
            report.layers = Some(
                layer_support(
                    &mesh,
                    d,
                    overhang_angle,
                    profile.layer_height_mm,
                    profile.nozzle_mm,
                )
                .map_err(|e| bad(&e))?,
            );
            Some(report)
        }
        None => None,
    };
    let sliced = match slicer {
        Some(_) if !report.is_watertight() => {
            return Err(Failure::Input(anyhow::anyhow!(
                "{}: --slice needs a closed mesh; this one has {} boundary and {} non-manifold edges",
                path.display(),
                report.boundary_edges,
                report.non_manifold_edges
            )));
        }
        Some(slicer) => Some(
            slicer
                .judge(&mesh, profile, None, &std::env::temp_dir())
                .with_context(|| format!("{}: the slicer gave no verdict", path.display()))
                .map_err(Failure::Internal)?,
        ),
        None => None,
    };
    if json {
        let mut value = serde_json::to_value(&report).map_err(|e| Failure::Internal(e.into()))?;
        value["schema_version"] = formwerk::output::SCHEMA_VERSION.into();
        if let Some(p) = &printable {
            value["printability"] =
                serde_json::to_value(p).map_err(|e| Failure::Internal(e.into()))?;
        }
        if let Some(s) = &sliced {
            value["slicer"] = serde_json::to_value(s).map_err(|e| Failure::Internal(e.into()))?;
        }
        let text = serde_json::to_string_pretty(&value).map_err(|e| Failure::Internal(e.into()))?;
        println!("{text}");
        return not_solid(path, &report);
    }
    let [lo, hi] = report.bounding_box_mm;
    println!("{}", path.display());
    println!("  triangles:                 {}", report.triangles);
    println!("  vertices:                  {}", report.vertices);
    println!("  shells:                    {}", report.shells.len());
    println!("  boundary edges:            {}", report.boundary_edges);
    println!("  non-manifold edges:        {}", report.non_manifold_edges);
    println!(
        "  non-manifold vertices:     {}",
        report.non_manifold_vertices
    );
    println!("  inconsistent edges:        {}", report.inconsistent_edges);
    println!(
        "  degenerate triangles:      {}",
        report.degenerate_triangles
    );
    println!(
        "  signed volume:             {:.3} mm³",
        report.signed_volume_mm3
    );
    println!(
        "  surface area:              {:.3} mm²",
        report.surface_area_mm2
    );
    println!(
        "  bounding box:              [{:.3}, {:.3}, {:.3}] – [{:.3}, {:.3}, {:.3}] mm",
        lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]
    );
    println!(
        "  Euler characteristic:      {}",
        report.euler_characteristic
    );
    for (i, shell) in report.shells.iter().enumerate() {
        let genus = shell
            .genus
            .map_or("n/a (open or non-manifold)".to_string(), |g| g.to_string());
        println!(
            "  shell {i}: {} triangles, {:.3} mm³, χ = {}, genus {genus}",
            shell.triangles, shell.signed_volume_mm3, shell.euler_characteristic
        );
    }
    if let Some(p) = &printable {
        println!(
            "  printability ({} build, overhang {}°):",
            build_direction.map_or(String::new(), |d| d.to_string()),
            p.overhang_angle_deg
        );
        println!(
            "    unsupported overhang:    {:.1} mm² ({:.2} % of the surface), largest patch {:.1} mm²",
            p.overhang_area_mm2, p.overhang_percent, p.largest_overhang_patch_mm2
        );
        println!(
            "    on the base plate:       {:.1} mm²",
            p.base_plate_area_mm2
        );
        println!(
            "    thinnest wall:           {:.2} mm (voxels of {:.3} mm)",
            p.min_wall_thickness_mm, p.thickness_voxel_mm
        );
        if let Some(l) = &p.layers {
            println!(
                "    layers of {} mm:         {} of {} need support: {:.1} mm² over {:.1} mm³",
                l.layer_height_mm,
                l.supported_layers,
                l.layers,
                l.support_area_mm2,
                l.support_volume_mm3
            );
        }
    }
    if let Some(s) = &sliced {
        println!("  slicer:                    {}", slicer_line(s));
    }
    println!("  self-intersections:        {}", report.self_intersections);
    for p in &report.self_intersection_locations_mm {
        println!("    near ({:.3}, {:.3}, {:.3}) mm", p[0], p[1], p[2]);
    }
    println!(
        "  watertight:                {}",
        if report.is_watertight() { "yes" } else { "no" }
    );
    println!(
        "  solid:                     {}",
        if report.is_solid() { "yes" } else { "no" }
    );
    not_solid(path, &report)
}

/// `inspect`'s verdict: an error (exit code 1) naming the first defect when the mesh does not
/// bound a solid.
fn not_solid(path: &Path, report: &formwerk::mesh::MeshReport) -> Result<(), Failure> {
    if report.is_solid() {
        return Ok(());
    }
    let why = if let Some(p) = report.self_intersection_locations_mm.first() {
        format!(
            "the surface passes through itself ({} intersecting triangle pairs, the first near ({:.3}, {:.3}, {:.3}) mm)",
            report.self_intersections, p[0], p[1], p[2]
        )
    } else {
        format!(
            "the surface is not closed and manifold ({} boundary, {} non-manifold, {} inconsistent edges, {} non-manifold vertices, {} degenerate triangles)",
            report.boundary_edges,
            report.non_manifold_edges,
            report.inconsistent_edges,
            report.non_manifold_vertices,
            report.degenerate_triangles
        )
    };
    Err(Failure::Input(anyhow::anyhow!(
        "{}: not a solid: {why}",
        path.display()
    )))
}
