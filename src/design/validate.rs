//! From a parsed [`Design`] to a validated [`Problem`]: units resolved, regions turned into node
//! sets, every value range-checked. Each error names the key path and what is allowed.

use std::path::Path;

use nalgebra::{SMatrix, SymmetricEigen};

use super::loads::{LoadContext, load_cases};
use super::selection::{Resolver, Shape};
use super::{
    Design, DesignError, MaterialSpec, ObjectiveKind, OptimizerKind, Region, SolverMethodKind,
};
use crate::fem::multigrid::level_count;
use crate::fem::{LinearSolver, MultigridParams, SolverMethod, SolverParams};
use crate::grid::Grid;
use crate::mesh::part::DEFAULT_CHORDAL_TOLERANCE_MM;
use crate::mesh::{KeptGeometry, OverhangLimit, PartParams};
use crate::printer::PrinterProfile;
use crate::problem::{
    ElementRole, Manufacturing, Material, Objective, OptimizationParams, Optimizer, Problem,
    RegionReport,
};

/// Finest chordal tolerance accepted, mm: a Ø100 mm bore then has about 3500 segments.
const MIN_CHORDAL_TOLERANCE_MM: f64 = 1e-4;

/// A region selecting more than this share of the domain's nodes or elements gets a warning.
const LARGE_SHARE: f64 = 0.5;

/// Regions of the design as they are turned into node and element sets, with their reports.
struct Regions {
    resolver: Resolver,
    reports: Vec<RegionReport>,
    warnings: Vec<String>,
}

impl Regions {
    /// The nodes of `region` (an error if none), recorded under `key`.
    fn nodes(
        &mut self,
        region: &Region,
        key: String,
        grid: &Grid,
    ) -> Result<Vec<usize>, (String, String)> {
        let flags = self.resolve(region, &key)?.nodes(grid);
        let nodes: Vec<usize> = (0..flags.len()).filter(|&n| flags[n]).collect();
        if nodes.is_empty() {
            return Err((
                key,
                format!(
                    "selects no node of the grid (domain {:?} mm, nodes every {} mm); regions are closed, so a flat box must lie on grid nodes",
                    grid.size_mm(),
                    grid.element_size_mm
                ),
            ));
        }
        // A point outside the domain still loads or holds its nearest node; say which.
        if let Region::PointMm(p) = region {
            let size = grid.size_mm();
            let margin = 1e-9 * grid.element_size_mm;
            if (0..3).any(|a| p[a] < -margin || p[a] > size[a] + margin) {
                self.warnings.push(format!(
                    "{key}: point_mm {p:?} lies outside the domain [0, {size:?}] mm; its nearest node, at {:?} mm, is used",
                    grid.node_position_mm(nodes[0])
                ));
            }
        }
        self.record(region, key, [nodes.len(), 0], grid.node_count());
        Ok(nodes)
    }

    /// The elements of `region`, recorded under `key`; selecting none is a warning.
    fn elements(
        &mut self,
        region: &Region,
        key: String,
        grid: &Grid,
    ) -> Result<Vec<bool>, (String, String)> {
        let elements = self.resolve(region, &key)?.elements(grid);
        let count = elements.iter().filter(|&&f| f).count();
        if count == 0 {
            self.warnings.push(format!(
                "{key} ({}) selects no element (an element belongs to a region when its centre lies inside)",
                region.describe()
            ));
        }
        self.record(region, key, [0, count], grid.element_count());
        Ok(elements)
    }

    fn resolve(&mut self, region: &Region, key: &str) -> Result<Shape, (String, String)> {
        self.resolver
            .resolve(region)
            .map_err(|(k, m)| (format!("{key}{k}"), m))
    }

    /// Records `[nodes, elements]` selected out of `total`, warning about a large share.
    fn record(
        &mut self,
        region: &Region,
        key: String,
        [nodes, elements]: [usize; 2],
        total: usize,
    ) {
        let share = (nodes + elements) as f64 / total as f64;
        if share > LARGE_SHARE {
            let what = if nodes > 0 { "nodes" } else { "elements" };
            self.warnings.push(format!(
                "{key} ({}) selects {:.0} % of all {what}; is that intended?",
                region.describe(),
                100.0 * share
            ));
        }
        self.reports.push(RegionReport {
            key,
            description: region.describe(),
            nodes,
            elements,
        });
    }
}

