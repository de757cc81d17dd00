//! CalculiX as an independent judge of a part's stiffness and stresses.
//!
//! [`judge`] tet-meshes an STL with gmsh (10-node tetrahedra, C3D10), solves linear elasticity
//! with CalculiX (`ccx`) under supports and loads given as axis-aligned boxes, and summarises
//! displacements and von Mises stresses. Both tools are external (`apt-get install -y gmsh
//! calculix-ccx`); see [`calculix_installed`].
//!
//! Behaviour relied on, checked by hand with gmsh 4.8.4 and ccx 2.20 (Debian 12):
//! - gmsh keeps the STL's facets as the boundary mesh (a merged STL is a discrete surface,
//!   never remeshed), so `-clmax` sizes only the interior; the STL must already be faceted
//!   finely (formwerk's parts are, at about the voxel size). It writes C3D10 elements in
//!   CalculiX's node order with straight edges (midside nodes at the midpoints), and exits 0
//!   even when it fails, so failure is read from `Error` lines and a missing C3D10 section.
//! - ccx exits 0 on some input errors and crashes on others, so success is its `Job finished`
//!   line, no `*ERROR`, and a complete `.dat` file.
//! - C3D10 has 4 integration points; point `k` has barycentric weight `(5 + 3√5) / 20` on
//!   corner `k` and `(5 − √5) / 20` on the others (ccx's `gauss3d5`; confirmed on a bent bar,
//!   whose bending stress is linear in position). With straight edges the map is affine, so
//!   these weights give each point's exact position.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::judge_present;
use crate::slicers::run_tool;

/// An axis-aligned box in mm; `min_mm == max_mm` along an axis makes it a face, edge or point.
#[derive(Debug, Clone)]
pub struct Patch {
    pub min_mm: [f64; 3],
    pub max_mm: [f64; 3],
}

impl Patch {
    /// Euclidean distance from `point` to the box, 0 inside it.
    fn distance_mm(&self, point: [f64; 3]) -> f64 {
        (0..3)
            .map(|i| {
                (self.min_mm[i] - point[i])
                    .max(point[i] - self.max_mm[i])
                    .max(0.0)
            })
            .map(|d| d * d)
            .sum::<f64>()
            .sqrt()
    }
}

/// Every node near `patch` is fixed in x, y and z.
#[derive(Debug, Clone)]
pub struct Support {
    pub patch: Patch,
}

/// `force_n` is the total force, shared equally by every node near `patch`.
#[derive(Debug, Clone)]
pub struct Load {
    pub patch: Patch,
    pub force_n: [f64; 3],
}

/// What CalculiX made of a part. "Away" figures leave out the integration points within
/// `away_mm` of a support or load patch, where point-like loads and clamps make stresses
/// singular and mesh-dependent.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub nodes: usize,
    pub elements: usize,
    pub support_nodes: usize,
    pub load_nodes: usize,
    pub max_displacement_mm: f64,
    pub max_displacement_at_mm: [f64; 3],
    /// 99.9th percentile (nearest rank) of von Mises over the integration points away from
    /// the patches, MPa. Counts points, so a mesh graded finer where stresses are high raises it.
    pub von_mises_p999_mpa: f64,
    /// The same percentile weighted by each point's share of volume (a quarter of its
    /// element's): the stress that 0.1 % of the material away from the patches exceeds,
    /// independent of how the mesh is graded.
    pub von_mises_p999_by_volume_mpa: f64,
    /// Largest von Mises away from the patches, MPa, and where.
    pub max_von_mises_mpa: f64,
    pub max_von_mises_at_mm: [f64; 3],
    /// Largest von Mises over every integration point, MPa.
    pub peak_von_mises_mpa: f64,
    /// Volume of the tet mesh (equal to the STL's, since the boundary is its facets), mm³.
    pub volume_mm3: f64,
}

/// Each run of gmsh or ccx gets this long.
const TOOL_LIMIT: Duration = Duration::from_secs(600);

/// Whether gmsh and ccx are both installed; under CI a missing one fails the test.
pub fn calculix_installed() -> bool {
    // `ccx -v` exits 201, so presence is asked of the shell instead.
    judge_present(
        Command::new("sh").args(["-c", "command -v gmsh && command -v ccx"]),
        "gmsh or CalculiX (ccx)",
        "apt-get install -y gmsh calculix-ccx",
        "judge parts with an independent finite-element solve",
    )
}

