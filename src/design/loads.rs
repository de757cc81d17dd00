//! Loads of a design file as nodal forces: point and distributed forces, pressure, torque and
//! self-weight.
//!
//! - `force_n`: the total force shared equally by the region's nodes.
//! - `pressure_mpa`: on a domain face (or a patch of one); each element face whose four nodes are
//!   selected carries `p·h²` along the inward normal, a quarter at each corner (the consistent
//!   load of a bilinear quad under uniform pressure).
//! - `torque_nmm`: nodal forces `fᵢ = T (a × rᵢ) / Σ|rᵢ|²`, with `rᵢ` the offset of node i from
//!   the axis: tangential, proportional to the radius, with moment exactly `T` about the axis and
//!   no net force when the axis passes through the nodes' centroid (the default).
//! - `gravity_m_s2`: self-weight, design-dependent; see [`crate::problem::LoadCase`].

use super::selection::RegionError;
use super::{LoadCaseSpec, LoadSpec};
use crate::grid::Grid;
use crate::problem::{LoadCase, Material};

/// What loads need to know about the rest of the design.
pub(super) struct LoadContext<'a> {
    pub grid: &'a Grid,
    pub fixed: &'a [bool],
    /// Per node: touches at least one element that is not kept empty.
    pub node_has_material: &'a [bool],
    pub material: &'a Material,
}

/// A load-case error: key path and message.
type KeyError = (String, String);

/// Turns a region into its nodes (and records it), given the key path it was found under.
pub(super) type SelectNodes<'a> =
    dyn FnMut(&super::Region, String) -> Result<Vec<usize>, KeyError> + 'a;

/// Builds every load case; `select` turns a region into its nodes (and records it).
pub(super) fn load_cases(
    specs: &[LoadCaseSpec],
    context: &LoadContext,
    select: &mut SelectNodes,
) -> Result<Vec<LoadCase>, KeyError> {
    if specs.is_empty() {
        return Err((
            "load_cases".into(),
            "at least one [[load_cases]] table is required".into(),
        ));
    }
    let grid = context.grid;
    let mut cases: Vec<LoadCase> = Vec::new();
    for (c, spec) in specs.iter().enumerate() {
        let key = format!("load_cases[{c}]");
        if spec.name.trim().is_empty() || cases.iter().any(|other| other.name == spec.name) {
            return Err((
                format!("{key}.name"),
                format!("{:?} must be a non-empty name used once", spec.name),
            ));
        }
        if !(spec.weight.is_finite() && spec.weight > 0.0) {
            return Err((
                format!("{key}.weight"),
                format!("{} must be positive", spec.weight),
            ));
        }
        for (field, value) in [
            ("max_compliance_nmm", spec.max_compliance_nmm),
            ("max_displacement_mm", spec.max_displacement_mm),
            ("min_safety_factor", spec.min_safety_factor),
        ] {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                return Err((format!("{key}.{field}"), format!("{v} must be positive")));
            }
        }
        let max_von_mises_mpa = match (spec.min_safety_factor, context.material.yield_strength_mpa)
        {
            (None, _) => None,
            (Some(factor), Some(yield_mpa)) => Some(yield_mpa / factor),
            (Some(_), None) => {
                return Err((
                    format!("{key}.min_safety_factor"),
                    "needs a material with a yield strength: set material.yield_strength_mpa or name a built-in material that has one (`formwerk materials`)".into(),
                ));
            }
        };
        if spec.loads.is_empty() {
            return Err((
                format!("{key}.loads"),
                "at least one [[load_cases.loads]] table is required".into(),
            ));
        }
        let mut forces_n = vec![0.0; grid.dof_count()];
        let mut self_weight_n: Option<[f64; 3]> = None;
        for (l, load) in spec.loads.iter().enumerate() {
            let key = format!("{key}.loads[{l}]");
            if let Some(g) = load.gravity_m_s2 {
                let weight =
                    self_weight(load, g, context).map_err(|(k, m)| (key.clone() + &k, m))?;
                let total = self_weight_n.get_or_insert([0.0; 3]);
                for a in 0..3 {
                    total[a] += weight[a];
                }
                continue;
            }
            let Some(region) = &load.region else {
                return Err((
                    format!("{key}.region"),
                    "is required for force_n, pressure_mpa and torque_nmm loads".into(),
                ));
            };
            let nodes = select(region, format!("{key}.region"))?;
            let mut load_forces = vec![0.0; grid.dof_count()];
            nodal_forces(load, &nodes, grid, &mut load_forces)
                .map_err(|(k, m)| (key.clone() + &k, m))?;
            check_load_acts(&nodes, &load_forces, context)
                .map_err(|m| (format!("{key}.region"), m))?;
            for (f, l) in forces_n.iter_mut().zip(&load_forces) {
                *f += l;
            }
        }
        cases.push(LoadCase {
            name: spec.name.clone(),
            weight: spec.weight,
            forces_n,
            self_weight_n,
            max_compliance_nmm: spec.max_compliance_nmm,
            max_displacement_mm: spec.max_displacement_mm,
            max_von_mises_mpa,
        });
    }
    Ok(cases)
}