/// `x` as written by hand: plainly between 10⁻³ and 10⁶, else with an exponent (`1e300`, not
/// three hundred digits).
fn short(x: f64) -> String {
    if x == 0.0 || (1e-3..1e6).contains(&x.abs()) || !x.is_finite() {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Largest grid accepted (elements); beyond it memory, not patience, runs out.
const MAX_ELEMENTS: usize = 200_000_000;
/// Grids with more nodes than this are refused before anything is estimated: their DOF counts
/// would not fit the integers that count them, and no memory holds them (a petabyte at 1 byte
/// per node).
const MAX_NODES: f64 = 1e15;

impl Design {
    /// Checks the design and builds the problem; `file` names the design file in errors. A
    /// design whose run needs more memory than this machine has available is refused first,
    /// before anything of its grid's size is allocated ([`crate::memory`]).
    pub fn to_problem(&self, file: &Path) -> Result<Problem, DesignError> {
        self.to_problem_within(file, crate::memory::MemoryLimit::current(None).as_ref())
    }

    /// [`Self::to_problem`] with the memory the run may use given (`None`: no limit).
    pub fn to_problem_within(
        &self,
        file: &Path,
        limit: Option<&crate::memory::MemoryLimit>,
    ) -> Result<Problem, DesignError> {
        crate::memory::check_fits(self, file, limit)?;
        let invalid = |key: &str, message: String| DesignError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            message,
        };
        check_name(&self.name).map_err(|m| invalid("name", m))?;
        let grid = self.grid().map_err(|(key, m)| invalid(key, m))?;
        let material = self.material().map_err(|(key, m)| invalid(key, m))?;
        let base_dir = file.parent().unwrap_or(Path::new("."));
        let mut regions = Regions {
            resolver: Resolver::new(base_dir),
            reports: Vec::new(),
            warnings: Vec::new(),
        };
        let (mut element_roles, kept_geometry) = self
            .element_roles(&grid, &mut regions)
            .map_err(|(key, m)| invalid(&key, m))?;
        let node_has_material = node_has_material(&grid, &element_roles);
        let fixed_dofs = self
            .fixed_dofs(&grid, &mut regions, &node_has_material)
            .map_err(|(key, m)| invalid(&key, m))?;
        let context = LoadContext {
            grid: &grid,
            fixed: &fixed_dofs,
            node_has_material: &node_has_material,
            material: &material,
        };
        let load_cases = load_cases(&self.load_cases, &context, &mut |region, key| {
            regions.nodes(region, key, &grid)
        })
        .map_err(|(key, m)| invalid(&key, m))?;
        let min_stress = self.optimization.objective == ObjectiveKind::MinStress;
        keep_solid_at_stress_singularities(
            &grid,
            &fixed_dofs,
            &load_cases,
            min_stress,
            &mut element_roles,
        );
        let optimization = self
            .optimization(&grid, &material, &element_roles, &load_cases)
            .map_err(|(key, m)| invalid(key, m))?;
        let solver = self.solver(&grid).map_err(|(key, m)| invalid(key, m))?;
        let mut part = self.part().map_err(|(key, m)| invalid(key, m))?;
        let manufacturing = self
            .manufacturing(&optimization, &grid)
            .map_err(|(key, m)| invalid(key, m))?;
        part.overhang = manufacturing
            .build_direction
            .map(|direction| OverhangLimit {
                build_direction: direction.vector(),
                overhang_angle_deg: manufacturing.overhang_angle_deg,
            });
        Ok(Problem {
            name: self.name.clone(),
            grid,
            material,
            fixed_dofs,
            load_cases,
            optimization,
            solver,
            part,
            kept_geometry,
            formats: self.output.formats.clone(),
            vti_encoding: self.output.vti_encoding,
            manufacturing,
            element_roles,
            regions: regions.reports,
            warnings: regions.warnings,
        })
    }

    /// The printer profile of the `[printer]` table, if there is one.
    fn printer_profile(&self) -> Result<Option<PrinterProfile>, (&'static str, String)> {
        self.printer
            .as_ref()
            .map(|spec| PrinterProfile::from_keys(&spec.keys()))
            .transpose()
    }

    /// The minimum member size (mm) and the key that set it: `manufacturing.min_member_mm`,
    /// else the printer's thinnest wall when no filter radius is given and the wall spans at
    /// least two elements (below that the grid keeps members thicker than the wall anyway, and
    /// the robust projection cannot resolve it).
    fn min_member(
        &self,
        grid: &Grid,
    ) -> Result<Option<(f64, &'static str)>, (&'static str, String)> {
        if let Some(member) = self.manufacturing.min_member_mm {
            return Ok(Some((member, "manufacturing.min_member_mm")));
        }
        Ok(self.printer_profile()?.and_then(|printer| {
            (self.optimization.filter_radius_mm.is_none()
                && printer.min_wall_mm >= 2.0 * grid.element_size_mm)
                .then_some((printer.min_wall_mm, "printer.min_wall_mm"))
        }))
    }

    fn manufacturing(
        &self,
        optimization: &OptimizationParams,
        grid: &Grid,
    ) -> Result<Manufacturing, (&'static str, String)> {
        let m = &self.manufacturing;
        let printer = self.printer_profile()?;
        if printer.is_some() {
            if m.build_direction.is_some() {
                return Err((
                    "manufacturing.build_direction",
                    "cannot be given with a [printer] table: use printer.build_direction (and printer.overhang_control = false for a part without overhang control)".into(),
                ));
            }
            if m.overhang_angle_deg != super::default_overhang_angle() {
                return Err((
                    "manufacturing.overhang_angle_deg",
                    "cannot be given with a [printer] table: use printer.overhang_angle_deg".into(),
                ));
            }
        }
        let (build_direction, overhang_angle_deg, angle_key) = match &printer {
            Some(p) => (
                p.overhang_control.then_some(p.build_direction),
                p.overhang_angle_deg,
                "printer.overhang_angle_deg",
            ),
            None => (
                m.build_direction,
                m.overhang_angle_deg,
                "manufacturing.overhang_angle_deg",
            ),
        };
        // The AM filter's support regions make 45° (one element out per layer) and 63.4° (one per
        // two layers) the angles the voxel grid can express. A printer without overhang control
        // only judges the part, at any angle its own check allowed.
        let steep = 2f64.atan().to_degrees();
        let controlled = printer.is_none() || build_direction.is_some();
        if controlled && !(overhang_angle_deg > 0.0 && overhang_angle_deg <= steep + 0.05) {
            return Err((
                angle_key,
                format!(
                    "{overhang_angle_deg} must lie in (0, 63.4]: overhang control works on the voxel grid, whose angles are 45° and 63.4°"
                ),
            ));
        }
        let layers_per_step = match m.design_overhang_angle_deg {
            None if overhang_angle_deg <= 45.0 => 1,
            None => 2,
            Some(45.0) => 1,
            Some(angle) if (angle - steep).abs() <= 0.05 => 2,
            Some(angle) => {
                return Err((
                    "manufacturing.design_overhang_angle_deg",
                    format!(
                        "{angle} is not a grid angle: use 45 (one element per layer) or 63.4 (one element per two layers)"
                    ),
                ));
            }
        };
        let design_angle = if layers_per_step == 1 { 45.0 } else { steep };
        if controlled && design_angle + 0.05 < overhang_angle_deg {
            return Err((
                "manufacturing.design_overhang_angle_deg",
                format!(
                    "{design_angle:.1} is flatter than {angle_key} = {overhang_angle_deg}: the part would need support"
                ),
            ));
        }
        if let Some(direction) = build_direction
            && optimization.symmetry[direction.axis()]
        {
            return Err((
                if printer.is_some() {
                    "printer.build_direction"
                } else {
                    "manufacturing.build_direction"
                },
                format!(
                    "{direction} conflicts with optimization.symmetry: a part printed along an axis cannot be mirror-symmetric across that axis's mid-plane"
                ),
            ));
        }
        Ok(Manufacturing {
            build_direction,
            overhang_angle_deg,
            layers_per_step,
            min_member_mm: self.min_member(grid)?.map(|(member, _)| member),
            printer,
        })
    }

    /// The filter radius that gives the minimum member size `member` (mm), checked against
    /// the grid and `optimization.filter_radius_mm`.
    fn member_filter_radius(
        &self,
        (member, key): (f64, &'static str),
        grid: &Grid,
    ) -> Result<f64, (&'static str, String)> {
        let h = grid.element_size_mm;
        if !(member.is_finite() && member > 0.0) {
            return Err((key, format!("{member} must be a positive length in mm")));
        }
        // Below two elements the projected members are one voxel wide and the grid, not the
        // projection, decides their size.
        if member < 2.0 * h {
            return Err((
                key,
                format!(
                    "{member} mm is less than two elements ({} mm): refine the grid (domain.element_size_mm) or raise it",
                    2.0 * h
                ),
            ));
        }
        let smallest_side = grid
            .elements
            .iter()
            .map(|&count| count as f64 * h)
            .fold(f64::INFINITY, f64::min);
        if member > smallest_side / 2.0 {
            return Err((
                key,
                format!(
                    "{member} mm is more than half the domain's smallest side ({smallest_side} mm)"
                ),
            ));
        }
        if let Some(radius) = self.optimization.filter_radius_mm {
            return Err((
                "optimization.filter_radius_mm",
                format!(
                    "{radius} cannot be given with manufacturing.min_member_mm, which sets the filter radius to min_member_mm / {} ({} mm here)",
                    crate::filters::projection::MEMBER_SIZE_PER_FILTER_RADIUS,
                    crate::filters::projection::filter_radius_for_member(member)
                ),
            ));
        }
        Ok(crate::filters::projection::filter_radius_for_member(member))
    }

    fn part(&self) -> Result<PartParams, (&'static str, String)> {
        let o = &self.output;
        if let Some(t) = o.threshold
            && !(t > 0.0 && t < 1.0)
        {
            return Err(("output.threshold", format!("{t} must lie in (0, 1)")));
        }
        if o.smoothing_iterations > 100 {
            return Err((
                "output.smoothing_iterations",
                format!("{} must lie in [0, 100]", o.smoothing_iterations),
            ));
        }
        if o.formats.is_empty() {
            return Err((
                "output.formats",
                "list at least one of \"stl\", \"3mf\"".into(),
            ));
        }
        if let Some(n) = o.max_triangles
            && n < 100
        {
            return Err(("output.max_triangles", format!("{n} must be at least 100")));
        }
        let chordal_tolerance_mm = o
            .chordal_tolerance_mm
            .unwrap_or(DEFAULT_CHORDAL_TOLERANCE_MM);
        if !(MIN_CHORDAL_TOLERANCE_MM..=1.0).contains(&chordal_tolerance_mm) {
            return Err((
                "output.chordal_tolerance_mm",
                format!("{chordal_tolerance_mm} must lie in [{MIN_CHORDAL_TOLERANCE_MM}, 1] mm"),
            ));
        }
        Ok(PartParams {
            threshold: o.threshold,
            smoothing_iterations: o.smoothing_iterations,
            max_triangles: o.max_triangles,
            overhang: None,
            chordal_tolerance_mm,
        })
    }

    fn solver(&self, grid: &Grid) -> Result<SolverParams, (&'static str, String)> {
        let s = &self.solver;
        if let Some(t) = s.tolerance
            && !(t > 0.0 && t < 1.0)
        {
            return Err(("solver.tolerance", format!("{t} must lie in (0, 1)")));
        }
        if s.max_iterations == 0 {
            return Err(("solver.max_iterations", "must be at least 1".into()));
        }
        let multigrid = MultigridParams {
            levels: s.levels,
            ..MultigridParams::default()
        };
        if let Some(levels) = s.levels {
            let possible = level_count(
                grid,
                &MultigridParams {
                    levels: Some(usize::MAX),
                    ..multigrid
                },
            );
            if levels < 2 || levels > possible {
                return Err((
                    "solver.levels",
                    format!(
                        "{levels} must lie in [2, {possible}]: {:?} elements can be halved {} time(s) while every axis keeps at least two elements",
                        grid.elements,
                        possible - 1
                    ),
                ));
            }
        }
        let method = match s.method {
            SolverMethodKind::Auto => SolverMethod::Auto,
            SolverMethodKind::Direct => SolverMethod::Direct,
            SolverMethodKind::Multigrid => SolverMethod::Multigrid,
        };
        Ok(SolverParams {
            method,
            tolerance: s.tolerance,
            max_iterations: s.max_iterations,
            multigrid,
        })
    }

    /// The grid of the `[domain]`, however large (a [`Grid`] holds only its sizes).
    fn grid_of_any_size(&self) -> Result<Grid, (&'static str, String)> {
        let d = &self.domain;
        if d.size_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err((
                "domain.size_mm",
                format!("{:?} must be three positive sizes in mm", d.size_mm),
            ));
        }
        let (elements, h) = match (d.element_size_mm, d.elements) {
            (Some(_), Some(_)) | (None, None) => {
                return Err((
                    "domain",
                    "give exactly one of `element_size_mm` and `elements`".into(),
                ));
            }
            (Some(h), None) => {
                if !(h.is_finite() && h > 0.0) {
                    return Err((
                        "domain.element_size_mm",
                        format!("{h} must be a positive size in mm"),
                    ));
                }
                let counts = d.size_mm.map(|s| (s / h).round());
                for axis in 0..3 {
                    if counts[axis] < 1.0
                        || (counts[axis] * h - d.size_mm[axis]).abs() > 1e-6 * d.size_mm[axis]
                    {
                        return Err((
                            "domain.element_size_mm",
                            format!(
                                "{h} mm does not divide the domain size {} mm along {} into whole elements",
                                d.size_mm[axis],
                                ["x", "y", "z"][axis]
                            ),
                        ));
                    }
                }
                if counts.iter().map(|c| c + 1.0).product::<f64>() > MAX_NODES {
                    return Err((
                        "domain.element_size_mm",
                        format!("{h} mm gives {counts:?} elements, far more than any memory holds"),
                    ));
                }
                (counts.map(|c| c as usize), h)
            }
            (None, Some(elements)) => {
                if elements.contains(&0) {
                    return Err((
                        "domain.elements",
                        format!("{elements:?} must be three counts ≥ 1"),
                    ));
                }
                if elements.iter().map(|&c| c as f64 + 1.0).product::<f64>() > MAX_NODES {
                    return Err((
                        "domain.elements",
                        format!("{elements:?} is far more elements than any memory holds"),
                    ));
                }
                let sizes: Vec<f64> = (0..3).map(|a| d.size_mm[a] / elements[a] as f64).collect();
                if sizes.iter().any(|s| (s - sizes[0]).abs() > 1e-9 * sizes[0]) {
                    return Err((
                        "domain.elements",
                        format!("voxels must be cubic, but size_mm / elements gives {sizes:?} mm"),
                    ));
                }
                (elements, sizes[0])
            }
        };
        Ok(Grid::new(elements, h))
    }

    /// The grid, no larger than [`MAX_ELEMENTS`].
    fn grid(&self) -> Result<Grid, (&'static str, String)> {
        let grid = self.grid_of_any_size()?;
        let elements = grid.elements;
        let count = elements
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if count.is_none_or(|c| c > MAX_ELEMENTS) {
            return Err((
                "domain",
                format!("{elements:?} elements is more than the {MAX_ELEMENTS} allowed"),
            ));
        }
        Ok(grid)
    }

    /// The grid's element counts and total, e.g. `[100, 50, 50] = 250000`, for messages.
    pub fn grid_description(&self) -> String {
        match self.grid_of_any_size() {
            Ok(grid) => format!("{:?} = {}", grid.elements, grid.element_count()),
            Err(_) => "its".into(),
        }
    }

    /// Bytes a run of this design needs at its peak, estimated from its sizes alone, without
    /// allocating anything of the grid's size: the linear solver with its vectors
    /// ([`LinearSolver::planned_memory_bytes`]), about 12 element fields, and MMA's 13 more
    /// when it is the update.
    pub fn planned_memory_bytes(&self, file: &Path) -> Result<f64, DesignError> {
        let invalid = |(key, message): (&str, String)| DesignError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let grid = self.grid_of_any_size().map_err(invalid)?;
        let solver = self.solver(&grid).map_err(invalid)?;
        let mma = self.uses_mma(self.min_member(&grid).map_err(invalid)?.is_some());
        let n = grid.element_count() as f64;
        Ok(
            LinearSolver::planned_memory_bytes(&grid, self.load_cases.len().max(1), &solver)
                + if mma { 13.0 * 8.0 * n } else { 0.0 },
        )
    }

    fn material(&self) -> Result<Material, (&'static str, String)> {
        let m = match &self.material {
            MaterialSpec::Named(name) => {
                let Some(entry) = crate::materials::find(name) else {
                    return Err((
                        "material",
                        format!(
                            "{name:?} is not a built-in material; {}use one of {} (see `formwerk materials`) or a table with youngs_modulus_mpa and poisson_ratio",
                            crate::design::error::did_you_mean(
                                name,
                                &crate::materials::LIBRARY
                                    .iter()
                                    .map(|m| m.name)
                                    .collect::<Vec<_>>()
                            )
                            .map_or(String::new(), |close| format!("did you mean {close:?}? ")),
                            crate::materials::names()
                        ),
                    ));
                };
                return Ok(Material {
                    name: Some(entry.name.to_string()),
                    youngs_modulus_mpa: entry.youngs_modulus_mpa,
                    poisson_ratio: entry.poisson_ratio,
                    density_g_cm3: Some(entry.density_g_cm3),
                    yield_strength_mpa: Some(entry.yield_strength_mpa),
                });
            }
            MaterialSpec::Custom(custom) => custom,
        };
        // Bounds far beyond any solid (1 Pa to 1000 × diamond's modulus; 100 g/cm³, four times
        // osmium's density), so that a typo is named here instead of overflowing the solve.
        let (e_min, e_max) = (1e-6, 1e9);
        if !(m.youngs_modulus_mpa >= e_min && m.youngs_modulus_mpa <= e_max) {
            return Err((
                "material.youngs_modulus_mpa",
                format!(
                    "{} must lie in [{e_min:e}, {e_max:e}] MPa",
                    short(m.youngs_modulus_mpa)
                ),
            ));
        }
        if !(m.poisson_ratio > -1.0 && m.poisson_ratio < 0.5) {
            return Err((
                "material.poisson_ratio",
                format!("{} must lie in (-1, 0.5)", m.poisson_ratio),
            ));
        }
        if let Some(rho) = m.density_g_cm3
            && !(rho > 0.0 && rho <= 100.0)
        {
            return Err((
                "material.density_g_cm3",
                format!("{} must lie in (0, 100] g/cm³", short(rho)),
            ));
        }
        if let Some(y) = m.yield_strength_mpa
            && !(y > 0.0 && y <= e_max)
        {
            return Err((
                "material.yield_strength_mpa",
                format!("{} must lie in (0, {e_max:e}] MPa", short(y)),
            ));
        }
        Ok(Material {
            name: m.name.clone(),
            youngs_modulus_mpa: m.youngs_modulus_mpa,
            poisson_ratio: m.poisson_ratio,
            density_g_cm3: m.density_g_cm3,
            yield_strength_mpa: m.yield_strength_mpa,
        })
    }

    /// Design, keep-solid or keep-empty per element; keep-empty wins where both select.
    /// With it, the kept regions that have an exact form ([`Shape::exact`]) and the elements
    /// they hold.
    fn element_roles(
        &self,
        grid: &Grid,
        regions: &mut Regions,
    ) -> Result<(Vec<ElementRole>, KeptGeometry), (String, String)> {
        let mut roles = vec![ElementRole::Design; grid.element_count()];
        let mut kept = KeptGeometry::default();
        let mut held = vec![false; grid.element_count()];
        for (list, name, role) in [
            (&self.keep_solid, "keep_solid", ElementRole::Solid),
            (&self.keep_empty, "keep_empty", ElementRole::Empty),
        ] {
            for (i, keep) in list.iter().enumerate() {
                let key = format!("{name}[{i}].region");
                let exact = regions.resolve(&keep.region, &key)?.exact(grid);
                let selected = regions.elements(&keep.region, key, grid)?;
                for ((r, h), s) in roles.iter_mut().zip(&mut held).zip(selected) {
                    if s {
                        *r = role;
                        // A voxel-only region selecting it later takes it back.
                        *h = exact.is_some();
                    }
                }
                if let Some(shape) = exact {
                    match role {
                        ElementRole::Empty => kept.empty.push(shape),
                        _ => kept.solid.push(shape),
                    }
                }
            }
        }
        if !kept.is_empty() {
            kept.solid_elements = (roles.iter().zip(&held))
                .map(|(&r, &h)| h && r == ElementRole::Solid)
                .collect();
            kept.held_elements = held;
        }
        if !roles.contains(&ElementRole::Design) {
            let (key, message) = match (self.keep_solid.is_empty(), self.keep_empty.is_empty()) {
                (true, _) => (
                    "keep_empty",
                    "keep_empty covers the whole domain, leaving nothing to optimize",
                ),
                (_, true) => (
                    "keep_solid",
                    "keep_solid covers the whole domain, leaving nothing to optimize",
                ),
                _ => (
                    "keep_solid",
                    "keep_solid and keep_empty together cover the whole domain, leaving nothing to optimize",
                ),
            };
            return Err((key.into(), message.into()));
        }
        Ok((roles, kept))
    }

    fn fixed_dofs(
        &self,
        grid: &Grid,
        regions: &mut Regions,
        node_has_material: &[bool],
    ) -> Result<Vec<bool>, (String, String)> {
        if self.supports.is_empty() {
            return Err((
                "supports".into(),
                "at least one [[supports]] table is required".into(),
            ));
        }
        let mut fixed = vec![false; grid.dof_count()];
        for (i, support) in self.supports.iter().enumerate() {
            let key = format!("supports[{i}]");
            if support.fixed.is_empty() {
                return Err((
                    format!("{key}.fixed"),
                    "list at least one of \"x\", \"y\", \"z\"".into(),
                ));
            }
            let nodes = regions.nodes(&support.region, format!("{key}.region"), grid)?;
            if nodes.iter().all(|&n| !node_has_material[n]) {
                return Err((
                    format!("{key}.region"),
                    "lies inside keep_empty regions, where there is no material to hold".into(),
                ));
            }
            for node in nodes {
                for axis in &support.fixed {
                    fixed[3 * node + axis.index()] = true;
                }
            }
        }
        if let Some(free) = free_rigid_body_motions(grid, &fixed) {
            return Err((
                "supports".into(),
                format!(
                    "the supports do not prevent rigid-body motion ({free} is free); hold more nodes or directions"
                ),
            ));
        }
        Ok(fixed)
    }

    /// Whether the update is MMA: when asked for, and by default for `min_mass` and with a
    /// minimum member size (OC's heuristic step loses the eroded design's connectivity at sharp
    /// projections, β = 32, now and then; MMA follows the projection steadily).
    fn uses_mma(&self, min_member: bool) -> bool {
        match self.optimization.optimizer {
            Some(kind) => kind == OptimizerKind::Mma,
            None => self.optimization.objective == ObjectiveKind::MinMass || min_member,
        }
    }

    fn optimization(
        &self,
        grid: &Grid,
        material: &Material,
        roles: &[ElementRole],
        cases: &[crate::problem::LoadCase],
    ) -> Result<OptimizationParams, (&'static str, String)> {
        let o = &self.optimization;
        let objective = match o.objective {
            ObjectiveKind::MinCompliance => Objective::MinCompliance,
            ObjectiveKind::MinMass => Objective::MinMass,
            ObjectiveKind::MinStress => Objective::MinStress,
        };
        if objective == Objective::MinStress
            && let Some(i) = cases.iter().position(|c| c.max_von_mises_mpa.is_some())
        {
            return Err((
                "optimization.objective",
                format!(
                    "\"min_stress\" minimises the stress itself; remove min_safety_factor from load case {:?}, or use \"min_mass\"",
                    cases[i].name
                ),
            ));
        }
        let limited = cases.iter().any(|c| {
            c.max_compliance_nmm.is_some()
                || c.max_displacement_mm.is_some()
                || c.max_von_mises_mpa.is_some()
        });
        // (A `min_stress` design with a safety factor was refused above, with its own advice.)
        if objective != Objective::MinMass && limited {
            return Err((
                "optimization.objective",
                "max_compliance_nmm, max_displacement_mm and min_safety_factor are constraints of objective = \"min_mass\"".into(),
            ));
        }
        if objective == Objective::MinMass && !limited {
            return Err((
                "optimization.objective",
                "\"min_mass\" needs max_compliance_nmm, max_displacement_mm or min_safety_factor on at least one load case".into(),
            ));
        }
        let volume_fraction = match (objective, o.volume_fraction, o.mass_target_g) {
            (_, Some(_), Some(_)) => {
                return Err((
                    "optimization",
                    "give one of volume_fraction and mass_target_g, not both".into(),
                ));
            }
            (Objective::MinMass, _, Some(_)) => {
                return Err((
                    "optimization.mass_target_g",
                    "\"min_mass\" finds the mass itself; remove mass_target_g".into(),
                ));
            }
            // A stress limit starts from the full design, which meets it where any design does:
            // from a uniform grey one, every element is under-stiff and over-stressed and MMA
            // first trades the limit for mass.
            (Objective::MinMass, fraction, None) => {
                fraction.unwrap_or(if cases.iter().any(|c| c.max_von_mises_mpa.is_some()) {
                    1.0
                } else {
                    0.5
                })
            }
            (Objective::MinCompliance | Objective::MinStress, Some(fraction), None) => fraction,
            (Objective::MinCompliance | Objective::MinStress, None, Some(mass)) => {
                mass_target_fraction(mass, grid, material, roles)
                    .map_err(|m| ("optimization.mass_target_g", m))?
            }
            (Objective::MinCompliance | Objective::MinStress, None, None) => {
                return Err((
                    "optimization",
                    "give volume_fraction (share of the design space, 0 to 1) or mass_target_g"
                        .into(),
                ));
            }
        };
        if !(volume_fraction > 0.0 && volume_fraction <= 1.0) {
            return Err((
                "optimization.volume_fraction",
                format!("{volume_fraction} must lie in (0, 1]"),
            ));
        }
        let mut symmetry = [false; 3];
        for axis in &o.symmetry {
            if std::mem::replace(&mut symmetry[axis.index()], true) {
                return Err((
                    "optimization.symmetry",
                    format!("{:?} lists an axis twice", o.symmetry),
                ));
            }
        }
        if !(1.0..=10.0).contains(&o.penalization) {
            return Err((
                "optimization.penalization",
                format!("{} must lie in [1, 10]", o.penalization),
            ));
        }
        let min_member = self.min_member(grid)?;
        let filter_radius_mm = match min_member {
            Some(member) => self.member_filter_radius(member, grid)?,
            None => o.filter_radius_mm.unwrap_or(1.5 * grid.element_size_mm),
        };
        if !(filter_radius_mm.is_finite() && filter_radius_mm > 0.0) {
            return Err((
                "optimization.filter_radius_mm",
                format!("{filter_radius_mm} must be a positive radius in mm"),
            ));
        }
        let stressed = objective == Objective::MinStress
            || cases.iter().any(|c| c.max_von_mises_mpa.is_some());
        // A stress limit is a steep function of the layout: MMA's steps of 0.2 empty a load path
        // before the next solve sees it (the L-bracket example collapsed to void within three
        // iterations); 0.05 follows it (the limit tracked within 1 % from iteration 40).
        let move_limit = o.move_limit.unwrap_or(if stressed { 0.05 } else { 0.2 });
        if !(move_limit > 0.0 && move_limit <= 1.0) {
            return Err((
                "optimization.move_limit",
                format!("{move_limit} must lie in (0, 1]"),
            ));
        }
        if o.max_iterations == 0 {
            return Err(("optimization.max_iterations", "must be at least 1".into()));
        }
        if !(o.change_tolerance >= 0.0 && o.change_tolerance < 1.0) {
            return Err((
                "optimization.change_tolerance",
                format!("{} must lie in [0, 1)", o.change_tolerance),
            ));
        }
        let optimizer = match (o.optimizer, objective) {
            (Some(OptimizerKind::Oc), Objective::MinMass) => {
                return Err((
                    "optimization.optimizer",
                    "\"oc\" handles one volume constraint only; \"min_mass\" needs \"mma\"".into(),
                ));
            }
            _ if self.uses_mma(min_member.is_some()) => Optimizer::Mma { move_limit },
            (Some(OptimizerKind::Oc), Objective::MinStress) => {
                return Err((
                    "optimization.optimizer",
                    "\"oc\" handles compliance only; \"min_stress\" needs \"mma\"".into(),
                ));
            }
            (None, Objective::MinStress) => Optimizer::Mma { move_limit },
            _ => Optimizer::Oc { move_limit },
        };
        Ok(OptimizationParams {
            objective,
            volume_fraction,
            symmetry,
            penalization: o.penalization,
            filter_radius_mm,
            optimizer,
            max_iterations: o.max_iterations,
            change_tolerance: o.change_tolerance,
            min_stiffness_ratio: 1e-9,
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be non-empty and use only letters, digits, '-', '_' and '.' (it names the output folder)"
        ))
    }
}

/// The volume fraction of the design elements that gives a part of `mass_g` grams, counting the
/// keep-solid elements as full.
fn mass_target_fraction(
    mass_g: f64,
    grid: &Grid,
    material: &Material,
    roles: &[ElementRole],
) -> Result<f64, String> {
    let Some(density) = material.density_g_cm3 else {
        return Err(
            "needs the material density: use a library material or set material.density_g_cm3"
                .into(),
        );
    };
    if !(mass_g.is_finite() && mass_g > 0.0) {
        return Err(format!("{mass_g} must be a positive mass in grams"));
    }
    let element_mass_g = density * grid.element_volume_mm3() / 1000.0;
    let solid = roles.iter().filter(|&&r| r == ElementRole::Solid).count() as f64;
    let design = roles.iter().filter(|&&r| r == ElementRole::Design).count() as f64;
    let fraction = (mass_g / element_mass_g - solid) / design;
    if fraction > 0.0 && fraction <= 1.0 {
        Ok(fraction)
    } else {
        Err(format!(
            "{mass_g} g must lie between the keep-solid mass {:.1} g and the full part {:.1} g",
            solid * element_mass_g,
            (solid + design) * element_mass_g
        ))
    }
}

/// Where a case limits the stress (or the objective is the stress), the elements touching its loaded nodes and the supported ones
/// are kept solid (unless kept empty). Their stress is left out of the limit (it is singular
/// there, [`Problem::elements_at_loads_and_supports`]), so nothing else would stop the optimizer
/// from emptying them and leaving the load on void; stress-constrained designs keep such
/// non-design patches at loads and supports for the same reason (Le et al. 2010, "Stress-based
/// topology optimization for continua", SMO 41, §5).
fn keep_solid_at_stress_singularities(
    grid: &Grid,
    fixed_dofs: &[bool],
    load_cases: &[crate::problem::LoadCase],
    min_stress: bool,
    roles: &mut [ElementRole],
) {
    for case in load_cases
        .iter()
        .filter(|c| min_stress || c.max_von_mises_mpa.is_some())
    {
        let at_loads = crate::problem::elements_at_loads_and_supports(grid, fixed_dofs, case);
        for (role, at) in roles.iter_mut().zip(at_loads) {
            if at && *role == ElementRole::Design {
                *role = ElementRole::Solid;
            }
        }
    }
}

/// Per node: whether it touches an element that is not kept empty.
fn node_has_material(grid: &Grid, roles: &[ElementRole]) -> Vec<bool> {
    let mut flags = vec![false; grid.node_count()];
    for e in (0..grid.element_count()).filter(|&e| roles[e] != ElementRole::Empty) {
        for n in grid.element_nodes(grid.element_coords(e)) {
            flags[n] = true;
        }
    }
    flags
}

/// Names a rigid-body motion that the fixed DOFs leave free, if any.
///
/// The six rigid modes (3 translations, 3 rotations about the domain centre) are all blocked iff
/// the 6×6 Gram matrix of their values on the fixed DOFs is non-singular.
fn free_rigid_body_motions(grid: &Grid, fixed: &[bool]) -> Option<&'static str> {
    let size = grid.size_mm();
    let scale = size.iter().copied().fold(0.0, f64::max);
    let mut gram = SMatrix::<f64, 6, 6>::zeros();
    for dof in (0..fixed.len()).filter(|&d| fixed[d]) {
        let p = grid.node_position_mm(dof / 3);
        let q: [f64; 3] = std::array::from_fn(|a| (p[a] - 0.5 * size[a]) / scale);
        let axis = dof % 3;
        let mut m = SMatrix::<f64, 6, 1>::zeros();
        m[axis] = 1.0;
        // Rotation about x: (0, −z, y); about y: (z, 0, −x); about z: (−y, x, 0).
        let rotations = [[0.0, -q[2], q[1]], [q[2], 0.0, -q[0]], [-q[1], q[0], 0.0]];
        for (r, rotation) in rotations.iter().enumerate() {
            m[3 + r] = rotation[axis];
        }
        gram += m * m.transpose();
    }
    let eigen = SymmetricEigen::new(gram);
    let largest = eigen.eigenvalues.max();
    let (index, smallest) = eigen.eigenvalues.argmin();
    if largest > 0.0 && smallest > 1e-10 * largest {
        return None;
    }
    let mode = eigen.eigenvectors.column(index).iamax();
    Some(
        [
            "translation along x",
            "translation along y",
            "translation along z",
            "rotation about x",
            "rotation about y",
            "rotation about z",
        ][mode],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clamp(grid: &Grid, select: impl Fn([usize; 3], usize) -> bool) -> Vec<bool> {
        (0..grid.dof_count())
            .map(|d| select(grid.node_coords(d / 3), d % 3))
            .collect()
    }

    #[test]
    fn rigid_body_check() {
        let grid = Grid::new([4, 2, 2], 1.0);
        assert_eq!(
            free_rigid_body_motions(&grid, &clamp(&grid, |n, _| n[0] == 0)),
            None
        );
        // Only x held on x = 0: free to slide along y and z.
        assert!(
            free_rigid_body_motions(&grid, &clamp(&grid, |n, a| n[0] == 0 && a == 0)).is_some()
        );
        // One node fully held: free to rotate about it.
        let one = free_rigid_body_motions(&grid, &clamp(&grid, |n, _| n == [0, 0, 0]));
        assert!(one.is_some_and(|m| m.starts_with("rotation")), "{one:?}");
        // MBB: symmetry on x = 0 and z = 0, roller line at the far bottom edge.
        let mbb = clamp(&grid, |n, a| {
            (n[0] == 0 && a == 0) || (n[2] == 0 && a == 2) || (n[0] == 4 && n[1] == 0 && a == 1)
        });
        assert_eq!(free_rigid_body_motions(&grid, &mbb), None);
    }
}