/// Tet-meshes `stl` (mm) in `dir` with tets of at most `mesh_size_mm` inside, solves it with
/// CalculiX for the material, `supports` and `loads`, and summarises the result. Nodes within
/// `patch_tolerance_mm` of a patch belong to it; see [`Judgement`] for `away_mm`.
///
/// # Panics
///
/// If gmsh or ccx fail (with the tail of their log), a patch has no nodes, no integration point
/// is away from the patches, or ccx's results are incomplete or not finite.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors a design's material, supports, loads and the judge's tolerances"
)]
pub fn judge(
    stl: &Path,
    dir: &Path,
    youngs_modulus_mpa: f64,
    poisson_ratio: f64,
    supports: &[Support],
    loads: &[Load],
    patch_tolerance_mm: f64,
    away_mm: f64,
    mesh_size_mm: f64,
) -> Judgement {
    let (positions, tets) = tet_mesh(stl, dir, mesh_size_mm);
    let near = |patch: &Patch| -> Vec<usize> {
        let nodes: Vec<usize> = (0..positions.len())
            .filter(|&n| patch.distance_mm(positions[n]) <= patch_tolerance_mm)
            .collect();
        assert!(
            !nodes.is_empty(),
            "no node lies within {patch_tolerance_mm} mm of {patch:?}"
        );
        nodes
    };

    // The deck numbers nodes and elements from 1 in the order of `positions` and `tets`; ccx
    // reads a number from at most 20 characters, hence 10 significant digits.
    let mut deck = String::from("*NODE, NSET=NALL\n");
    for (n, [x, y, z]) in positions.iter().enumerate() {
        writeln!(deck, "{}, {x:.9e}, {y:.9e}, {z:.9e}", n + 1).unwrap();
    }
    deck.push_str("*ELEMENT, TYPE=C3D10, ELSET=EALL\n");
    for (e, tet) in tets.iter().enumerate() {
        let nodes: Vec<String> = tet.iter().map(|n| (n + 1).to_string()).collect();
        writeln!(deck, "{}, {}", e + 1, nodes.join(", ")).unwrap();
    }
    write!(
        deck,
        "*MATERIAL, NAME=PART\n*ELASTIC\n{youngs_modulus_mpa:.9e}, {poisson_ratio:.9e}\n\
         *SOLID SECTION, ELSET=EALL, MATERIAL=PART\n*BOUNDARY\n"
    )
    .unwrap();
    let mut fixed = vec![false; positions.len()];
    for support in supports {
        near(&support.patch)
            .into_iter()
            .for_each(|n| fixed[n] = true);
    }
    for n in (0..positions.len()).filter(|&n| fixed[n]) {
        writeln!(deck, "{}, 1, 3", n + 1).unwrap();
    }
    // Equal shares on corner and midside nodes alike: not the consistent load of a traction
    // (which puts nothing on a 6-node face's corners), but closer to a spread load than corner
    // nodes alone, and the same away from the patch (cantilever: max displacement within 1.2 %,
    // away-from-patch stresses within 2 % of corner-only loading).
    deck.push_str("*STEP\n*STATIC\n*CLOAD\n");
    let mut load_nodes = 0;
    for load in loads {
        let nodes = near(&load.patch);
        load_nodes += nodes.len();
        for n in &nodes {
            for (axis, force) in load.force_n.iter().enumerate().filter(|(_, f)| **f != 0.0) {
                let share = force / nodes.len() as f64;
                writeln!(deck, "{}, {}, {share:.9e}", n + 1, axis + 1).unwrap();
            }
        }
    }
    deck.push_str("*NODE PRINT, NSET=NALL\nU\n*EL PRINT, ELSET=EALL\nS\n*END STEP\n");
    std::fs::write(dir.join("judge.inp"), deck).expect("write the CalculiX deck");

    let output = run_tool(
        Command::new("ccx")
            .args(["-i", "judge"])
            .current_dir(dir)
            .env("OMP_NUM_THREADS", "1"),
        dir,
        TOOL_LIMIT,
    );
    let log = log_text(&output);
    assert!(
        output.status.success() && log.contains("Job finished") && !log.contains("*ERROR"),
        "ccx failed ({}):\n{}",
        output.status,
        tail(&log)
    );
    let dat = std::fs::read_to_string(dir.join("judge.dat")).expect("ccx wrote judge.dat");
    let (displacements, stresses) = read_dat(&dat, positions.len(), tets.len());

    let (max_node, max_displacement_mm) = displacements
        .iter()
        .map(|u| u.iter().map(|c| c * c).sum::<f64>().sqrt())
        .enumerate()
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .expect("the mesh has nodes");

    let (a, b) = ((5.0 + 3.0 * 5f64.sqrt()) / 20.0, (5.0 - 5f64.sqrt()) / 20.0);
    let patches: Vec<&Patch> = supports
        .iter()
        .map(|s| &s.patch)
        .chain(loads.iter().map(|l| &l.patch))
        .collect();
    let mut volume_mm3 = 0.0;
    let mut peak_von_mises_mpa = 0.0f64;
    // (von Mises, volume share, position) of each integration point away from the patches.
    let mut away = Vec::new();
    for (tet, points) in tets.iter().zip(&stresses) {
        let corners = [0, 1, 2, 3].map(|c| positions[tet[c]]);
        let volume = tet_volume(corners);
        volume_mm3 += volume;
        for (k, s) in points.iter().enumerate() {
            let position: [f64; 3] = std::array::from_fn(|i| {
                (0..4)
                    .map(|c| (if c == k { a } else { b }) * corners[c][i])
                    .sum()
            });
            let von_mises = (0.5
                * ((s[0] - s[1]).powi(2) + (s[1] - s[2]).powi(2) + (s[2] - s[0]).powi(2))
                + 3.0 * (s[3] * s[3] + s[4] * s[4] + s[5] * s[5]))
                .sqrt();
            peak_von_mises_mpa = peak_von_mises_mpa.max(von_mises);
            if patches.iter().all(|p| p.distance_mm(position) > away_mm) {
                away.push((von_mises, volume / 4.0, position));
            }
        }
    }
    assert!(
        !away.is_empty(),
        "no integration point lies {away_mm} mm from every patch"
    );
    away.sort_by(|x, y| x.0.total_cmp(&y.0));
    let rank = ((0.999 * away.len() as f64).ceil() as usize).max(1) - 1;
    let total: f64 = away.iter().map(|p| p.1).sum();
    let mut below = 0.0;
    let by_volume = away
        .iter()
        .find(|p| {
            below += p.1;
            below >= 0.999 * total
        })
        .unwrap_or(&away[away.len() - 1]);
    let (max_von_mises_mpa, _, max_von_mises_at_mm) = away[away.len() - 1];

    // Every figure is finite: `read_dat` checked what they are made of.
    Judgement {
        nodes: positions.len(),
        elements: tets.len(),
        support_nodes: fixed.iter().filter(|&&f| f).count(),
        load_nodes,
        max_displacement_mm,
        max_displacement_at_mm: positions[max_node],
        von_mises_p999_mpa: away[rank].0,
        von_mises_p999_by_volume_mpa: by_volume.0,
        max_von_mises_mpa,
        max_von_mises_at_mm,
        peak_von_mises_mpa,
        volume_mm3,
    }
}