/// Largest loads accepted. Far beyond any printed part (10¹² N is a hundred million tonnes), and
/// far inside double precision: compliance grows with the square of the load, so a force of
/// 10³⁰⁸ N overflows to infinity in the first solve.
const MAX_FORCE_N: f64 = 1e12;
/// See [`MAX_FORCE_N`]: a terapascal, a thousand times the strongest steel.
const MAX_PRESSURE_MPA: f64 = 1e6;
/// See [`MAX_FORCE_N`].
const MAX_TORQUE_NMM: f64 = 1e15;
/// See [`MAX_FORCE_N`]: 100,000 g.
const MAX_ACCELERATION_M_S2: f64 = 1e6;

/// The message for a load of `magnitude` above `limit` (in `unit`).
fn beyond(magnitude: f64, limit: f64, unit: &str) -> String {
    format!(
        "{magnitude:e} {unit} is more than {limit:e} {unit}, beyond any printed part and near where the solve would overflow double precision"
    )
}

/// Checks that exactly one load kind is given and fills `forces` for it.
fn nodal_forces(
    load: &LoadSpec,
    nodes: &[usize],
    grid: &Grid,
    forces: &mut [f64],
) -> Result<(), RegionError> {
    let kinds = [
        load.force_n.is_some(),
        load.pressure_mpa.is_some(),
        load.torque_nmm.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err((
            String::new(),
            "give exactly one of force_n, pressure_mpa, torque_nmm, gravity_m_s2".into(),
        ));
    }
    if load.torque_nmm.is_none() && (load.axis.is_some() || load.center_mm.is_some()) {
        return Err((
            ".axis".into(),
            "axis and center_mm belong to torque_nmm loads".into(),
        ));
    }
    if let Some(force) = load.force_n {
        if force.iter().any(|f| !f.is_finite()) || force == [0.0; 3] {
            return Err((
                ".force_n".into(),
                format!("{force:?} must be a finite, non-zero force in N"),
            ));
        }
        let magnitude = force.iter().fold(0.0, |m: f64, &f| m.hypot(f));
        if magnitude > MAX_FORCE_N {
            return Err((".force_n".into(), beyond(magnitude, MAX_FORCE_N, "N")));
        }
        for &n in nodes {
            for axis in 0..3 {
                forces[3 * n + axis] += force[axis] / nodes.len() as f64;
            }
        }
    } else if let Some(pressure) = load.pressure_mpa {
        if !(pressure.is_finite() && pressure != 0.0) {
            return Err((
                ".pressure_mpa".into(),
                format!("{pressure} must be a finite, non-zero pressure in MPa"),
            ));
        }
        if pressure.abs() > MAX_PRESSURE_MPA {
            return Err((
                ".pressure_mpa".into(),
                beyond(pressure.abs(), MAX_PRESSURE_MPA, "MPa"),
            ));
        }
        pressure_forces(pressure, nodes, grid, forces).map_err(|m| (".region".into(), m))?;
    } else if let Some(torque) = load.torque_nmm {
        if !(torque.is_finite() && torque != 0.0) {
            return Err((
                ".torque_nmm".into(),
                format!("{torque} must be a finite, non-zero torque in N·mm"),
            ));
        }
        if torque.abs() > MAX_TORQUE_NMM {
            return Err((
                ".torque_nmm".into(),
                beyond(torque.abs(), MAX_TORQUE_NMM, "N·mm"),
            ));
        }
        let axis = load.axis.ok_or_else(|| {
            (
                ".axis".to_string(),
                "a torque needs its axis direction, e.g. axis = [0, 0, 1]".to_string(),
            )
        })?;
        let norm = axis.iter().map(|a| a * a).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Err((
                ".axis".into(),
                format!("{axis:?} must be a finite, non-zero direction"),
            ));
        }
        if let Some(c) = load.center_mm
            && c.iter().any(|v| !v.is_finite())
        {
            return Err((
                ".center_mm".into(),
                format!("{c:?} must be three finite coordinates (mm)"),
            ));
        }
        torque_forces(
            torque,
            axis.map(|a| a / norm),
            load.center_mm,
            nodes,
            grid,
            forces,
        )
        .map_err(|m| (".region".into(), m))?;
    }
    Ok(())
}