/// Runs gmsh on `stl` in `dir`; returns the positions of the nodes that tetrahedra use and the
/// tetrahedra as 10 indices into them (surface elements and loose nodes are dropped: ccx would
/// treat the triangles as plane-stress elements).
fn tet_mesh(stl: &Path, dir: &Path, mesh_size_mm: f64) -> (Vec<[f64; 3]>, Vec<[usize; 10]>) {
    let geo = dir.join("part.geo");
    let mesh = dir.join("mesh.inp");
    let script = format!(
        "Merge \"{}\";\nSurface Loop(1) = {{1}};\nVolume(1) = {{1}};\n",
        stl.display()
    );
    std::fs::write(&geo, script).expect("write the gmsh script");
    let output = run_tool(
        Command::new("gmsh")
            .arg("-3")
            .arg(&geo)
            .args(["-nt", "1", "-order", "2", "-format", "inp", "-clmax"])
            .arg(mesh_size_mm.to_string())
            .arg("-o")
            .arg(&mesh),
        dir,
        TOOL_LIMIT,
    );
    let log = log_text(&output);
    let text = std::fs::read_to_string(&mesh).unwrap_or_default();
    // gmsh's ids: nodes by id, each tetrahedron's 10 node ids in a row (an element may be
    // continued over lines, so a section's numbers are taken 11 at a time).
    let mut gmsh_nodes = std::collections::HashMap::new();
    let mut numbers: Vec<usize> = Vec::new();
    let mut section = "";
    for line in text.lines() {
        if line.starts_with('*') {
            let keyword = line.to_ascii_uppercase().replace(' ', "");
            section = if keyword.starts_with("*NODE") {
                "node"
            } else if keyword.starts_with("*ELEMENT") && keyword.contains("TYPE=C3D10") {
                "tet"
            } else {
                ""
            };
            continue;
        }
        let fields = line.split(',').map(str::trim).filter(|f| !f.is_empty());
        if section == "node" {
            let f: Vec<&str> = fields.collect();
            let coordinate = |i: usize| f[i].parse::<f64>().expect("gmsh node coordinate");
            let id: usize = f[0].parse().expect("gmsh node id");
            gmsh_nodes.insert(id, [coordinate(1), coordinate(2), coordinate(3)]);
        } else if section == "tet" {
            numbers.extend(fields.map(|f| f.parse::<usize>().expect("gmsh element entry")));
        }
    }
    let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(
        errors.is_empty() && !numbers.is_empty() && numbers.len().is_multiple_of(11),
        "gmsh made no C3D10 mesh of {} ({} numbers in C3D10 sections):\n{}\n...\n{}",
        stl.display(),
        numbers.len(),
        errors.join("\n"),
        tail(&log)
    );
    let mut index = std::collections::BTreeMap::new();
    let tets: Vec<[usize; 10]> = numbers
        .chunks(11)
        .map(|row| {
            std::array::from_fn(|i| {
                let next = index.len();
                *index.entry(row[i + 1]).or_insert(next)
            })
        })
        .collect();
    let mut positions = vec![[0.0; 3]; index.len()];
    for (id, &n) in &index {
        positions[n] = *gmsh_nodes
            .get(id)
            .unwrap_or_else(|| panic!("gmsh node {id} is missing"));
    }
    (positions, tets)
}

/// Nodal displacements and, per element, the 6 stress components (xx, yy, zz, xy, xz, yz) of
/// its 4 integration points, from ccx's `.dat` file.
fn read_dat(dat: &str, nodes: usize, elements: usize) -> (Vec<[f64; 3]>, Vec<[[f64; 6]; 4]>) {
    let mut displacements = vec![[f64::NAN; 3]; nodes];
    let mut stresses = vec![[[f64::NAN; 6]; 4]; elements];
    let mut section = "";
    for line in dat.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.first() {
            None => {}
            Some(&"displacements") | Some(&"stresses") => section = fields[0],
            Some(_) if section == "displacements" => {
                let node: usize = fields[0].parse().expect("node number in judge.dat");
                displacements[node - 1] = std::array::from_fn(|i| fortran_number(fields[i + 1]));
            }
            Some(_) if section == "stresses" => {
                let element: usize = fields[0].parse().expect("element number in judge.dat");
                let point: usize = fields[1].parse().expect("point number in judge.dat");
                stresses[element - 1][point - 1] =
                    std::array::from_fn(|i| fortran_number(fields[i + 2]));
            }
            Some(_) => {}
        }
    }
    let complete = displacements.iter().flatten().all(|v| v.is_finite())
        && stresses.iter().flatten().flatten().all(|v| v.is_finite());
    assert!(
        complete,
        "judge.dat lacks a displacement or stress, or one is not finite"
    );
    (displacements, stresses)
}

/// A number as Fortran prints it: `1.5E-02`, or `1.5-102` when the exponent has three digits.
fn fortran_number(text: &str) -> f64 {
    text.parse().unwrap_or_else(|_| {
        let split = text.rfind(['+', '-']).filter(|&i| i > 0);
        let fixed = split.map(|i| format!("{}E{}", &text[..i], &text[i..]));
        fixed
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("{text:?} in judge.dat is no number"))
    })
}

/// Volume of the tetrahedron with these corners.
fn tet_volume([p0, p1, p2, p3]: [[f64; 3]; 4]) -> f64 {
    let d = |p: [f64; 3]| [p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]];
    let (u, v, w) = (d(p1), d(p2), d(p3));
    let cross = [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ];
    (cross[0] * w[0] + cross[1] * w[1] + cross[2] * w[2]).abs() / 6.0
}

/// A tool's stdout and stderr together.
fn log_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The last 40 lines of `log`.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