/// Area-weighted pressure on the element faces of one domain face whose corners are all selected.
fn pressure_forces(
    pressure: f64,
    nodes: &[usize],
    grid: &Grid,
    forces: &mut [f64],
) -> Result<(), String> {
    let counts = grid.nodes_per_axis();
    // The domain face all selected nodes lie on.
    let face = (0..3)
        .flat_map(|axis| [(axis, 0), (axis, counts[axis] - 1)])
        .find(|&(axis, at)| nodes.iter().all(|&n| grid.node_coords(n)[axis] == at))
        .ok_or_else(|| {
            "pressure needs a region on one face of the domain (a face, or a flat box on one)"
                .to_string()
        })?;
    let (axis, at) = face;
    let mut selected = vec![false; grid.node_count()];
    for &n in nodes {
        selected[n] = true;
    }
    let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
    // Inward normal: +axis on the lower face, −axis on the upper one.
    let inward = if at == 0 { 1.0 } else { -1.0 };
    let quarter = 0.25 * pressure * grid.element_size_mm * grid.element_size_mm;
    let mut quads = 0;
    for a in 0..grid.elements[u] {
        for b in 0..grid.elements[v] {
            let corners = [(a, b), (a + 1, b), (a, b + 1), (a + 1, b + 1)].map(|(p, q)| {
                let mut c = [0; 3];
                c[axis] = at;
                c[u] = p;
                c[v] = q;
                grid.node_index(c)
            });
            if corners.iter().all(|&n| selected[n]) {
                quads += 1;
                for n in corners {
                    forces[3 * n + axis] += inward * quarter;
                }
            }
        }
    }
    if quads == 0 {
        return Err(
            "pressure needs at least one whole element face in the region; it selects only isolated nodes or lines"
                .into(),
        );
    }
    Ok(())
}

/// Tangential nodal forces ∝ radius whose moment about the axis is `torque`.
fn torque_forces(
    torque: f64,
    axis: [f64; 3],
    center: Option<[f64; 3]>,
    nodes: &[usize],
    grid: &Grid,
    forces: &mut [f64],
) -> Result<(), String> {
    let positions: Vec<[f64; 3]> = nodes.iter().map(|&n| grid.node_position_mm(n)).collect();
    let center = center.unwrap_or_else(|| {
        std::array::from_fn(|a| positions.iter().map(|p| p[a]).sum::<f64>() / nodes.len() as f64)
    });
    let offsets: Vec<[f64; 3]> = positions
        .iter()
        .map(|p| {
            let d: [f64; 3] = std::array::from_fn(|a| p[a] - center[a]);
            let along = d[0] * axis[0] + d[1] * axis[1] + d[2] * axis[2];
            std::array::from_fn(|a| d[a] - along * axis[a])
        })
        .collect();
    let polar: f64 = offsets
        .iter()
        .map(|r| r.iter().map(|x| x * x).sum::<f64>())
        .sum();
    if polar <= 1e-12 * grid.element_size_mm * grid.element_size_mm {
        return Err("every node of the region lies on the torque axis, so it cannot carry a torque; use a region around the axis".into());
    }
    let scale = torque / polar;
    for (&n, r) in nodes.iter().zip(&offsets) {
        let tangent = [
            axis[1] * r[2] - axis[2] * r[1],
            axis[2] * r[0] - axis[0] * r[2],
            axis[0] * r[1] - axis[1] * r[0],
        ];
        for a in 0..3 {
            forces[3 * n + a] += scale * tangent[a];
        }
    }
    Ok(())
}

/// Weight of one solid element under `g` (m/s²), in newtons.
fn self_weight(load: &LoadSpec, g: [f64; 3], context: &LoadContext) -> Result<[f64; 3], KeyError> {
    if load.region.is_some()
        || load.force_n.is_some()
        || load.pressure_mpa.is_some()
        || load.torque_nmm.is_some()
    {
        return Err((
            ".gravity_m_s2".into(),
            "gravity acts on the whole part: give it in a load of its own, without region or other load keys".into(),
        ));
    }
    if g.iter().any(|v| !v.is_finite()) || g == [0.0; 3] {
        return Err((
            ".gravity_m_s2".into(),
            format!("{g:?} must be a finite, non-zero acceleration in m/s²"),
        ));
    }
    let magnitude = g.iter().fold(0.0, |m: f64, &v| m.hypot(v));
    if magnitude > MAX_ACCELERATION_M_S2 {
        return Err((
            ".gravity_m_s2".into(),
            beyond(magnitude, MAX_ACCELERATION_M_S2, "m/s²"),
        ));
    }
    let Some(density) = context.material.density_g_cm3 else {
        return Err((
            ".gravity_m_s2".into(),
            "self-weight needs the material density: use a library material or set material.density_g_cm3".into(),
        ));
    };
    // g/cm³ · mm³ / 1000 = g; / 1000 = kg; · m/s² = N.
    let mass_kg = density * context.grid.element_volume_mm3() * 1e-6;
    Ok(g.map(|a| mass_kg * a))
}

/// A load must reach material: not only supported DOFs, not nodes inside keep-empty regions.
fn check_load_acts(nodes: &[usize], forces: &[f64], context: &LoadContext) -> Result<(), String> {
    let in_void = nodes
        .iter()
        .filter(|&&n| !context.node_has_material[n] && (0..3).any(|a| forces[3 * n + a] != 0.0))
        .count();
    if in_void > 0 {
        return Err(format!(
            "{in_void} loaded node(s) lie inside keep_empty regions, where there is no material to carry the load"
        ));
    }
    let free: f64 = forces
        .iter()
        .zip(context.fixed)
        .filter(|&(_, &fixed)| !fixed)
        .map(|(f, _)| f.abs())
        .sum();
    if free == 0.0 {
        return Err(
            "every loaded DOF is held by the supports, so the load would act on the supports only"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_is_area_weighted() {
        let grid = Grid::new([2, 3, 4], 2.0);
        let nodes: Vec<usize> = (0..grid.node_count())
            .filter(|&n| grid.node_coords(n)[2] == 4)
            .collect();
        let mut forces = vec![0.0; grid.dof_count()];
        pressure_forces(0.5, &nodes, &grid, &mut forces).expect("on a face");
        // Total = p · area = 0.5 · (4 · 6) = 12 N, pushing down (−z) into the part.
        let total: f64 = (0..grid.node_count()).map(|n| forces[3 * n + 2]).sum();
        assert!((total + 12.0).abs() < 1e-12, "{total}");
        // A corner node carries a quarter of one face, an interior node four quarters.
        let corner = grid.node_index([0, 0, 4]);
        let inner = grid.node_index([1, 1, 4]);
        assert!((forces[3 * corner + 2] + 0.5).abs() < 1e-12);
        assert!((forces[3 * inner + 2] + 2.0).abs() < 1e-12);
    }

    #[test]
    fn torque_has_the_right_moment_and_no_net_force() {
        let grid = Grid::new([4, 4, 2], 1.0);
        let nodes: Vec<usize> = (0..grid.node_count())
            .filter(|&n| grid.node_coords(n)[2] == 2)
            .collect();
        let mut forces = vec![0.0; grid.dof_count()];
        torque_forces(100.0, [0.0, 0.0, 1.0], None, &nodes, &grid, &mut forces).expect("ok");
        let (mut net, mut moment) = ([0.0; 3], 0.0);
        for &n in &nodes {
            let p = grid.node_position_mm(n);
            let f = [forces[3 * n], forces[3 * n + 1], forces[3 * n + 2]];
            for a in 0..3 {
                net[a] += f[a];
            }
            moment += (p[0] - 2.0) * f[1] - (p[1] - 2.0) * f[0];
            assert_eq!(f[2], 0.0);
        }
        assert!(net.iter().all(|f| f.abs() < 1e-12), "{net:?}");
        assert!((moment - 100.0).abs() < 1e-10, "{moment}");
        let on_axis = [grid.node_index([2, 2, 2])];
        assert!(torque_forces(1.0, [0.0, 0.0, 1.0], None, &on_axis, &grid, &mut forces).is_err());
    }
}
